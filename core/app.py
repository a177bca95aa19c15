"""The composition root: every feature, its routes and adapters, wired into one Litestar app."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from injector import Injector
from litestar import Litestar, MediaType, Router, get
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusController
from litestar.static_files import create_static_files_router
from litestar_htmx import HTMXPlugin, HTMXRequest

from core.auth import staff_required
from core.db import Database
from core.di import build_injector
from core.events import EventBus
from core.feature import Feature
from core.jobs import JobQueue
from core.live import LIVE
from core.observability import prometheus_config
from core.ops import queue_monitor
from core.postgres import PostgresEventBus
from core.settings import Settings, load_settings
from core.uow import UnitOfWork
from core.web import (
    EXCEPTION_HANDLERS,
    ROOT,
    WebMiddleware,
    csrf_config,
    one_charset_on_every_response,
    security_headers_on_every_response,
    template_config,
)
from features.accounts.module import FEATURE as ACCOUNTS
from features.accounts.service import AccountService
from features.analytics.module import FEATURE as ANALYTICS
from features.catalog.module import FEATURE as CATALOG
from features.dashboard.module import FEATURE as DASHBOARD
from features.ledger.module import FEATURE as LEDGER
from features.moderation.module import FEATURE as MODERATION
from features.notifications.module import FEATURE as NOTIFICATIONS
from features.ops_admin.module import FEATURE as OPS_ADMIN
from features.payouts.module import FEATURE as PAYOUTS
from features.pipeline.module import FEATURE as PIPELINE
from features.playback.module import FEATURE as PLAYBACK
from features.preferences.module import FEATURE as PREFERENCES
from features.privacy.module import FEATURE as PRIVACY
from features.sandbox_pay.module import FEATURE as SANDBOX_PAY
from features.studio.module import FEATURE as STUDIO
from features.unlocks.module import FEATURE as UNLOCKS
from features.wallet.module import FEATURE as WALLET

log = logging.getLogger("hypha")

FEATURES: list[Feature] = [
    ACCOUNTS,
    LEDGER,
    PIPELINE,
    NOTIFICATIONS,
    STUDIO,
    SANDBOX_PAY,
    WALLET,
    UNLOCKS,
    PLAYBACK,
    PAYOUTS,
    ANALYTICS,
    DASHBOARD,
    CATALOG,
    PREFERENCES,
    MODERATION,
    PRIVACY,
    OPS_ADMIN,
    LIVE,
]


async def metrics_token_required(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """/metrics is for the scraper holding METRICS_TOKEN (as `Authorization: Bearer …`); without the
    setting it does not exist (404). Business volumes (unlocks, payments) are not for the public."""
    settings: Settings = connection.app.state.settings
    if not settings.metrics_token:
        raise NotFoundException()
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("latin-1"), expected):
        raise HTTPException(
            status_code=401,
            detail="The metrics need the scraper's bearer token.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False
    guards = [metrics_token_required]


# The OpenAPI document and its viewers list every route, the staff ones included: staff only.
API_SCHEMA = "/api/schema"


@get("/healthz", media_type=MediaType.TEXT, include_in_schema=False, sync_to_thread=False)
def healthz() -> str:
    return "ok"


@get("/readyz", media_type=MediaType.TEXT, include_in_schema=False)
async def readyz(state: State) -> str:
    uow = state.injector.get(UnitOfWork)
    if isinstance(uow, Database):
        await uow.fetchval("SELECT 1")
    return "ready"


def create_app(
    settings: Settings | None = None,
    injector: Injector | None = None,
    *,
    features: Sequence[Feature] = FEATURES,
) -> Litestar:
    settings = settings or load_settings()
    injector = injector or build_injector(settings, features)
    secret = settings.secret_key or secrets.token_hex(32)
    real_db = isinstance(injector.get(UnitOfWork), Database)  # type: ignore[type-abstract]

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = injector.get(Database) if real_db else None
        owns_pool = db is not None and db.engine.pool is None
        if db is not None:
            await db.start()
        for feature in features:
            for hook in feature.on_startup:
                await hook(injector)
        try:
            yield
        finally:
            bus = injector.get(EventBus)  # type: ignore[type-abstract]
            if isinstance(bus, PostgresEventBus):
                await bus.close()
            queue = injector.get(JobQueue)  # type: ignore[type-abstract]
            close = getattr(queue, "close", None)
            if close is not None:
                await close()
            if db is not None and owns_pool:
                await db.stop()

    prometheus = prometheus_config()
    exempt = [path for feature in features for path in feature.csrf_exempt]
    state = State(
        {
            "injector": injector,
            "settings": settings,
            "session_resolver": injector.get(AccountService).principal_for_session,
            "header_partials": [name for feature in features for name in feature.header_partials],
            "nav": sorted((link for feature in features for link in feature.nav), key=lambda link: link.order),
            "me_panels": [panel for feature in features for panel in feature.me_panels],
        }
    )
    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            queue_monitor,
            MetricsController,
            create_static_files_router(path="/static", directories=[ROOT / "static"], include_in_schema=False),
            *(handler for feature in features for handler in feature.route_handlers),
        ],
        state=state,
        lifespan=[lifespan],
        middleware=[prometheus.middleware, DefineMiddleware(WebMiddleware)],
        before_send=[security_headers_on_every_response, one_charset_on_every_response],
        csrf_config=csrf_config(settings, secret, exempt),
        template_config=template_config(),
        plugins=[HTMXPlugin()],
        request_class=HTMXRequest,
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="Hypha",
            version="0.1.0",
            openapi_router=Router(API_SCHEMA, route_handlers=[], guards=[staff_required], include_in_schema=False),
        ),
        debug=False,
        logging_config=None,  # logging is configured once per process (core.observability)
    )


def app_from_environment() -> Litestar:
    """Factory for `uvicorn --factory core.app:app_from_environment` (production)."""
    return create_app()
