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

from injector import Injector
from litestar import Litestar
from piccolo.table import Table

from core import cli as core_cli
from core.feature import Composition, Feature
from core.settings import Settings, load_settings
from features.accounts.module import FEATURE as ACCOUNTS
from features.analytics.module import FEATURE as ANALYTICS
from features.catalog.module import FEATURE as CATALOG
from features.dashboard.module import FEATURE as DASHBOARD
from features.ledger.module import FEATURE as LEDGER
from features.moderation.module import FEATURE as MODERATION
from features.notifications.module import FEATURE as NOTIFICATIONS
from features.ops_admin.module import FEATURE as OPS_ADMIN
from features.payouts.module import FEATURE as PAYOUTS
from features.payouts.module import SANDBOX_FEATURE as SANDBOX_PAYOUTS
from features.pipeline.module import FEATURE as PIPELINE
from features.playback.module import FEATURE as PLAYBACK
from features.preferences.module import FEATURE as PREFERENCES
from features.privacy.module import FEATURE as PRIVACY
from features.sandbox_pay.module import FEATURE as SANDBOX_PAY
from features.studio.module import FEATURE as STUDIO
from features.unlocks.module import FEATURE as UNLOCKS
from features.wallet.module import FEATURE as WALLET

# In this order: routes, injector modules, start-up hooks, account-page panels and `hypha --help` follow it.
HYPHA = Composition(
    features=[
        ACCOUNTS,
        PIPELINE,
        LEDGER,
        NOTIFICATIONS,
        STUDIO,
        SANDBOX_PAY,
        WALLET,
        UNLOCKS,
        PLAYBACK,
        PAYOUTS,
        SANDBOX_PAYOUTS,
        ANALYTICS,
        DASHBOARD,
        CATALOG,
        PREFERENCES,
        MODERATION,
        PRIVACY,
        OPS_ADMIN,
    ],
    entry_module="features.bootstrap",
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
