"""The web edge shared by every feature: templates, CSRF, sessions on requests, flash messages,
security headers, the one page-or-fragment decision for htmx, and the one place where errors become
HTTP responses."""

from __future__ import annotations

import functools
import json
import logging
import operator
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import msgspec
from injector import Injector
from jinja2 import Environment, FileSystemLoader
from litestar import MediaType, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.connection.base import empty_receive, empty_send
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    SerializationException,
    ValidationException,
)
from litestar.middleware import DefineMiddleware
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar_htmx import ClientRedirect, HTMXDetails, HTMXHeaders, HTMXRequest, HTMXTemplate
from markupsafe import Markup

from core.auth import Principal
from core.db import DatabaseUnavailable
from core.di import get_port
from core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    PaymentRequired,
    TooManyRequests,
)
from core.forms import body_errors, route_form_view, submitted
from core.numbers import BIGINT_MAX, InvalidNumber, parse_optional_whole
from core.observability import request_id_var
from core.redirects import UnsafeRedirectTarget, local_path
from core.settings import Settings

if TYPE_CHECKING:
    from typing_extensions import TypeForm

log = logging.getLogger("hypha.web")
access_log = logging.getLogger("hypha.access")
T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
SESSION_COOKIE = "hypha_session"
FLASH_COOKIE = "hypha_flash"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob: data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


@functools.lru_cache(maxsize=4)
def csp_for(gateway_url: str) -> str:
    """The CSP, letting the player fetch segments from the IPFS gateway's origin when one is set."""
    if not gateway_url:
        return CSP
    parts = urlsplit(gateway_url)
    return CSP.replace("connect-src 'self'", f"connect-src 'self' {parts.scheme}://{parts.netloc}")


def template_directories() -> list[Path | os.PathLike[Any] | str]:
    dirs: list[Path | os.PathLike[Any] | str] = [ROOT / "core" / "templates"]
    dirs.extend(sorted(p for p in (ROOT / "features").glob("*/templates") if p.is_dir()))
    return dirs


class TemplateEnvironment(Environment):
    """Jinja's environment with each template's globals as one plain dict.

    Jinja's own `make_globals` gives every template a ChainMap over the environment's globals, which
    each render and each `{% include %}` then copies key by key in Python (`dict(globals, **vars)`,
    `set(globals)`): ≈ 10 µs per render of the unlock panel and ≈ 3 µs per include. Jinja asks that
    globals not change once a template is loaded; here they are all registered when the engine is
    made (`template_config`), before any template loads, so a snapshot is the same thing."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


class TemplateEngine(JinjaTemplateEngine):
    """Litestar's Jinja engine on a `TemplateEnvironment` that never re-reads template files: a template
    is compiled once per process (a deploy restarts the process, as it must for the Python code), where
    Jinja's default checks each file's modification time on every render and every include. Templates
    stay cached for the life of the process (there are a bounded number of files; no LRU lock)."""

    def __init__(self, directory: Path | list[Path] | None = None, engine_instance: Environment | None = None) -> None:
        if directory is not None and engine_instance is None:
            engine_instance = TemplateEnvironment(
                loader=FileSystemLoader(searchpath=directory), autoescape=True, auto_reload=False, cache_size=-1
            )
        super().__init__(directory=None, engine_instance=engine_instance)


def public_url(request: Request[Any, Any, Any]) -> str:
    """The site's public address (BASE_URL) without a trailing slash, for absolute links in pages that
    anyone may be served from a cache: never `request.base_url`, whose host is the client's Host header."""
    settings: Settings = request.app.state.settings
    return settings.public_url.rstrip("/")


def link_base(request: Request[Any, Any, Any]) -> str:
    """Where links a person copies to hand out start (a video's share link), without a trailing slash:
    BASE_URL when it is set — whatever name the person reached the site by (an internal address, a proxy
    passing its own Host) — and otherwise the address the request came by (a local run, reached as
    localhost or by the machine's address on the network). Only on pages served to the person alone."""
    settings: Settings = request.app.state.settings
    return (settings.base_url or str(request.base_url)).rstrip("/")


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    def configure(engine: JinjaTemplateEngine) -> None:
        env = engine.engine
        env.globals["pop_flashes"] = pop_flashes
        env.globals["current_user"] = lambda request: request.scope.get("user")
        env.globals["wants_fragment"] = wants_fragment
        env.globals["public_url"] = public_url
        env.globals["link_base"] = link_base
        env.filters["points"] = lambda value: f"{int(value):,}"
        env.filters["money"] = format_money
        env.filters["duration"] = format_duration
        env.filters["attrs"] = html_attrs
        env.filters["plural"] = plural
        env.filters["any_with"] = any_with
        env.filters["tojson_attr"] = lambda value: json.dumps(value, separators=(",", ":"))

    return TemplateConfig(directory=template_directories(), engine=TemplateEngine, engine_callback=configure)


