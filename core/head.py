"""HEAD for every page: a resource that answers GET answers HEAD with the same status and headers and no
body (RFC 9110 §9.3.2). Link checkers, uptime monitors, `curl -I` and link previews ask so first.

Litestar routes HEAD only to handlers declared for it (the static files and tus have their own) and
answers 405 everywhere else. `answer_head_like_get` wraps the app's ASGI handler: a HEAD whose route
has no HEAD of its own runs as the GET — a HEAD carries no body, so nothing is lost — and the answer's
head goes out as the GET's would, Content-Length included, with an empty body. The response ends right
after its head: a streaming page (an event stream) is told the client left, so it stops instead of
running on for nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.exceptions import HTTPException
from litestar.utils import normalize_path

from core.sse import SERVER_SEND

if TYPE_CHECKING:
    from litestar import Litestar

Message = dict[str, Any]


def answer_head_like_get(app: Litestar) -> Any:
    """`app`'s ASGI handler, answering HEAD wherever the app answers GET."""
    handler = app.asgi_handler

    def has_own_head(scope: Any) -> bool:
        path = scope["path"]
        if root_path := scope.get("root_path", ""):
            path = path.split(root_path, maxsplit=1)[-1]
        try:
            app.asgi_router.handle_routing(path=normalize_path(path), method="HEAD")
        except HTTPException:  # 405: no HEAD there; 404: the GET's own "not found" page
            return False
        return True

    async def with_head(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD" and not has_own_head(scope):
            await _head_of_get(handler, scope, receive, send)
        else:
            await handler(scope, receive, send)

    return with_head


async def _head_of_get(handler: Any, scope: Any, receive: Any, send: Any) -> None:
    # The GET's scope, a copy (the server's own still says HEAD, so it sends no body either): its own
    # extensions without the server's raw send, so that nothing (an event stream's direct writes,
    # core/sse.py) bypasses the body dropped below; the same state, where the app's before-send hooks
    # read what the handler noted.
    extensions = {k: v for k, v in (scope.get("extensions") or {}).items() if k != SERVER_SEND}
    as_get = {**scope, "method": "GET", "extensions": extensions}
    answered = False

    async def receive_until_answered() -> Message:
        if answered:
            return {"type": "http.disconnect"}
        message: Message = await receive()
        return message

    async def head_only(message: Message) -> None:
        nonlocal answered
        if answered:
            return
        if message["type"] == "http.response.start":
            await send(message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            answered = True

    await handler(as_get, receive_until_answered, head_only)
