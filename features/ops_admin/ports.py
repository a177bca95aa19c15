"""What the staff data admin needs from the outside: the admin application it puts under /ops/admin."""

from __future__ import annotations

from typing import Any, Protocol

from core.identity import Principal


class DataAdmin(Protocol):
    """A read-only browser over the features' tables, entered with the staff member's Hypha log-in."""

    async def serve(self, staff: Principal, hypha_session: str | None, scope: Any, receive: Any, send: Any) -> None:
        """Answer one ASGI request made under the mount on behalf of `staff`.

        The caller has already checked that `staff` is a logged-in staff member; `scope["path"]` is the
        path below the mount and `hypha_session` is the staff member's Hypha session token (the admin's
        log-out button ends it). Never raises for a refused request: it answers it.
        """
        ...
