"""What a feature hands the composition root: routes, injector modules, jobs and startup hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from injector import Injector, Module
from litestar.types import ControllerRouterHandler

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class CronSpec:
    function: JobFunction
    cron: str
    timeout: int = 300


@dataclass(frozen=True)
class Feature:
    name: str
    module: type[Module]
    memory_module: type[Module] | None = None
    route_handlers: Sequence[ControllerRouterHandler] = ()
    jobs: Sequence[JobFunction] = ()
    cron_jobs: Sequence[CronSpec] = ()
    on_startup: Sequence[Callable[[Injector], Awaitable[None]]] = field(default_factory=tuple)
    csrf_exempt: Sequence[str] = ()
    nav: Sequence[NavLink] = ()
    header_partials: Sequence[str] = ()
    """Templates shown in the site header for logged-in users (e.g. the wallet balance pill)."""
    # Templates the account page (/me) includes, in feature order; each is a self-contained partial
    # (it may load its own data with htmx) rendered with the page's context (`user`, `request`).
    me_panels: Sequence[str] = ()
    # Consumers of the event log this feature reads with core's EventLog (their cursors hold retention
    # back), and event names it reads back from the log by topic beyond any cursor (never pruned).
    event_consumers: Sequence[str] = ()
    event_history: Sequence[str] = ()
    # Its parts of live pages (core.live): types the injector resolves to `LivePart`s, whose fragments
    # ride the one event stream of the page.
    live_parts: Sequence[type[Any]] = ()


@dataclass(frozen=True)
class NavLink:
    """A link in the site header; `audience` is "all", "user", "creator" or "staff"."""

    label: str
    path: str
    audience: str = "all"
    order: int = 50
