"""The composition root (features/bootstrap.py): the settings choose the features, and the sandbox
payment and payout vendors are part of the app only when they are the selected vendors."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import httpx
import msgspec
import pytest
from piccolo.table import Table

import features
from core.db import tables_in
from core.di import build_injector
from core.settings import Settings
from core.worker import build_worker
from features.bootstrap import HYPHA, create_app, features_for, main, table_classes

SANDBOX_PAGES = ["/sandbox-pay/admin", "/staff/payouts"]  # staff consoles: signed out, a redirect to log in
SANDBOX_PREFIXES = ("/sandbox-pay", "/staff/payouts")
SANDBOX_JOBS = {"deliver_sandbox_webhooks", "settle_sandbox_payouts"}


def on_stripe(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings,
        payment_gateway="stripe",
        payout_gateway="stripe",
        stripe_api_key="sk_test_composition",
        stripe_webhook_secret="whsec_composition",
    )


def sandbox_routes(settings: Settings) -> list[str]:
    app = create_app(settings, build_injector(settings, features_for(settings), memory=True))
    return [route.path for route in app.routes if route.path.startswith(SANDBOX_PREFIXES)]


async def statuses(settings: Settings, paths: list[str]) -> list[int]:
    app = create_app(settings, build_injector(settings, features_for(settings), memory=True))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        return [(await client.get(path)).status_code for path in paths]


def job_names(settings: Settings) -> set[str]:
    worker = build_worker(
        settings, build_injector(settings, features_for(settings), memory=True), features_for(settings)
    )
    return set(worker.functions)


async def test_the_sandbox_vendors_exist_when_they_are_the_selected_vendors(settings: Settings) -> None:
    assert 404 not in await statuses(settings, SANDBOX_PAGES)
    assert "/sandbox-pay/checkout/{payment_id:str}/pay" in sandbox_routes(settings)
    assert job_names(settings) >= SANDBOX_JOBS


async def test_with_stripe_the_sandbox_pages_and_jobs_are_not_part_of_the_app(settings: Settings) -> None:
    stripe = on_stripe(settings)
    assert await statuses(stripe, SANDBOX_PAGES) == [404, 404]
    assert sandbox_routes(stripe) == []
    assert await statuses(stripe, ["/login", "/wallet"]) != [404, 404]  # the rest of the app is there
    names = job_names(stripe)
    assert not names & SANDBOX_JOBS
    assert {"sweep_payouts", "reconcile_payments"} <= names
    chosen = {feature.name for feature in features_for(stripe)}
    assert chosen == {feature.name for feature in HYPHA.features} - {"sandbox_pay", "payouts_sandbox"}


def test_stripe_payments_with_sandbox_payouts_keep_only_the_payout_sandbox(settings: Settings) -> None:
    # (sandbox payments with real payouts is refused at start-up: free points would be paid out)
    mixed = msgspec.structs.replace(on_stripe(settings), payout_gateway="sandbox")
    chosen = {feature.name for feature in features_for(mixed)}
    assert ("sandbox_pay" in chosen, "payouts_sandbox" in chosen) == (False, True)


def test_every_tables_module_is_declared_by_its_feature() -> None:
    """A feature's tables are bound to the pool because its Feature declares them: a tables module no
    feature declares would leave its tables on no database."""
    found: list[type[Table]] = []
    for info in pkgutil.iter_modules(features.__path__):
        try:
            module = importlib.import_module(f"features.{info.name}.tables")
        except ModuleNotFoundError as error:
            if error.name != f"features.{info.name}.tables":
                raise
            continue
        found.extend(tables_in(module))
    assert found
    assert sorted(found, key=repr) == sorted(table_classes(), key=repr)


COMMANDS = [
    "up",
    "web",
    "worker",
    "migrate",
    "check",
    "transcode",
    "ledger",
    "reconcile",
    "staff",
    "portability",
]


def test_hypha_lists_core_commands_then_those_the_features_contribute(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    listed = capsys.readouterr().out.split("{", 1)[1].split("}", 1)[0]
    assert listed.split(",") == [
        "up",
        "web",
        "worker",
        "migrate",
        "check",
        "transcode",
        "ledger",
        "reconcile",
        "staff",
        "portability",
    ]


def test_the_commands_hypha_help_lists_without_importing_the_features_are_those_they_declare() -> None:
    assert list(HYPHA.command_index) == [(command.name, command.help) for command in HYPHA.commands()]


PROBE = """
import sys
from features.bootstrap import main
try:
    main(["--help"])
except SystemExit:
    pass
print(sorted(name for name in sys.modules if name.startswith("features.") and name != "features.bootstrap"))
"""


def test_hypha_help_lists_every_command_without_importing_a_feature() -> None:
    shown = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    listed = shown.stdout.split("{", 1)[1].split("}", 1)[0]
    assert listed.split(",") == [
        "up",
        "web",
        "worker",
        "migrate",
        "check",
        "transcode",
        "ledger",
        "reconcile",
        "staff",
        "portability",
    ]
    assert shown.stdout.strip().splitlines()[-1] == "[]"
