"""Piccolo tables of preferences (only adapters import them); they describe migrations/0710_preferences.sql.

PostgreSQL keys `favourites` on (viewer_id, video_id); Piccolo has no composite keys, so the class
names the key's first column its primary key, and queries always filter on the whole key.
"""

from __future__ import annotations

from piccolo.columns import UUID, Timestamptz
from piccolo.table import Table


class FavouriteTable(Table, tablename="favourites"):
    """A video a viewer saved; key (viewer_id, video_id)."""

    viewer_id = UUID(primary_key=True)
    video_id = UUID()
    creator_id = UUID()
    created_at = Timestamptz()
