"""What a one-click sale costs in PostgreSQL does not grow with the history (issue 16, item 3).

A pooled connection keeps the plans of the sale's functions (`unlock_begin_purchase`,
`unlock_record_sale`, `ledger_post_transfer`, and the foreign-key checks they fire) for as long as it
lives. Planned while the tables were small — a new install, or right after `VACUUM ANALYZE` of a
fresh database — a keyed lookup is cheapest as a sequential scan, and PostgreSQL kept that plan while
the ledger, the purchases and the entitlements grew (nothing re-plans it until the table is analyzed
again, and on a server without autovacuum never): each click read every transfer, entitlement and
account row, and got slower with every sale. The functions now plan their lookups on the indexes
whatever the tables' size (migrations/2500_hot_path_index_plans.sql).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from injector import Injector

from core.clock import SystemClock
from core.db import Database, bind_tables
from core.settings import Settings
from features.ledger.adapters import PostgresLedgerRepository
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.unlocks.adapters import PostgresUnlockRepository
from features.unlocks.model import Offer, Unlock

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TABLES = ["ledger_accounts", "ledger_transfers", "ledger_entries", "unlocks", "entitlements", "video_pricing"]


async def _sell(
    one: Database, ledger: LedgerService, unlocks: PostgresUnlockRepository, viewer: UUID
) -> dict[str, int]:
    """One fee-paying sale as the click makes it (begin-purchase, then record-sale), on `one`'s single
    connection; returns the rows each table gave to sequential scans in that transaction."""
    video, creator, key = uuid4(), uuid4(), uuid4().hex
    legs = [
        Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), 50),
        Leg(AccountRef.earnings(creator), AccountRef.platform_revenue_for(creator), 5),
    ]
    async with one.atomic():
        found = await unlocks.begin_purchase(video, viewer, key)
        assert found.prior is None
        requested = ledger.prepare(f"unlock:{viewer}:{key}", "unlock", legs, {"video_id": str(video)})
        unlock = Unlock(uuid4(), key, viewer, video, creator, Offer.RENT_DAY, 50, 5, requested.id, NOW)
        recorded = await unlocks.record_sale(requested, unlock, NOW + timedelta(days=1), None, [])
        assert recorded is not None
        assert recorded.status == "posted"
        rows = await one.fetch(
            "SELECT relname, seq_scan, seq_tup_read FROM pg_stat_xact_user_tables WHERE relname = ANY($1::text[])",
            TABLES,
        )
    return {r["relname"]: r["seq_tup_read"] for r in rows if r["seq_scan"]}


async def test_a_sale_reads_no_table_through_plans_made_when_the_tables_were_small(
    pg: Injector, settings: Settings
) -> None:
    db = pg.get(Database)
    viewer = uuid4()
    funding = LedgerService(PostgresLedgerRepository(db), SystemClock())
    await funding.transfer("top-up", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), 10**9)])
    await db.execute("ANALYZE " + ", ".join(TABLES))  # statistics of small tables, as on a new install
    # One connection, so every sale below runs on the plans its first sales made.
    one = Database(settings.database_url, min_size=1, max_size=1)
    await one.start()
    try:
        ledger = LedgerService(PostgresLedgerRepository(one), SystemClock())
        unlocks = PostgresUnlockRepository(one, None)
        for _ in range(8):  # past PostgreSQL's five custom plans: the connection settles on its plans
            await _sell(one, ledger, unlocks, viewer)

        # The history grows (from another connection, which re-plans nothing on `one`).
        await db.execute(
            """SELECT ledger_post_transfer(gen_random_uuid(), 'history-' || n, 'purchase', '{}'::jsonb, now(),
                   '{vendor_clearing}', '{00000000-0000-0000-0000-000000000000}', '{wallet}', ARRAY[gen_random_uuid()],
                   '{1}', '{}', '{}')
               FROM generate_series(1, 300) AS n"""
        )
        await db.execute(
            """WITH sold AS (
                   INSERT INTO unlocks (id, idempotency_key, viewer_id, video_id, creator_id, offer, points, fee,
                                        transfer_id, created_at)
                   SELECT gen_random_uuid(), 'history-' || n, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
                          'rent_day', 50, 5, gen_random_uuid(), now()
                   FROM generate_series(1, 3000) AS n
                   RETURNING viewer_id, video_id, created_at)
               INSERT INTO entitlements (viewer_id, video_id, offer, expires_at, granted_at, updated_at)
               SELECT viewer_id, video_id, 'rent_day', created_at + interval '1 day', created_at, created_at
               FROM sold"""
        )

        assert await _sell(one, ledger, unlocks, viewer) == {}
    finally:
        await one.stop()
        bind_tables(db.engine, db.tables)  # Piccolo tables back on the suite's pool
