"""`hypha reconcile` as an operator runs it, on the test database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from uuid import uuid4

import pytest
from injector import Injector

from core.settings import Settings
from features.bootstrap import main
from tests.support.wallet import WalletHarness


async def test_hypha_reconcile_heals_a_missing_credit_and_exits_1_on_what_needs_a_person(
    pg: Injector, settings: Settings
) -> None:
    shop = WalletHarness(pg)
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    await shop.pay(purchase, deliver=False)  # paid at the vendor, webhook never delivered
    odd = await shop.vendor.create_checkout("odd", 7, "USD", "?", {"user_id": str(user), "pack": "p100"}, "/", "/")
    await shop.vendor.pay(odd.id)

    env = {**os.environ, "DATABASE_URL": settings.database_url, "LOG_LEVEL": "WARNING", "LOG_FORMAT": "text"}
    done = subprocess.run(
        [sys.executable, "-m", "features.bootstrap", "reconcile", "--since", "2000-01-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "2 finding(s), 1 healed" in done.stdout
    assert re.search(rf"healed missing_credit +{purchase.payment_ref}", done.stdout)
    assert re.search(rf"OPEN +amount_mismatch +{odd.id}", done.stdout)
    assert await shop.balance(user) == 550


def test_hypha_reconcile_refuses_a_date_it_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["reconcile", "--since", "last tuesday"])
    assert stopped.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
