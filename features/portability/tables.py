"""Piccolo tables of portability (only adapters import them); they describe migrations/2000_portability.sql."""

from __future__ import annotations

from piccolo.columns import UUID, Text, Timestamptz
from piccolo.table import Table


class IpfsDirectoryTable(Table, tablename="ipfs_directories"):
    """A video's IPFS directory root and the fingerprint of what it was computed from."""

    video_id = UUID(primary_key=True)
    source_digest = Text()
    root_cid = Text()
    computed_at = Timestamptz()
