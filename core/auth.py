"""Who is asking: the Principal put on every request, and the guards that check it."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from core.identity import Principal

__all__ = [
    "UNVERIFIED_MESSAGE",
    "Principal",
    "creator_required",
    "current_principal",
    "login_required",
    "staff_required",
    "verified_required",
]

UNVERIFIED_MESSAGE = (
    "Please confirm your e-mail address first: open the link we mailed you. Until then you can browse "
    "and watch free videos, but not buy points, unlock, tip or become a creator. "
    "Need a new link? Use “Send the link again” on your account page."
)


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


async def login_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if current_principal(connection) is None:
        raise NotAuthorizedException("Please log in to continue.")


async def verified_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Logged in with a confirmed e-mail address: for everything that moves money or makes a creator
    (buying points, unlocking, tipping, becoming a creator)."""
    principal = current_principal(connection)
    if principal is None:
        raise NotAuthorizedException("Please log in to continue.")
    if not principal.email_verified:
        raise PermissionDeniedException(UNVERIFIED_MESSAGE)


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
