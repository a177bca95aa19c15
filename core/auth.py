"""Who is asking: the Principal put on every request, and the guards that check it."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from core.identity import Principal

__all__ = ["Principal", "creator_required", "current_principal", "login_required", "staff_required"]


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


async def login_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if current_principal(connection) is None:
        raise NotAuthorizedException("Please log in to continue.")


async def creator_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = current_principal(connection)
    if principal is None:
        raise NotAuthorizedException("Please log in to continue.")
    if not principal.is_creator:
        raise PermissionDeniedException("Only creators can do this. Become a creator from your account page.")


async def staff_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = current_principal(connection)
    if principal is None:
        raise NotAuthorizedException("Please log in to continue.")
    if not principal.is_staff:
        raise PermissionDeniedException("This page is for staff only.")