def exact_path_patterns(paths: list[str]) -> list[str]:
    """Litestar's `exclude` takes regular expressions searched anywhere in the path; these match each
    path exactly (`\\Z`, unlike `$`, does not also match before a trailing newline)."""
    for path in paths:
        if not path.startswith("/") or any(c in path for c in "*?#"):
            raise ValueError(f"a CSRF exemption must be one exact path, not {path!r}")
    return [f"^{re.escape(path)}\\Z" for path in paths]


def csrf_config(settings: Settings, secret: str, exempt: list[str]) -> CSRFConfig:
    """CSRF on every unsafe request, except on the exact paths in `exempt` (signature-checked webhooks)."""
    return CSRFConfig(
        secret=secret,
        cookie_secure=settings.secure_cookies,
        cookie_samesite="lax",
        exclude=exact_path_patterns(exempt) or None,
    )


def inject(cls: TypeForm[T]) -> Provide:
    """A Litestar dependency that takes `cls` (a class or a port) from the application's injector."""

    def provider(state: State) -> T:
        return get_port(cast(Injector, state.injector), cls)

    return Provide(provider, sync_to_thread=False)


def format_money(minor: int, currency: str = "USD") -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency.upper(), currency.upper() + " ")
    return f"{symbol}{minor // 100:,}.{minor % 100:02d}"


_ATTR_NAME = re.compile(r"[a-zA-Z_:][-a-zA-Z0-9_:.]*")


def html_attrs(values: Mapping[str, Any]) -> Markup:
    """The `attrs` template filter: ` name="value"` for each item, every value escaped once.

    True gives a bare boolean attribute, False and None leave the attribute out. Only a mapping is
    accepted: a string of ready-made markup would be escaped as text (`maxlength=&#34;120&#34;`)."""
    if not isinstance(values, Mapping):
        raise TypeError(f"attrs takes a mapping of attribute names to values, not {type(values).__name__}")
    parts: list[Markup] = []
    for name, value in values.items():
        if not _ATTR_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an attribute name")
        if value is None or value is False:
            continue
        parts.append(Markup(" {}").format(name) if value is True else Markup(' {}="{}"').format(name, str(value)))
    return Markup("").join(parts)


@functools.lru_cache(maxsize=64)
def _attribute_getter(attribute: str) -> Callable[[Any], Any]:
    return operator.attrgetter(attribute)


def any_with(items: Iterable[Any], attribute: str) -> bool:
    """The `any_with` template filter: whether any item's (dotted) attribute is truthy —
    `choices | any_with("offer.duration")`. What `selectattr(...) | list` answers, without the list or
    Jinja's parsing of the attribute path on every call (≈ 15 µs on the unlock panel)."""
    getter = _attribute_getter(attribute)
    return any(getter(item) for item in items)


def plural(count: int, singular: str, plural_form: str = "") -> str:
    """The `plural` template filter: `1|plural("sale")` → "1 sale", `1200|plural("sale")` → "1,200 sales"."""
    word = singular if abs(int(count)) == 1 else (plural_form or singular + "s")
    return f"{int(count):,} {word}"


