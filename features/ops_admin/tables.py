"""Piccolo tables of the staff data admin (only adapters import them); they describe
migrations/0900_ops_admin.sql. piccolo-admin authenticates its API against a BaseUser table and a
SessionsBase table: these are those, under names that leave Hypha's `users` and `sessions` alone."""

from __future__ import annotations

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import UUID, Varchar
from piccolo_api.session_auth.tables import SessionsBase


class OpsAdminUserTable(BaseUser, tablename="ops_admin_users"):
    """The piccolo-admin user mirroring one Hypha staff member (see adapters.StaffSessions)."""

    hypha_user_id = UUID(unique=True)
    # Display copies of the Hypha user's e-mail; the identity is `hypha_user_id`, so not unique here.
    username = Varchar(length=100)
    email = Varchar(length=255)
    # BaseUser's would insert '' where the schema leaves NULL.
    first_name = Varchar(length=255, null=True, default=None)
    last_name = Varchar(length=255, null=True, default=None)


class OpsAdminSessionTable(SessionsBase, tablename="ops_admin_sessions"):
    """Sessions Hypha opens for staff members; the tokens are only ever put into the admin's own
    copy of a request, never sent to a browser."""
