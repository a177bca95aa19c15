"""The Litestar app of the features it is given (their routes, start-up hooks, links and panels) with
core's own routes, middleware and exception handlers. Which features those are is the composition
root's business (features/bootstrap.py): core knows none of them."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from injector import Injector
from litestar import Litestar, MediaType, Request, Router, get
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusController
from litestar.static_files import create_static_files_router
from litestar_htmx import HTMXPlugin

from core.auth import staff_required
from core.db import Database
from core.di import build_injector, get_port
from core.events import EventBus
from core.feature import Feature
from core.forms import read_forms_as_utf8
from core.head import answer_head_like_get
from core.identity import SessionLookup
from core.jobs import JobQueue
from core.observability import prometheus_config
from core.ops import queue_monitor
from core.postgres import PostgresEventBus
from core.settings import Settings
from core.uow import UnitOfWork
from core.web import (
    EXCEPTION_HANDLERS,
    ROOT,
    HyphaRequest,
    WebMiddleware,
    csrf_config,
    one_charset_on_every_response,
    security_headers_on_every_response,
    session_authentication,
    template_config,
    vary_on_what_was_read,
)

log = logging.getLogger("hypha")


async def no_nul_in_file_name(request: Request[Any, Any, Any]) -> None:
    """A static file's name with a NUL byte names no file (the file system would refuse it with a
    ValueError, a 500): it is not found."""
    if "\x00" in str(request.path_params.get("file_path", "")):
        raise NotFoundException()


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


def create_app(settings: Settings, injector: Injector | None = None, *, features: Sequence[Feature]) -> Litestar:
    """The app of `features` (those `settings` select: see `Composition.features_for`); `injector`
    defaults to the real adapters of those features."""
    injector = injector or build_injector(settings, features)
    secret = settings.secret_key or secrets.token_hex(32)
    real_db = isinstance(get_port(injector, UnitOfWork), Database)

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
            bus = get_port(injector, EventBus)
            if isinstance(bus, PostgresEventBus):
                await bus.close()
            queue = get_port(injector, JobQueue)
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
            "session_resolver": get_port(injector, SessionLookup).principal_for_session,
            "header_partials": [name for feature in features for name in feature.header_partials],
            "nav": sorted((link for feature in features for link in feature.nav), key=lambda link: link.order),
            "me_panels": [panel for feature in features for panel in feature.me_panels],
            "wallet_panels": [panel for feature in features for panel in feature.wallet_panels],
        }
    )
    app = Litestar(
        route_handlers=[
            healthz,
            readyz,
            queue_monitor,
            MetricsController,
            create_static_files_router(
                path="/static",
                directories=[ROOT / "static"],
                include_in_schema=False,
                before_request=no_nul_in_file_name,
            ),
            *(handler for feature in features for handler in feature.route_handlers),
        ],
        state=state,
        lifespan=[lifespan],
        middleware=[prometheus.middleware, DefineMiddleware(WebMiddleware), session_authentication()],
        before_request=read_forms_as_utf8,
        before_send=[security_headers_on_every_response, one_charset_on_every_response, vary_on_what_was_read],
        csrf_config=csrf_config(settings, secret, exempt),
        template_config=template_config(),
        plugins=[HTMXPlugin()],
        request_class=HyphaRequest,
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="Hypha",
            version="0.1.0",
            openapi_router=Router(API_SCHEMA, route_handlers=[], guards=[staff_required], include_in_schema=False),
        ),
        debug=False,
        logging_config=None,  # logging is configured once per process (core.observability)
    )
    app.asgi_handler = answer_head_like_get(app)  # HEAD wherever GET (core/head.py)
    return app
