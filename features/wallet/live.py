"""The wallet's part of the live pages: the header's balance pill, sent again whenever the owner's
wallet changes (a pack credited or taken back, an unlock, a tip, a refund) — in every open tab, not
only the one that made the change."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from core.events import Event, LiveFragment
from features.ledger.model import WALLET_CHANGED_EVENT
from features.wallet.service import WalletService

PILL = "wallet/_balance_pill.html"


class WalletPill:
    """A `LivePart` (core/live.py): for each `wallet_changed` event of the owner's topic, the pill
    with the balance as it is now (htmx swaps it by id). The stream only ever hands a person the
    events of their own topic, so the balance shown is always the viewer's own."""

    def __init__(self, wallet: WalletService) -> None:
        self.wallet = wallet

    async def fragments(self, owner_id: UUID, event: Event) -> Sequence[LiveFragment]:
        if event.name != WALLET_CHANGED_EVENT:
            return []
        return [LiveFragment(PILL, {"balance": await self.wallet.balance(owner_id)})]
