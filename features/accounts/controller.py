"""Pages for signing up, logging in and out, the account page (e-mail, password, verification), the
password reset pages and the sessions page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Template

from core.auth import current_principal, login_required, verified_required
from core.errors import InvalidInput, TooManyRequests
from core.forms import form_view
from core.identity import Principal
from core.redirects import UnsafeRedirectTarget
from core.web import flash, inject, page_or_fragment, plural, redirect, set_session_cookie
from features.accounts.dto import (
    ASK_CURRENT,
    EmailChangeForm,
    ForgotPasswordForm,
    LoginForm,
    PasswordChangeForm,
    ResendForm,
    ResetPasswordForm,
    SignupForm,
    TokenForm,
    form_next,
    safe_next,
)
from features.accounts.model import (
    MIN_PASSWORD,
    AccountSuspended,
    ClientInfo,
    EmailTaken,
    InvalidCredentials,
    InvalidLink,
    LoginThrottled,
    PasswordChecksThrottled,
    SignupThrottled,
    TokenPurpose,
    check_password,
)
from features.accounts.service import AccountService

NO_STORE = {"Cache-Control": "no-store"}
FORGOT_ANSWER = (
    "If an account uses that address, we have mailed it a link to choose a new password. "
    "The link works once, for {minutes} minutes."
)


def _client(request: Request[Any, Any, Any]) -> ClientInfo:
    ip = request.client.host if request.client else ""
    return ClientInfo.from_request(request.headers.get("user-agent", ""), ip)


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the route's guard made sure
    return principal


def _me_page(
    request: Request[Any, Any, Any],
    *,
    fragment: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Template:
    """The account page, or (htmx) just the form that was sent, with its errors inline."""
    context = {
        "user": _me(request),
        "panels": request.app.state.get("me_panels", []),
        "errors": errors or {},
        "form": form or {},
        "min_password": MIN_PASSWORD,
    }
    if not fragment:
        return Template(template_name="accounts/me.html", context=context, status_code=status, headers=NO_STORE)
    return page_or_fragment(
        request, page="accounts/me.html", fragment=fragment, context=context, status_code=status, headers=NO_STORE
    )


def _form_page(
    request: Request[Any, Any, Any], page: str, fragment: str, context: dict[str, Any], status: int
) -> Template:
    """htmx gets just the form back; a plain browser gets the whole page."""
    return page_or_fragment(request, page=page, fragment=fragment, context=context, status_code=status)


def _again(request: Request[Any, Any, Any], values: dict[str, str]) -> dict[str, Any]:
    """A sign-up or log-in form shown again (core.forms): `next` carried on only as a safe local path."""
    try:
        back = form_next(values.get("next", ""))
    except UnsafeRedirectTarget:
        back = ""
    return {"form": values | {"next": back}}


def _me_again(request: Request[Any, Any, Any], values: dict[str, str]) -> dict[str, Any]:
    """The account page around a form of its that did not validate (core.forms)."""
    return {
        "user": _me(request),
        "panels": request.app.state.get("me_panels", []),
        "min_password": MIN_PASSWORD,
    }


async def _rotate_session(
    request: Request[Any, Any, Any], accounts: AccountService, user_id: UUID, response: Response[Any]
) -> None:
    """Give this browser a new session token (the one it came with stops working, wherever a copy is)."""
    token = await accounts.rotate_session(user_id, request.scope["state"].get("session_token"), _client(request))
    set_session_cookie(response, request, token)


def _client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class AccountsController(Controller):
    dependencies = {"accounts": inject(AccountService)}

    # The home page "/" belongs to the catalog: it shows accounts/landing.html to visitors above the feed.

    @get("/signup")
    async def signup_page(self, request: Request[Any, Any, Any], next: FromQuery[str] = "") -> Response[Any]:
        next = form_next(next)  # a 400 for control characters, "" for anything off-site
        if current_principal(request):
            return redirect(next or "/me")
        return Template(template_name="accounts/signup.html", context={"form": {"next": next}, "errors": {}})

    @post("/signup", opt=form_view("accounts/signup.html", "accounts/_signup_form.html", _again))
    async def signup(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        data: URLEncodedBody[SignupForm],
    ) -> Response[Any]:
        form = data  # the address and password are valid (SignupForm's rules)
        target = safe_next(form.next)
        errors: dict[str, str] = {}
        try:
            user = await accounts.sign_up(form.email, form.password, form.display_name, ip=_client_ip(request))
        except EmailTaken as error:
            errors["email"] = error.message
        except SignupThrottled as error:
            context = {
                "form": {"email": form.email, "display_name": form.display_name, "next": form_next(form.next)},
                "errors": {"form": error.message},
            }
            page = _form_page(request, "accounts/signup.html", "accounts/_signup_form.html", context, 429)
            page.headers["Retry-After"] = str(max(1, error.retry_after))
            return page
        if errors:
            context = {
                "form": {"email": form.email, "display_name": form.display_name, "next": form_next(form.next)},
                "errors": errors,
            }
            return _form_page(request, "accounts/signup.html", "accounts/_signup_form.html", context, 422)
        token = await accounts.open_session(user, request.scope["state"].get("session_token"), _client(request))
        await accounts.send_verification(user.id, then=target if target != "/me" else "")
        response = redirect(target, request)
        set_session_cookie(response, request, token)
        return flash(
            response,
            f"Welcome to Hypha, {user.display_name}! We mailed a link to {user.email}: "
            "open it to confirm your address.",
        )

    @get("/login")
    async def login_page(self, request: Request[Any, Any, Any], next: FromQuery[str] = "") -> Response[Any]:
        next = form_next(next)  # a 400 for control characters, "" for anything off-site
        if current_principal(request):
            return redirect(next or "/me")
        return Template(template_name="accounts/login.html", context={"form": {"next": next}, "errors": {}})

    @post("/login", opt=form_view("accounts/login.html", "accounts/_login_form.html", _again))
    async def login(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        data: URLEncodedBody[LoginForm],
    ) -> Response[Any]:
        form = data
        target = safe_next(form.next)
        ip = _client_ip(request)
        status, retry_after = 422, 0
        try:  # both fields are filled in (LoginForm's rule)
            user, token = await accounts.log_in(
                form.email, form.password, ip, request.scope["state"].get("session_token"), _client(request)
            )
        except LoginThrottled as error:
            status, message, retry_after = 429, error.message, error.retry_after
        except InvalidCredentials as error:
            message = error.message
        except AccountSuspended as error:
            status, message = 403, error.message
        else:
            response = redirect(target, request)
            set_session_cookie(response, request, token)
            return flash(response, f"Welcome back, {user.display_name}.")
        context = {"form": {"email": form.email, "next": form_next(form.next)}, "errors": {"form": message}}
        page = _form_page(request, "accounts/login.html", "accounts/_login_form.html", context, status)
        if status == 429:
            page.headers["Retry-After"] = str(max(1, retry_after))
        return page

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService]) -> Response[Any]:
        await accounts.log_out(request.scope["state"].get("session_token"))
        response = redirect("/", request)
        set_session_cookie(response, request, None)
        return flash(response, "You have logged out.", "info")

    @get("/me", guards=[login_required])
    async def me(self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService]) -> Template:
        return _me_page(request)

    @post("/me/creator", guards=[verified_required])
    async def become_creator(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService]
    ) -> Response[Any]:
        principal = current_principal(request)
        assert principal is not None
        await accounts.become_creator(principal.id)
        response = redirect("/me", request)
        await _rotate_session(request, accounts, principal.id, response)
        return flash(response, "You are now a creator. Your studio is ready.")

    # -- e-mail verification and change -----------------------------------------------------------

    @post("/me/verify/resend", guards=[login_required])
    async def resend_verification(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        data: URLEncodedBody[ResendForm],
    ) -> Response[Any]:
        """Send the link again (rate-limited per account), then go back to the page it was asked on."""
        me = _me(request)
        back = safe_next(data.next or _same_site_referer(request), "/me")
        if me.email_verified:
            return flash(redirect("/me", request), "Your e-mail address is already confirmed.", "info")
        try:
            sent = await accounts.send_verification(me.id, then=back if back != "/me" else "")
        except TooManyRequests as error:
            return flash(redirect(back, request), error.message, "error")
        if not sent:
            return flash(redirect(back, request), "We could not send the mail just now. Please try again.", "error")
        return flash(redirect(back, request), f"We mailed a new link to {me.email}. It works once.")

    @get("/verify-email")
    async def verify_email_page(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        token: FromQuery[str] = "",
        next: FromQuery[str] = "",
    ) -> Template:
        """The link in the mail: a page with one button (a GET never changes anything, so a mail
        scanner that opens links cannot use one up). `next`, the page the person signed up on, is
        where the button leads."""
        try:
            found = await accounts.check_link(token, TokenPurpose.VERIFY_EMAIL)
        except InvalidLink as error:
            return _link_invalid(request, error.message, "verify")
        context = {"token": token, "email": found.email, "next": form_next(next)}
        return Template(template_name="accounts/verify_email.html", context=context, headers=NO_STORE)

    @post("/verify-email")
    async def verify_email(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        data: URLEncodedBody[TokenForm],
    ) -> Response[Any]:
        form = data
        try:
            user = await accounts.verify_email(form.token)
        except InvalidLink as error:
            return _link_invalid(request, error.message, "verify")
        me = current_principal(request)
        then = safe_next(form.next, "")
        if me is not None and me.id == user.id:
            target = then or "/me"  # back to the video the person signed up on
        else:
            target = f"/login?next={quote(then, safe='/')}" if then else "/login"
        return flash(redirect(target, request), f"Thank you: {user.email} is confirmed.")

    @post(
        "/me/email", guards=[login_required], opt=form_view("accounts/me.html", "accounts/_email_form.html", _me_again)
    )
    async def change_email(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        data: URLEncodedBody[EmailChangeForm],
    ) -> Response[Any]:
        form = data  # a valid address and a password (EmailChangeForm's rules)
        errors: dict[str, str] = {}
        status = 422
        try:
            user = await accounts.change_email(_me(request).id, form.password, form.new_email)
        except TooManyRequests as error:
            key = "email_password" if isinstance(error, PasswordChecksThrottled) else "new_email"
            errors[key], status = error.message, 429
        except EmailTaken:
            errors["new_email"] = "Another account uses this address."
        except InvalidInput as error:
            key = "email_password" if "password" in error.message else "new_email"
            errors[key] = error.message
        else:
            return flash(
                redirect("/me", request),
                f"Your address is now {user.email}. Open the link we mailed there to confirm it; "
                "we told your old address too.",
            )
        return _me_page(
            request,
            fragment="accounts/_email_form.html",
            errors=errors,
            status=status,
            form={"new_email": form.new_email},
        )

    # -- passwords ---------------------------------------------------------------------------------

    @post(
        "/me/password",
        guards=[login_required],
        opt=form_view("accounts/me.html", "accounts/_password_form.html", _me_again),
    )
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        data: URLEncodedBody[PasswordChangeForm],
    ) -> Response[Any]:
        form = data
        errors: dict[str, str] = {}
        status = 422
        if not form.current_password:
            errors["current_password"] = ASK_CURRENT
        try:
            check_password(form.new_password, _me(request).email)
        except InvalidInput as error:
            errors["new_password"] = error.message
        if not errors:
            try:
                ended = await accounts.change_password(
                    _me(request).id,
                    form.current_password,
                    form.new_password,
                    request.scope["state"].get("session_token"),
                )
            except TooManyRequests as error:
                errors["current_password"], status = error.message, 429
            except InvalidInput as error:
                key = "current_password" if "current" in error.message else "new_password"
                errors[key] = error.message
            else:
                others = plural(ended, "other session")
                response = redirect("/me", request)
                await _rotate_session(request, accounts, _me(request).id, response)
                return flash(response, f"Your password is changed. We logged out {others}.")
        return _me_page(request, fragment="accounts/_password_form.html", errors=errors, status=status)

    @get("/forgot-password")
    async def forgot_password_page(self, request: Request[Any, Any, Any]) -> Template:
        return Template(template_name="accounts/forgot_password.html", context={"form": {}, "errors": {}, "sent": ""})

    @post(
        "/forgot-password",
        opt=form_view("accounts/forgot_password.html", "accounts/_forgot_form.html", lambda _r, _v: {"sent": ""}),
    )
    async def forgot_password(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        data: URLEncodedBody[ForgotPasswordForm],
    ) -> Response[Any]:
        """The same answer, in the same time, whether an account has the address or not; the mail
        itself goes out after the answer."""
        form = data  # a valid address (ForgotPasswordForm's rules)
        ip = request.client.host if request.client else "unknown"
        address = await accounts.request_password_reset(form.email, ip)  # TooManyRequests → 429 page
        answer = FORGOT_ANSWER.format(minutes=accounts.policy.reset_link_minutes)
        context = {"form": {}, "errors": {}, "sent": answer}
        page = _form_page(request, "accounts/forgot_password.html", "accounts/_forgot_form.html", context, 200)
        page.background = BackgroundTask(accounts.send_reset_link, address)
        return page

    @get("/reset-password")
    async def reset_password_page(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService], token: FromQuery[str] = ""
    ) -> Template:
        try:
            await accounts.check_link(token, TokenPurpose.RESET_PASSWORD)
        except InvalidLink as error:
            return _link_invalid(request, error.message, "reset")
        context = {"token": token, "errors": {}, "min_password": MIN_PASSWORD}
        return Template(template_name="accounts/reset_password.html", context=context, headers=NO_STORE)

    @post(
        "/reset-password",
        opt=form_view(
            "accounts/reset_password.html",
            "accounts/_reset_form.html",
            lambda _r, values: {"token": values.get("token", ""), "min_password": MIN_PASSWORD},
        ),
    )
    async def reset_password(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        data: URLEncodedBody[ResetPasswordForm],
    ) -> Response[Any]:
        form = data
        try:
            await accounts.reset_password(form.token, form.new_password)
        except InvalidLink as error:
            return _link_invalid(request, error.message, "reset")
        except InvalidInput as error:
            context = {"token": form.token, "errors": {"new_password": error.message}, "min_password": MIN_PASSWORD}
            return _form_page(request, "accounts/reset_password.html", "accounts/_reset_form.html", context, 422)
        response = redirect("/login", request)
        set_session_cookie(response, request, None)  # every session ended, this browser's too
        return flash(response, "Your password is changed and every session was logged out. Log in with the new one.")

    # -- sessions ----------------------------------------------------------------------------------

    @get("/me/sessions", guards=[login_required])
    async def sessions_page(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService]
    ) -> Template:
        sessions = await accounts.list_sessions(_me(request).id, request.scope["state"].get("session_token"))
        return Template(template_name="accounts/sessions.html", context={"sessions": sessions}, headers=NO_STORE)

    @post("/me/sessions/{session_id:uuid}/end", guards=[login_required])
    async def end_session(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService], session_id: FromPath[UUID]
    ) -> Response[Any]:
        """Log out one session (404 for a session that is not the person's, or is already gone)."""
        me = _me(request)
        token = request.scope["state"].get("session_token")
        current = next((s for s in await accounts.list_sessions(me.id, token) if s.current), None)
        await accounts.end_session(me.id, session_id)
        if current is not None and current.id == session_id:
            response = redirect("/", request)
            set_session_cookie(response, request, None)
            return flash(response, "You have logged out.", "info")
        return flash(redirect("/me/sessions", request), "That session is logged out.")

    @post("/me/sessions/end-others", guards=[login_required])
    async def end_other_sessions(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService]
    ) -> Response[Any]:
        ended = await accounts.end_other_sessions(_me(request).id, request.scope["state"].get("session_token"))
        return flash(redirect("/me/sessions", request), f"Logged out {plural(ended, 'other session')}.")


def _same_site_referer(request: Request[Any, Any, Any]) -> str:
    """The path of the page a form was sent from, when that page is on this site ("" otherwise)."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc == request.headers.get("host", ""):
        return referer.path
    return ""


def _link_invalid(request: Request[Any, Any, Any], message: str, purpose: str) -> Template:
    """A link that cannot be used: say so and offer the way to a new one (nothing changed)."""
    context = {"message": message, "purpose": purpose}
    return Template(template_name="accounts/link_invalid.html", context=context, status_code=400, headers=NO_STORE)
