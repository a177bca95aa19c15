"""The composition root: the one place that knows which features make up Hypha.

Core knows no feature (an import contract says so): it is handed this `Composition` and builds the
app, the worker, the injector and the `hypha` command from the features the settings select — the
sandbox payment and payout vendors only when PAYMENT_GATEWAY / PAYOUT_GATEWAY is `sandbox`.

    hypha …                                   the console script: `main`
    python -m features.bootstrap …            the same, without the script (`hypha up` starts its children so)
    uvicorn --factory features.bootstrap:app_from_environment
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from core import cli as core_cli
from core.feature import Composition, Feature
from core.settings import Settings, load_settings

if TYPE_CHECKING:
    from injector import Injector
    from litestar import Litestar
    from piccolo.table import Table

# In this order: routes, injector modules, start-up hooks, account-page panels and `hypha --help` follow it.
# Named, not imported: a feature is imported when a command first needs the features (`hypha up` and
# `hypha --help` need none), which keeps their start-up short.
HYPHA = Composition(
    feature_paths=[
        "features.accounts.module:FEATURE",
        "features.pipeline.module:FEATURE",
        "features.ledger.module:FEATURE",
        "features.notifications.module:FEATURE",
        "features.studio.module:FEATURE",
        "features.sandbox_pay.module:FEATURE",
        "features.wallet.module:FEATURE",
        "features.unlocks.module:FEATURE",
        "features.offers.module:FEATURE",
        "features.memberships.module:FEATURE",
        "features.gifts.module:FEATURE",
        "features.playback.module:FEATURE",
        "features.payouts.module:FEATURE",
        "features.payouts.module:SANDBOX_FEATURE",
        "features.analytics.module:FEATURE",
        "features.dashboard.module:FEATURE",
        "features.catalog.module:FEATURE",
        "features.preferences.module:FEATURE",
        "features.moderation.module:FEATURE",
        "features.privacy.module:FEATURE",
        "features.portability.module:FEATURE",
        "features.ops_admin.module:FEATURE",
        "core.live:LIVE",
    ],
    entry_module="features.bootstrap",
    # The features' commands as `hypha --help` lists them (tests/integration/test_composition.py checks
    # that they are the ones the features declare, in order).
    command_index=[
        ("transcode", "transcode a local video into encrypted HLS (no database)"),
        ("ledger", "check the ledger: `hypha ledger verify`"),
        ("reconcile", "compare the payment vendor's payments with the ledger; heal missing credits"),
        ("staff", "grant or take away the staff role: `hypha staff add|remove EMAIL`"),
        ("portability", "a creator's library as CAR + JSON: `hypha portability export CREATOR_ID --out DIR`"),
    ],
)


def features_for(settings: Settings) -> list[Feature]:
    """The features `settings` run (the sandbox vendors only when selected)."""
    return HYPHA.features_for(settings)


def table_classes() -> list[type[Table]]:
    """Every feature's Piccolo tables, those of features the settings leave out included."""
    return HYPHA.tables()


def create_app(settings: Settings | None = None, injector: Injector | None = None) -> Litestar:
    """The web app of the features `settings` run (default: the environment's); `injector` defaults
    to their real adapters."""
    from core.app import create_app as create_app_of

    settings = settings or load_settings()
    return create_app_of(settings, injector, features=features_for(settings))


def app_from_environment() -> Litestar:
    """Factory for `uvicorn --factory features.bootstrap:app_from_environment` (production)."""
    return create_app()


def main(argv: Sequence[str] | None = None) -> None:
    """The `hypha` command."""
    core_cli.main(HYPHA, argv)


if __name__ == "__main__":
    main()
