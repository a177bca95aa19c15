"""The staff data admin's mount: Hypha's staff guard in front, the DataAdmin port behind."""

from __future__ import annotations

from typing import Any

from litestar.exceptions import PermissionDeniedException
from litestar.types import Receive, Scope, Send

from core.identity import Principal
from core.ops import staff_mount
from features.ops_admin.ports import DataAdmin

MOUNT = "/ops/admin"


@staff_mount(MOUNT)
async def data_admin(scope: Scope, receive: Receive, send: Send) -> None:
    """piccolo-admin over the features' tables, read-only, for staff only (see adapters.py)."""
    staff = scope.get("user")
    if not isinstance(staff, Principal) or not staff.is_staff:  # staff_required has stopped anyone else
        raise PermissionDeniedException("This page is for staff only.")
    state: Any = scope["app"].state
    admin: DataAdmin = state.injector.get(DataAdmin)
    await admin.serve(staff, scope.get("state", {}).get("session_token"), scope, receive, send)
