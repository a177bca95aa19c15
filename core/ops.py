"""Staff-only operations pages mounted under /ops: saq's job-queue monitor (here) and the data admin
(features/ops_admin), both declared with `staff_mount`.

saq's web UI is a Starlette app; it is mounted here behind the staff guard, sharing the web
process's queue connection. Its retry/abort buttons post without Hypha's CSRF header and are
therefore refused: the monitor is read-only by design (retries go through each feature's own
controls, e.g. the studio tile's Retry button).
"""

from __future__ import annotations

import json
import re
from typing import Any

from litestar.handlers import ASGIRouteHandler
from litestar.types import HTTPResponseStartEvent, Receive, Scope, Send

from core.auth import staff_required
from core.jobs import JobQueue
from core.worker import SaqJobQueue

MOUNT = "/ops/queue"
FORM_BODY_LIMIT = 1024 * 1024
# The monitor's API routes naming a queue, and optionally one of its jobs (saq.web.starlette).
_QUEUE_ROUTE = re.compile(r"/api/queues/(?P<queue>[^/]+)(?:/jobs/(?P<job>[^/]+)(?:/retry|/abort)?)?/?")


class _StaffMount(ASGIRouteHandler):
    """`litestar.asgi` plus the body limit Litestar's CSRF middleware asks the route handler for when it
    reads a form-encoded request without the CSRF header: ASGIRouteHandler lacks it (Litestar 2.25),
    which turned such a request to a mounted app into a 500 instead of a 403."""

    __slots__ = ()

    def resolve_request_max_body_size(self) -> int:
        return FORM_BODY_LIMIT


def staff_mount(path: str) -> _StaffMount:
    """Decorate an ASGI app function to serve everything under `path`, for logged-in staff only
    (anonymous visitors are sent to log in, others get a 403), behind Hypha's CSRF check."""
    return _StaffMount(path, is_mount=True, copy_scope=True, guards=[staff_required], include_in_schema=False)


@staff_mount(MOUNT)
async def queue_monitor(scope: Scope, receive: Receive, send: Send) -> None:
    state: Any = scope["app"].state
    monitor = state.get("queue_monitor")
    if monitor is None:
        from saq.web.starlette import saq_web

        jobs = state.injector.get(JobQueue)
        queues = [await jobs.queue()] if isinstance(jobs, SaqJobQueue) else []
        monitor = saq_web(MOUNT, queues=queues)
        state.queue_monitor = monitor
    # A copy: Starlette rewrites scope["app"], which Hypha's own middleware still reads afterwards.
    # Starlette routes on the full path minus root_path; Litestar's mount hands over a stripped path
    # with a trailing slash added, so give Starlette the path as the browser sent it.
    inner: Any = dict(scope)
    raw = scope.get("raw_path") or b""
    inner["path"] = raw.decode("latin-1") if raw.startswith(MOUNT.encode()) else MOUNT + scope["path"]
    inner["root_path"] = MOUNT
    missing = await _missing(inner["path"].removeprefix(MOUNT), state)
    if missing:
        await _not_found(send, missing)
        return
    await monitor(inner, receive, send)


async def _missing(path: str, state: Any) -> str | None:
    """What an API path names that does not exist ("queue" or "job"), or None.

    saq's handlers look the queue up with `QUEUES[name]` and raise ValueError for an unknown job: a
    500 for a typo or a job that expired. Checked here first, so both are a 404."""
    match = _QUEUE_ROUTE.fullmatch(path)
    if match is None:
        return None
    from urllib.parse import unquote

    jobs = state.injector.get(JobQueue)
    queue = await jobs.queue() if isinstance(jobs, SaqJobQueue) else None
    if queue is None or unquote(match["queue"]) != queue.name:
        return "queue"
    if match["job"] is not None and await queue.job(unquote(match["job"])) is None:
        return "job"
    return None


async def _not_found(send: Send, what: str) -> None:
    body = json.dumps({"status_code": 404, "detail": f"No such {what}: it was not found (or has expired)."}).encode()
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body)).encode()))
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 404, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
