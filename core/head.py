"""HEAD for every page: a resource that answers GET answers HEAD with the same status and headers and no
body (RFC 9110 §9.3.2). Link checkers, uptime monitors, `curl -I` and link previews ask so first.

Litestar routes HEAD only to handlers declared for it (the static files and tus have their own), and
answers 405 everywhere else. `answer_head_like_get` wraps the app's ASGI handler: a HEAD is tried as
it is; when the route has no HEAD (405), it runs again as the GET — a HEAD carries no body, so nothing
is lost — and the answer's head goes out as the GET's would, Content-Length included, with an empty
body. The response ends right after its head: a streaming page (an event stream) is told the client
left, so it stops instead of running on for nothing.
"""

from __future__ import annotations

from typing import Any

from core.sse import SERVER_SEND

Message = dict[str, Any]


def answer_head_like_get(app: Any) -> Any:
    """The ASGI app `app`, answering HEAD wherever it answers GET."""

    async def with_head(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await app(scope, receive, send)
            return
        # The scope as the server gave it: the first attempt leaves its routing and what it read in it.
        pristine, pristine_state = dict(scope), dict(scope.get("state") or {})
        routed = _HeadAttempt(send)
        await app(scope, receive, routed.send)
        if routed.method_not_allowed:
            # Put back in place: the app's before-send hooks hold this scope and read its state.
            scope.clear()
            scope.update(pristine, state=pristine_state)
            await _head_of_get(app, scope, receive, send)

    return with_head


class _HeadAttempt:
    """Passes the app's answer to a HEAD through, unless it is a 405 (the route has no HEAD)."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self.method_not_allowed = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 405:
            self.method_not_allowed = True
        if not self.method_not_allowed:
            await self._send(message)


async def _head_of_get(app: Any, scope: Any, receive: Any, send: Any) -> None:
    # The GET's scope: its own extensions without the server's raw send, so that nothing (an event
    # stream's direct writes, core/sse.py) bypasses the body dropped below.
    extensions = {k: v for k, v in (scope.get("extensions") or {}).items() if k != SERVER_SEND}
    as_get = {**scope, "method": "GET", "extensions": extensions}  # the same state: the hooks read it
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

    await app(as_get, receive_until_answered, head_only)
