"""Piccolo tables of the accounts feature (only adapters import them)."""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.table import Table


class UserTable(Table, tablename="users"):
    id = UUID(primary_key=True)
    email = Varchar(length=254)
    email_normalized = Varchar(length=254, unique=True)
    display_name = Varchar(length=80)
    password_hash = Text(secret=True)
    is_creator = Boolean(default=False)
    is_staff = Boolean(default=False)
    created_at = Timestamptz()
    email_verified_at = Timestamptz(null=True, default=None)
    suspended_at = Timestamptz(null=True, default=None)
    suspension_reason = Text(default="")
    email_since = Timestamptz(null=True, default=None)  # when it took its address; None: at sign-up


class SessionTable(Table, tablename="sessions"):
    id_hash = Varchar(length=64, primary_key=True, secret=True)  # SHA-256 of the cookie's token
    id = UUID(unique=True)
    user_id = ForeignKey(references=UserTable, null=False)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    last_seen_at = Timestamptz()
    browser = Varchar(length=80, default="")
    ip_prefix = Varchar(length=64, default="")


class AccountTokenTable(Table, tablename="account_tokens"):
    """Single-use links (e-mail verification, password reset); only the token's SHA-256 is kept."""

    token_hash = Varchar(length=64, primary_key=True, secret=True)
    user_id = ForeignKey(references=UserTable, null=False)
    purpose = Varchar(length=20)
    email = Varchar(length=254)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