def format_duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def cookie_value(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


def is_https(scope: Scope, settings: Settings) -> bool:
    return scope.get("scheme") == "https" or settings.secure_cookies


_SESSION_COOKIE_PREFIX = f"{SESSION_COOKIE}=".encode()


def _sets_session_cookie(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"set-cookie" and value.startswith(_SESSION_COOKIE_PREFIX) for name, value in headers)


async def security_headers_on_every_response(message: Message, scope: Scope) -> None:
    """A before-send hook: responses that never reach WebMiddleware (the router's 404/405, the CSRF
    middleware's 403) get the same security headers as routed ones."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", []))
    names = {k.lower() for k, _ in headers}
    wanted = [
        (b"content-security-policy", csp_for(scope["app"].state.settings.ipfs_gateway_url).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]
    if is_https(scope, scope["app"].state.settings):
        wanted.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    if isinstance(scope.get("user"), Principal) or _sets_session_cookie(headers):
        # Whatever was rendered for a session is that person's (their name, balance, mail, drafts, a
        # staff desk): no shared or history cache keeps it, unless the handler chose its own caching.
        wanted.append((b"cache-control", b"no-store"))
    missing = [(name, value) for name, value in wanted if name not in names]
    if missing:
        message["headers"] = headers + missing


_TEXT_LIKE = re.compile(
    r"^(?:text/.+|application/(?:json|.+\+json|vnd\.apple\.mpegurl|x-mpegurl|javascript|xml|.+\+xml))$"
)


def one_charset(content_type: str) -> str:
    """`content_type` naming its charset exactly once: a text-like type (text/*, JSON, HLS playlists,
    XML) gets `charset=utf-8` if it has none, a repeated charset parameter is dropped (Litestar appends
    one to a text/* type that already had it), other types are left alone. Every body here is UTF-8."""
    main, *params = (part.strip() for part in content_type.split(";"))
    kept: list[str] = []
    has_charset = False
    for param in params:
        if not param:
            continue
        if param.lower().replace(" ", "").startswith("charset="):
            if has_charset:
                continue
            has_charset = True
        kept.append(param)
    if not has_charset and _TEXT_LIKE.match(main.lower()):
        kept.append("charset=utf-8")
    return "; ".join([main, *kept])


async def one_charset_on_every_response(message: Message, scope: Scope) -> None:
    """A before-send hook: every response's Content-Type names its charset once (see `one_charset`)."""
    if message["type"] != "http.response.start":
        return
    headers = message.get("headers", [])
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"content-type":
            fixed = one_charset(value.decode("latin-1")).encode("latin-1")
            if fixed != value:
                headers = list(headers)
                headers[index] = (name, fixed)
                message["headers"] = headers
            return


def session_cookie_header(token: str, settings: Settings, *, https: bool, max_age: int | None = None) -> str:
    parts = [f"{SESSION_COOKIE}={token}", "Path=/", "HttpOnly", "SameSite=Lax"]
    parts.append(f"Max-Age={settings.session_max_age if max_age is None else max_age}")
    if https:
        parts.append("Secure")
    return "; ".join(parts)


def set_session_cookie(response: Response[Any], request: Request[Any, Any, Any], token: str | None) -> None:
    """Set (or with None, clear) the session cookie on a response; Secure when served over HTTPS."""
    settings: Settings = request.app.state.settings
    https = is_https(request.scope, settings)
    response.set_cookie(
        SESSION_COOKIE,
        token or "",
        max_age=settings.session_max_age if token else 0,
        httponly=True,
        samesite="lax",
        secure=https,
        path="/",
    )


def flash(response: Response[Any], message: str, level: str = "success") -> Response[Any]:
    response.set_cookie(
        FLASH_COOKIE, quote(json.dumps([level, message])), max_age=60, httponly=True, samesite="lax", path="/"
    )
    return response


def pop_flashes(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    raw = request.scope.get("state", {}).get("flash")
    if not raw:
        return []
    request.scope["state"]["flash_shown"] = True
    try:
        # Typed decoding: a planted cookie nested past the recursion limit fails at its second level.
        level, message = msgspec.json.decode(unquote(raw), type=tuple[str, str])
    except (msgspec.DecodeError, ValueError):
        return []
    return [(level, message)]


# -- htmx: the whole page, or the part of it htmx swaps ------------------------------------------


class HyphaRequest(HTMXRequest, Request[Principal | None, str | None, State]):
    """The request every handler gets (the app's `request_class`): `request.htmx` is what htmx asked
    for (litestar-htmx), `request.user` the logged-in Principal or None (`SessionAuthentication`),
    `request.auth` the session token that named them."""

    __slots__ = ()

    def __init__(self, scope: Scope, receive: Receive = empty_receive, send: Send = empty_send) -> None:
        # Not HTMXRequest.__init__: it keeps an HTMXDetails that points back at the request, a reference
        # cycle that holds the request, its scope and every send wrapper of the middleware until the
        # garbage collector's next pass (≈ 60 objects per request, and the collections they cause).
        Request.__init__(self, scope, receive, send)

    @property
    def htmx(self) -> HTMXDetails:  # type: ignore[override]
        """What htmx asked for (litestar-htmx's HTMXDetails, made when asked)."""
        return HTMXDetails(self)

    async def json(self) -> Any:
        """The JSON body (Litestar's decoding); a body nested past the decoder's recursion limit is the
        client's mistake (`JSONTooDeep`, a 422), not a RecursionError for the catch-all handler."""
        try:
            return await super().json()
        except RecursionError as error:
            raise JSONTooDeep(JSON_TOO_DEEP) from error


JSON_TOO_DEEP = "The request body is nested too deeply."
MULTIPART_LIMIT_DETAIL = "Request Entity Too Large"


class JSONTooDeep(SerializationException):
    """A JSON body nested deeper than the decoder can follow."""


_VARY = "vary_on"


def _answer_depends_on(request: Request[Any, Any, Any], *headers: str) -> None:
    """Note that the answer to `request` differs by these request headers: `vary_on_what_was_read`
    names them in the response's Vary, so no cache hands a fragment to a browser asking for the page."""
    seen: dict[str, None] = request.scope.setdefault("state", {}).setdefault(_VARY, {})
    seen.update(dict.fromkeys(headers))


def wants_fragment(request: Request[Any, Any, Any], *, target: str | None = None) -> bool:
    """Whether htmx will swap this answer into a page already shown, so a fragment is wanted: htmx
    sent it (`HX-Request`; with `target`, aimed at the element of that id) and it is not a history
    restore (htmx asking, after a miss in its history cache, for the whole page to put back).

    The one place the htmx request headers decide anything: every answer that asked is marked to vary
    by them."""
    htmx = request.htmx if isinstance(request, HTMXRequest) else HTMXDetails(request)
    read = [HTMXHeaders.REQUEST.value, HTMXHeaders.HISTORY_RESTORE_REQUEST.value]
    if target is not None:
        read.append(HTMXHeaders.TARGET.value)
    _answer_depends_on(request, *read)
    return bool(htmx) and not htmx.history_restore_request and (target is None or htmx.target == target)


def page_or_fragment(
    request: Request[Any, Any, Any],
    *,
    page: str,
    fragment: str,
    context: Mapping[str, Any],
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    target: str | None = None,
    trigger: str | None = None,
) -> Template:
    """The `fragment` template (a partial that `page` includes) when htmx swaps it in, the whole `page`
    for a plain browser and for htmx's history restore; Vary names the headers that chose. `trigger`
    names an event htmx fires on the page when the answer arrives (e.g. `wallet-changed`)."""
    return HTMXTemplate(
        template_name=fragment if wants_fragment(request, target=target) else page,
        context=dict(context),
        media_type=MediaType.HTML,
        status_code=status_code,
        headers=dict(headers or {}),
        trigger_event=trigger,
        after="receive" if trigger else None,
    )


async def vary_on_what_was_read(message: Message, scope: Scope) -> None:
    """A before-send hook: an answer that depended on htmx's request headers (`wants_fragment`) names
    them in Vary, merged with any Vary the response already has."""
    if message["type"] != "http.response.start":
        return
    read: dict[str, None] = scope.get("state", {}).get(_VARY) or {}
    if not read:
        return
    headers = list(message.get("headers", []))
    names = [
        name.strip()
        for key, value in headers
        if key.lower() == b"vary"
        for name in value.decode("latin-1").split(",")
        if name.strip()
    ]
    if "*" in names:
        return
    known = {name.lower() for name in names}
    names += [name for name in read if name.lower() not in known]
    kept = [(key, value) for key, value in headers if key.lower() != b"vary"]
    message["headers"] = [*kept, (b"vary", ", ".join(names).encode("latin-1"))]


def redirect(path: str, request: Request[Any, Any, Any] | None = None) -> Response[Any]:
    """A 303 to `path`; to htmx, which would swap a followed redirect's page into the element, an
    `HX-Redirect` that makes the browser go there itself."""
    if request is not None and wants_fragment(request):
        return _client_redirect(path, 200)
    return Redirect(path=path, status_code=303)


def _client_redirect(path: str, status_code: int) -> ClientRedirect:
    """htmx's `HX-Redirect` to `path`. The status is set here: left unset, a POST handler's 201 (or
    whatever its decorator says) would be used."""
    response = ClientRedirect(path)
    response.status_code = status_code
    return response


def login_url(path: str) -> str:
    """The log-in page, with `path` as where to come back to when it is a same-origin path."""
    try:
        back = local_path(path)
    except UnsafeRedirectTarget:
        back = ""
    return f"/login?next={quote(back, safe='/')}" if back else "/login"


SessionResolver = Callable[[str], Awaitable[Principal | None]]

# Paths answered without knowing who asks: static files and the probes cost no session look-up.
NO_SESSION_PATHS = ["^/static/", *exact_path_patterns(["/healthz", "/readyz"])]


class SessionAuthentication(AbstractAuthenticationMiddleware):
    """Optional authentication: the session cookie's token, looked up (hashed) by the app state's
    `session_resolver`, gives `request.user` — the Principal, or None for a visitor or a stale session;
    `request.auth` is the token. Nothing is refused here: the guards in core.auth decide per route."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = cookie_value(connection.scope, SESSION_COOKIE)
        resolve: SessionResolver = connection.app.state.session_resolver
        principal = await resolve(token) if token else None
        return AuthenticationResult(user=principal, auth=token)


def session_authentication() -> DefineMiddleware:
    """`SessionAuthentication` on every route except `NO_SESSION_PATHS`."""
    return DefineMiddleware(SessionAuthentication, exclude=NO_SESSION_PATHS)


class WebMiddleware:
    """Carries flash messages and the request id, drops a stale session's cookie, logs each request.
    It runs outside `SessionAuthentication`, which puts the Principal (or None) on the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings: Settings = state.settings
        token = cookie_value(scope, SESSION_COOKIE)
        scope["user"] = None  # until SessionAuthentication says who it is (it skips NO_SESSION_PATHS)
        scope_state = scope.setdefault("state", {})
        scope_state["flash"] = cookie_value(scope, FLASH_COOKIE)
        scope_state["session_token"] = token
        incoming_id = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), "")
        request_id = incoming_id if 8 <= len(incoming_id) <= 64 and incoming_id.isalnum() else secrets.token_hex(8)
        scope_state["request_id"] = request_id
        id_token = request_id_var.set(request_id)
        https = is_https(scope, settings)
        started = time.perf_counter()
        status_holder = [0]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                # Security headers come from `security_headers_on_every_response` (all responses).
                extra = [(b"x-request-id", scope_state["request_id"].encode())]
                cookies = []
                if scope.get("auth") and scope.get("user") is None and scope["path"] != "/logout":
                    # A stale or destroyed session (SessionAuthentication found no one): drop the cookie.
                    expired = session_cookie_header("", settings, https=https, max_age=0)
                    cookies.append((b"set-cookie", expired.encode()))
                if scope_state.get("flash_shown"):
                    cookies.append((b"set-cookie", f"{FLASH_COOKIE}=; Path=/; Max-Age=0".encode()))
                message["headers"] = headers + [h for h in extra if h[0] not in names] + cookies
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if (
                scope["type"] == ScopeType.HTTP
                and not scope["path"].startswith("/static/")
                and access_log.isEnabledFor(logging.INFO)  # no line's fields built when the level drops it
            ):
                access_log.info(
                    "%s %s %s",
                    scope.get("method", ""),
                    scope["path"],
                    status_holder[0],
                    extra={
                        "status": status_holder[0],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "user_id": str(user.id) if isinstance(user := scope.get("user"), Principal) else None,
                    },
                )
            request_id_var.reset(id_token)


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return wants_fragment(request) or "text/html" in accept or (accept in ("", "*/*") and (request.method == "GET"))


def _error_response(request: Request[Any, Any, Any], status: int, message: str, **headers: str) -> Response[Any]:
    if wants_fragment(request):
        return HTMXTemplate(
            template_name="_error_fragment.html",
            context={"status": status, "message": message},
            status_code=status,
            headers=headers,
            re_swap="innerHTML",
        )
    if _wants_html(request):
        return Template(
            template_name="error.html",
            context={"status": status, "message": message},
            status_code=status,
            headers=headers,
        )
    return Response(content={"status_code": status, "detail": message}, status_code=status, headers=headers)


def _page_to_come_back_to(request: Request[Any, Any, Any]) -> str:
    """Where a person sent to log in comes back to. An action (a POST) or a fragment is no page: for
    htmx, the page it was on (`HX-Current-URL`); for a plain form, the page that holds it (the browser's
    `Referer`, same-origin only by the site's referrer policy) — either only when it names this site.
    Otherwise the path asked for (a GET), or nowhere in particular."""
    if wants_fragment(request):
        if current := _this_sites_path(request, request.headers.get("hx-current-url", "")):
            return current
    elif request.method != "GET":
        return _this_sites_path(request, request.headers.get("referer", ""))
    # raw_path: the path as the browser sent it (a mount such as /ops/queue strips its prefix).
    raw = request.scope.get("raw_path") or b""
    return raw.decode("latin-1") if raw else request.url.path


def _this_sites_path(request: Request[Any, Any, Any], url: str) -> str:
    """The path and query of `url` when it is an address of this site, else ""."""
    parts = urlsplit(url)
    if parts.netloc != request.url.netloc or not parts.path:
        return ""
    return parts.path + (f"?{parts.query}" if parts.query else "")


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException) and _wants_html(request):
        target = login_url(_page_to_come_back_to(request))
        if wants_fragment(request):
            return _client_redirect(target, 401)
        return Redirect(path=target, status_code=303)
    message = exc.detail if status < 500 else "Something went wrong on our side."
    if status == 404 and message in ("", "Not Found"):
        message = "We could not find that page."
    extra = dict(exc.headers or {})
    return _error_response(request, status, message, **extra)


DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (Gone, 410),
    (Forbidden, 403),
    (Conflict, 409),
    (InvalidInput, 422),
    (PaymentRequired, 402),
    (TooManyRequests, 429),
]


