"""piccolo-admin behind Hypha's staff log-in: the bridge, the tables it shows, and the stand-in for
in-memory runs.

How a staff member gets in without a second log-in
--------------------------------------------------
piccolo-admin's API sits behind piccolo_api's `SessionsAuthBackend`, which reads a session token
from the `id` cookie, looks it up in a `SessionsBase` table and loads the `BaseUser` it names (who
must be `admin` and `active`). `create_admin` offers no hook to replace that backend, so Hypha
feeds it what it expects, through piccolo's own tables and rules:

- `ops_admin_users` holds one piccolo user per staff member who has opened the admin, keyed to the
  Hypha user (`hypha_user_id`), `admin` and `active`, with an unusable password;
- `ops_admin_sessions` holds short sessions Hypha opens for them (one hour, renewed when fewer than
  five minutes are left);
- for each request that passed Hypha's staff guard, the bridge copies the ASGI scope and, in the
  copy only, replaces the Cookie header by `csrftoken` (Hypha's, see below) and, for the API,
  `id=<that session>`. The browser's own cookies never reach piccolo-admin, and every Set-Cookie
  that piccolo-admin answers with is dropped, so the piccolo token never leaves the server.

This leans only on documented piccolo pieces (the BaseUser / SessionsBase tables and the `id`
cookie of SessionsAuthBackend); the alternatives were worse: a view disguising Hypha's `users` as
a BaseUser table (uuid keys where piccolo wants integers), or patching piccolo's backend. Who may
enter is decided by Hypha alone: a staff member who loses the role is stopped by the guard before
any piccolo row is looked at, and a token read from the table is useless, as the bridge overwrites
any `id` cookie a browser sends. piccolo-admin's own log-in is refused (staff log in to Hypha), and
its log-out button logs the staff member out of Hypha.

Read-only
---------
The admin runs with `read_only=True`: piccolo registers only GET routes for the tables (a POST,
PUT, PATCH or DELETE is a 405), and refuses password changes and media uploads. Money moves through
the services only (and ledger rows are immutable in the database anyway).

CSRF
----
piccolo-admin's SPA sends the `csrftoken` cookie back as `X-CSRFToken` on unsafe requests, and
piccolo's CSRFMiddleware checks that pair. Litestar's CSRF middleware uses the same cookie and
header names, and it runs first on every request under the mount: one token — Hypha's signed one —
passes both checks. piccolo would set a cookie of its own (an unsigned UUID) when a request has
none, which would then break every Hypha form; dropping piccolo's Set-Cookie headers prevents that.

What is shown
-------------
Every table core and the features declare (found like core.db binds them), grouped by feature,
newest first. Columns declared `secret=True` in their table class, or whose names say they hold
credentials (password, secret, token, a hash), are marked secret: piccolo never selects their values
and refuses filters on them. A table whose very key is such a column (the log-in sessions, the
single-use account tokens) is left out, as are piccolo's own user and session tables.
"""

from __future__ import annotations

import re
import secrets
import types
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from piccolo.columns.base import Column
from piccolo.table import Table

from core.db import Database
from core.identity import Principal
from core.settings import Settings
from core.web import is_https, session_cookie_header
from features.accounts.service import AccountService
from features.ops_admin.tables import OpsAdminSessionTable, OpsAdminUserTable

if TYPE_CHECKING:
    # piccolo-admin brings FastAPI and pydantic (≈ 1.4 s of imports): loaded on the first admin request,
    # not when the web process starts.
    from piccolo_admin.endpoints import TableConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SITE_NAME = "Hypha data admin"
