"""Piccolo tables of the accounts feature (only adapters import them)."""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.table import Table


class UserTable(Table, tablename="users"):
    id = UUID(primary_key=True)
    email = Varchar(length=254)
    email_normalized = Varchar(length=254, unique=True)
    display_name = Varchar(length=80)
    password_hash = Text()
    is_creator = Boolean(default=False)
    is_staff = Boolean(default=False)
    created_at = Timestamptz()
    suspended_at = Timestamptz(null=True, default=None)
    suspension_reason = Text(default="")


class SessionTable(Table, tablename="sessions"):
    id_hash = Varchar(length=64, primary_key=True)
    user_id = ForeignKey(references=UserTable, null=False)
    created_at = Timestamptz()
    expires_at = Timestamptz()