def handle_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    status = next((code for family, code in DOMAIN_STATUS if isinstance(exc, family)), 400)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else {}
    return _error_response(request, status, exc.message, **headers)


def handle_validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """A body Litestar could not decode into the route's DTO (see core.forms): the route's form again
    with the submitted values and an error beside each field (422; htmx gets the fragment), or, for a
    route without a form view, a 422 naming the fields (a JSON body lists them under "errors"). A bad
    query or path parameter stays a 400 naming it."""
    errors = body_errors(request, exc)
    if not errors:
        return handle_http_exception(request, exc)
    view = route_form_view(request)
    if view is None:
        message = "; ".join(f"{field}: {text}" for field, text in errors.items())
        if _wants_html(request):
            return _error_response(request, 422, message)
        return Response(content={"status_code": 422, "detail": message, "errors": errors}, status_code=422)
    values = submitted(request)
    context: dict[str, Any] = {"form": values, "errors": errors}
    if view.context is not None:
        context |= view.context(request, values)
    return page_or_fragment(
        request,
        page=view.page,
        fragment=view.fragment,
        context=context,
        status_code=422,
        headers={"Cache-Control": "no-store"},
    )


def handle_client_error(request: Request[Any, Any, Any], exc: ClientException) -> Response[Any]:
    """A body Litestar could not parse at all (malformed JSON) is unprocessable input, a 422 like a body
    of the wrong shape; any other client error keeps its own status."""
    if exc.status_code == 400 and exc.detail == MULTIPART_LIMIT_DETAIL:
        # Litestar's multipart parser past `multipart_form_part_limit` (a 400 "for backwards compatibility")
        return _error_response(request, 413, "The form is too large: it holds too many fields.")
    if isinstance(exc.__cause__, JSONTooDeep):
        return _error_response(request, 422, JSON_TOO_DEEP)
    if isinstance(exc.__cause__, SerializationException):
        return _error_response(request, 422, "The request body is not valid JSON.")
    return handle_http_exception(request, exc)


