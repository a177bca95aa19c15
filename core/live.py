"""Live pages: one event stream per page, carrying every feature's live parts.

A page that stays live (the studio, the dashboard, the wallet and its purchase return page) connects
one `EventSource` to `LIVE_PATH`; any logged-in person may. The stream carries the events of the
viewer's own topic `user:<id>` — chosen by the server, never by the client — and for each event asks
every registered `LivePart` (`Feature.live_parts`: the studio's video tiles, the dashboard's tiles,
the wallet's balance pill) for its fragments, rendered here with `oob=True` so htmx swaps
each by id. A reconnecting browser sends `Last-Event-ID` and is replayed what it missed (core/sse.py);
every part renders from the current state, so a replay simply lands on the current figures.

This module is also the feature `LIVE` of the composition root: the endpoint, and the cron job that
keeps `event_log` small (core/eventlog.py: rows every registered consumer has read, older than the
resume window, are deleted — every progress tick used to stay forever).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from injector import Binder, Injector, InstanceProvider, Module
from litestar import Request, get
from litestar.di import NamedDependency

from core.auth import current_principal, login_required
from core.clock import Clock
from core.di import get_port
from core.eventlog import CursorStore, EventLog, Retention, prune_event_log
from core.events import Event, EventBus, LivePart
from core.feature import CronSpec, Feature
from core.sse import EndStream, EventStream, sse_response
from core.web import SessionResolver, inject
from core.worker import injector_from

# The URL browsers and reference clients have used since the studio page held the stream; every live
# page connects here.
LIVE_PATH = "/studio/events"
PRUNE_CRON = "*/15 * * * *"


@dataclass(frozen=True)
class LiveParts:
    """The classes of the live parts features contribute, in feature order; the injector makes them."""

    kinds: tuple[type[Any], ...] = ()

    def resolve(self, injector: Injector) -> list[LivePart]:
        return [injector.get(kind) for kind in self.kinds]


class Declarations(Module):
    """What the features declare about live pages and the event log, bound for the endpoint and the
    retention job."""

    def __init__(self, features: Sequence[Feature]) -> None:
        self.features = features

    def configure(self, binder: Binder) -> None:
        kinds = tuple(kind for feature in self.features for kind in feature.live_parts)
        retention = Retention(
            consumers=frozenset(name for feature in self.features for name in feature.event_consumers),
            keep_names=frozenset(name for feature in self.features for name in feature.event_history),
        )
        binder.bind(LiveParts, to=InstanceProvider(LiveParts(kinds)))
        binder.bind(Retention, to=InstanceProvider(retention))


@get(LIVE_PATH, guards=[login_required], dependencies={"bus": inject(EventBus)})
async def live_events(request: Request[Any, Any, Any], bus: NamedDependency[Any]) -> EventStream:
    """The viewer's live parts, re-rendered whenever an event of their topic arrives — all on this
    one connection. `bus` is an EventBus (Litestar cannot check a Protocol at run time).

    The stream lives no longer than its session: before each event is rendered the session is looked
    up again, and once it has ended (a log-out elsewhere, a password change or reset, a suspension, a
    deletion) or stands for someone else, the stream ends instead, carrying nothing more. A browser
    whose session was only rotated (a new password, becoming a creator) reconnects with its new cookie
    and resumes from Last-Event-ID."""
    principal = current_principal(request)
    assert principal is not None  # the guard let the request through
    me = principal.id
    token = request.auth
    resolve: SessionResolver = request.app.state.session_resolver
    engine = request.app.template_engine
    assert engine is not None
    injector: Injector = request.app.state.injector
    parts = injector.get(LiveParts).resolve(injector)

    async def render(event: Event) -> str | None:
        current = await resolve(token) if token else None
        if current is None or current.id != me:
            raise EndStream()
        html = [
            engine.get_template(fragment.template).render(**fragment.context, oob=True, request=request)
            for part in parts
            for fragment in await part.fragments(me, event)
        ]
        return "".join(html) or None

    return sse_response(request, bus, [f"user:{me}"], render)


async def prune_events(ctx: Any) -> int:
    """Every 15 minutes: delete the event-log rows every registered consumer has read and no browser
    may still resume from (core/eventlog.py states the rule)."""
    injector = injector_from(ctx)
    retention = injector.get(Retention)
    return await prune_event_log(
        get_port(injector, EventLog),
        get_port(injector, CursorStore),
        get_port(injector, Clock),
        retention.consumers,
        retention.keep_names,
        retention.window,
    )


class _NothingToBind(Module):
    """Core's own adapters (the event bus, the event log, the cursors) are bound by core/di.py."""


LIVE = Feature(
    name="live",
    module=_NothingToBind,
    route_handlers=[live_events],
    cron_jobs=[CronSpec(prune_events, PRUNE_CRON, timeout=120)],
)