SESSION_LIFETIME = timedelta(hours=1)
RENEW_BEFORE = timedelta(minutes=5)
SECRET_COLUMN = re.compile(r"password|secret|token|private_key|api_key|(?:^|_)hash$")
# A well-formed pbkdf2 record (so piccolo never re-hashes it when loading the row) whose digest "!"
# no password can produce: BaseUser.login() can never succeed for these users.
UNUSABLE_PASSWORD = "pbkdf2_sha256$1$unusable$!"  # noqa: S105 (not a password: none matches it)
PICCOLO_COOKIE = "id"  # SessionsAuthBackend's default cookie name, which create_admin keeps
CSRF_COOKIE = "csrftoken"  # Litestar's and piccolo's default alike (see the module docstring)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class StaffSessions:
    """piccolo-admin users and sessions for Hypha staff members (ops_admin_users / ops_admin_sessions)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def token_for(self, staff: Principal) -> str:
        """A session token piccolo-admin accepts for `staff`, valid for at least RENEW_BEFORE.

        Reuses the staff member's current session; otherwise mirrors them into ops_admin_users
        (created or refreshed) and opens a new one, clearing expired sessions on the way.
        """
        # piccolo's SessionsBase compares its naive `timestamp` columns with datetime.now(), so the
        # expiries are naive local time too (not Hypha's Clock, which piccolo would not see).
        now = datetime.now()  # noqa: DTZ005
        # SQL: a join on piccolo's user id, which SessionsBase keeps as a plain integer (no foreign key to follow).
        token: str | None = await self.db.fetchval(
            "SELECT s.token FROM ops_admin_sessions s JOIN ops_admin_users u ON u.id = s.user_id"
            " WHERE u.hypha_user_id = $1 AND u.admin AND u.active"
            " AND s.expiry_date > $2 AND s.max_expiry_date > $2"
            " ORDER BY s.expiry_date DESC LIMIT 1",
            staff.id,
            now + RENEW_BEFORE,
        )
        if token is not None:
            return token
        async with self.db.atomic():
            mirror = OpsAdminUserTable(  # type: ignore[no-untyped-call]  # piccolo's BaseUser.__init__
                hypha_user_id=staff.id,
                username=staff.email[:100],
                password=UNUSABLE_PASSWORD,
                first_name=staff.display_name[:255],
                email=staff.email[:100],
                active=True,
                admin=True,
                superuser=False,
            )
            user = OpsAdminUserTable
            refreshed: list[Column] = [user.username, user.first_name, user.email, user.active, user.admin]
            users = (
                await OpsAdminUserTable.insert(mirror)
                .on_conflict(target=OpsAdminUserTable.hypha_user_id, action="DO UPDATE", values=refreshed)
                .returning(OpsAdminUserTable.id)
            )
            await OpsAdminSessionTable.delete().where(OpsAdminSessionTable.max_expiry_date <= now)
            token = secrets.token_urlsafe(32)
            expiry = now + SESSION_LIFETIME
            await OpsAdminSessionTable.insert(
                OpsAdminSessionTable(token=token, user_id=users[0]["id"], expiry_date=expiry, max_expiry_date=expiry)
            )
        return token


def _is_credential(column: Column) -> bool:
    """Declared secret in its table class (`secret=True`), or named like a credential."""
    return column._meta.secret or SECRET_COLUMN.search(column._meta.name) is not None


def _names(columns: list[Column]) -> list[str]:
    return [column._meta.name for column in columns]


def _with_columns_secret(table: type[Table], secret: list[Column]) -> type[Table]:
    """A subclass of `table` on the same database table, with the `secret` columns marked secret."""
    overrides: dict[str, Any] = {"__module__": __name__}
    for column in secret:
        hidden = column.copy()
        hidden._meta.secret = True
        overrides[column._meta.name] = hidden
    return types.new_class(
        f"Admin{table.__name__}",
        (table,),
        {"tablename": table._meta.tablename, "db": table._meta.db},
        lambda namespace: namespace.update(overrides),
    )


def admin_tables(tables: Sequence[type[Table]]) -> list[TableConfig]:
    """What the admin shows: every feature's tables (those the database binds), credentials left out
    (see the module docstring)."""
    from piccolo_admin.endpoints import TableConfig
    from piccolo_api.crud.endpoints import OrderBy

    shown: list[TableConfig] = []
    for table in sorted(tables, key=lambda table: table.__module__):  # grouped by feature, by name
        if issubclass(table, (OpsAdminUserTable, OpsAdminSessionTable)):
            continue
        secret = [column for column in table._meta.columns if _is_credential(column)]
        if table._meta.primary_key._meta.name in _names(secret):
            continue
        feature = "core" if table.__module__.startswith("core.") else table.__module__.split(".")[1]
        key = table._meta.primary_key
        if secret:
            table = _with_columns_secret(table, secret)
            key = table._meta.primary_key
            secret = [table._meta.get_column_by_name(name) for name in _names(secret)]
        shown.append(
            TableConfig(
                table_class=table,
                exclude_visible_columns=secret or None,
                exclude_visible_filters=secret or None,
                menu_group=feature.replace("_", " ").capitalize(),
                order_by=[OrderBy(column=key, ascending=False)],
            )
        )
    return shown


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


class PiccoloDataAdmin:
    """The DataAdmin port on piccolo-admin (built on first use: it makes a model per table)."""

    def __init__(self, db: Database, settings: Settings, accounts: AccountService, mount: str) -> None:
        self.sessions = StaffSessions(db)
        self.tables = db.tables
        self.mount = mount
        self.settings = settings
        self.accounts = accounts
        self._app: ASGIApp | None = None

    def app(self) -> ASGIApp:
        if self._app is None:
            from piccolo_admin.endpoints import create_admin

            self._app = create_admin(
                tables=admin_tables(self.tables),
                auth_table=OpsAdminUserTable,
                session_table=OpsAdminSessionTable,
                session_expiry=SESSION_LIFETIME,
                max_session_expiry=SESSION_LIFETIME,
                increase_expiry=None,  # Hypha renews sessions itself; GETs write nothing
                read_only=True,
                auto_include_related=False,  # every shown table is listed; none may come back unfiltered
                production=self.settings.secure_cookies,
                site_name=SITE_NAME,
                allowed_hosts=[urlsplit(self.settings.public_url).hostname or "localhost"],
            )
        return self._app

    async def serve(self, staff: Principal, hypha_session: str | None, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # piccolo-admin has no websockets
            await send({"type": "websocket.close", "code": 1000})
            return
        below: str = scope["path"]  # the path under the mount, with a trailing slash added
        raw: bytes = scope.get("raw_path") or b""
        if below == "/" and not raw.endswith(b"/"):
            # The SPA loads everything relative to its own URL, which must end with a slash.
            query = scope.get("query_string") or b""
            location = self.mount.encode() + b"/" + (b"?" + query if query else b"")
            await _answer(send, 308, b"", [(b"location", location)])
            return
        if below.startswith("/public/login/"):
            await _answer(send, 403, b'{"detail": "Staff log in to Hypha; the admin has no log-in of its own."}')
            return
        if below.startswith("/public/logout/") and scope["method"] == "POST":
            await self.accounts.log_out(hypha_session)
            expired = session_cookie_header("", self.settings, https=is_https(scope, self.settings), max_age=0)
            await _answer(send, 200, b'{"detail": "Logged out of Hypha."}', [(b"set-cookie", expired.encode())])
            return
        if scope["method"] not in SAFE_METHODS and _content_type(scope).startswith(FORM_TYPES):
            # Litestar's CSRF middleware may have read such a body already (looking for its form
            # token): piccolo would wait for a body that is gone. The SPA sends JSON anyway.
            await _answer(send, 415, b'{"detail": "The admin takes JSON."}')
            return
        token = await self.sessions.token_for(staff) if below.startswith("/api/") else None  # pages need none
        inner = dict(scope)
        inner["path"] = self.mount + below
        inner["raw_path"] = quote(inner["path"]).encode("ascii")
        inner["root_path"] = self.mount
        inner["headers"] = [(name, value) for name, value in scope["headers"] if name != b"cookie"]
        if cookies := _admin_cookies(scope, token):
            inner["headers"].append((b"cookie", cookies.encode("latin-1")))

        async def without_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"set-cookie"]
            await send(message)

        await self.app()(inner, receive, without_cookies)


def _content_type(scope: Scope) -> str:
    return next((v.decode("latin-1").lower() for k, v in scope["headers"] if k == b"content-type"), "")


def _admin_cookies(scope: Scope, token: str | None) -> str:
    """The only cookies piccolo-admin sees: Hypha's CSRF token (if any) and the piccolo session (for its API)."""
    cookies = [f"{PICCOLO_COOKIE}={token}"] if token else []
    for name, value in scope["headers"]:
        if name != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key, _, val = part.strip().partition("=")
            if key == CSRF_COOKIE:
                cookies.insert(0, f"{CSRF_COOKIE}={val}")
    return "; ".join(cookies)


class UnavailableDataAdmin:
    """The DataAdmin port when Hypha runs on in-memory adapters: there are no tables to show."""

    async def serve(self, staff: Principal, hypha_session: str | None, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        await _answer(send, 503, b'{"detail": "The data admin needs PostgreSQL."}')