def handle_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.warning("database unavailable: %s", exc)
    return _error_response(
        request, 503, "Hypha is briefly unavailable. Please try again in a moment.", **{"Retry-After": "5"}
    )


# PostgreSQL refusing or dropping connections: shutting down, restarting, or a backend terminated.
DATABASE_GONE: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.InternalClientError,  # a pooled connection caught mid-way by the server's shutdown message
)


def handle_server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, DATABASE_GONE):
        return handle_unavailable(request, exc)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(request, 500, "Something went wrong on our side. It has been logged.")


def handle_unstorable_text(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Input PostgreSQL cannot hold (a NUL character in any text) is the client's mistake, not ours."""
    return _error_response(request, 400, "The request holds characters that cannot be stored (such as NUL).")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: handle_http_exception,
    asyncpg.CharacterNotInRepertoireError: handle_unstorable_text,
    DomainError: handle_domain_error,
    ClientException: handle_client_error,
    ValidationException: handle_validation_error,
    DatabaseUnavailable: handle_unavailable,
    Exception: handle_server_error,
}


def query_number(value: str | None, *, name: str, minimum: int = 0, maximum: int = BIGINT_MAX) -> int | None:
    """A numeric query value read strictly (ASCII digits, within range: see core.numbers); None when
    absent or blank. Anything else is a 400 whose message names the parameter — never a 500, and
    never the lenient reading of a framework int ("1e3", "-0", 10**30)."""
    try:
        return parse_optional_whole(value, name=f"The {name} parameter", minimum=minimum, maximum=maximum)
    except InvalidNumber as error:
        raise ValidationException(detail=error.message) from error
