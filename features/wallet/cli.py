"""`hypha reconcile --since YYYY-MM-DD [--until YYYY-MM-DD]`: compare the payment vendor's payments with
the ledger, heal missing credits and reversals, and print what was found.

Exits 0 when nothing is left for a person to look at, 1 when there are unhealed findings (amount
mismatches, orphan credits, unknown payments), 2 on a usage or set-up problem. Reads DATABASE_URL;
without it, uses the embedded PostgreSQL that `hypha up` keeps under DATA_DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

import msgspec

from core.errors import InvalidInput
from core.feature import Composition
from core.settings import Settings, SettingsError, load_settings
from features.wallet.model import ReconciliationRun, reconciliation_period


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", required=True, help="first day to check, YYYY-MM-DD (UTC)")
    parser.add_argument("--until", default="", help="last day to check, inclusive, YYYY-MM-DD (default: up to now)")


class _Refused(SystemExit):
    def __init__(self, message: str) -> None:
        print(f"hypha: {message}", file=sys.stderr)
        super().__init__(2)


async def reconcile(
    composition: Composition, settings: Settings, since: datetime, until: datetime
) -> ReconciliationRun:
    from core.db import Database
    from core.di import build_injector
    from features.wallet.service import WalletService

    injector = build_injector(settings, composition.features_for(settings))
    db = injector.get(Database)
    await db.start()
    try:
        return await injector.get(WalletService).reconcile(since, until)
    finally:
        await db.stop()


def report(run: ReconciliationRun) -> str:
    lines = [
        f"reconciled {run.since:%Y-%m-%d %H:%M} .. {run.until:%Y-%m-%d %H:%M} UTC: "
        f"{run.payments_checked} vendor payments, {run.purchases_checked} purchases, "
        f"{len(run.findings)} finding(s), {run.healed} healed"
    ]
    lines += [
        f"  {'healed' if f.healed else 'OPEN  '} {f.kind.value:<17} {f.payment_ref}  {f.detail}" for f in run.findings
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace, composition: Composition) -> None:
    try:
        settings = load_settings()
    except SettingsError as error:
        raise _Refused(f"configuration error: {error}") from error
    try:
        since, until = reconciliation_period(args.since, args.until, datetime.now(UTC))
    except InvalidInput as error:
        raise _Refused(f"{error.message} (got --since {args.since!r} --until {args.until!r})") from error
    embedded = None
    if not settings.database_url:
        pgdata = settings.data_path / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            raise _Refused(f"DATABASE_URL is not set and there is no local database under {settings.data_path}.")
        from core.embedded_pg import EmbeddedPostgres

        embedded = EmbeddedPostgres(pgdata)
        settings = msgspec.structs.replace(settings, database_url=embedded.start())
    try:
        result = asyncio.run(reconcile(composition, settings, since, until))
    finally:
        if embedded is not None:
            embedded.stop()
    print(report(result))
    if any(not f.healed for f in result.findings):
        raise SystemExit(1)
