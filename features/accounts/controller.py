"""Pages for signing up, logging in and out, and the account page."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Template

from core.auth import current_principal, login_required
from core.errors import InvalidInput
from core.forms import parse_form
from core.web import flash, inject, redirect, set_session_cookie
from features.accounts.dto import LoginForm, SignupForm, form_next, safe_next
from features.accounts.model import (
    AccountSuspended,
    EmailTaken,
    InvalidCredentials,
    LoginThrottled,
    SignupThrottled,
    check_email,
    check_password,
)
from features.accounts.service import AccountService

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _form_page(
    request: Request[Any, Any, Any], page: str, fragment: str, context: dict[str, Any], status: int
) -> Template:
    """htmx gets just the form back; a plain browser gets the whole page."""
    name = fragment if request.headers.get("hx-request") else page
    return Template(template_name=name, context=context, status_code=status)


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

    @post("/signup")
    async def signup(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService], data: FormData
    ) -> Response[Any]:
        form = parse_form(SignupForm, data)
        target = safe_next(form.next)  # checked first: a 400 for control characters, nothing created
        errors: dict[str, str] = {}
        try:
            check_email(form.email)
        except InvalidInput as error:
            errors["email"] = error.message
        try:
            check_password(form.password)
        except InvalidInput as error:
            errors["password"] = error.message
        if not errors:
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
        token = await accounts.open_session(user, request.scope["state"].get("session_token"))
        response = redirect(target, request)
        set_session_cookie(response, request, token)
        return flash(response, f"Welcome to Hypha, {user.display_name}!")

    @get("/login")
    async def login_page(self, request: Request[Any, Any, Any], next: FromQuery[str] = "") -> Response[Any]:
        next = form_next(next)  # a 400 for control characters, "" for anything off-site
        if current_principal(request):
            return redirect(next or "/me")
        return Template(template_name="accounts/login.html", context={"form": {"next": next}, "errors": {}})

    @post("/login")
    async def login(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService], data: FormData
    ) -> Response[Any]:
        form = parse_form(LoginForm, data)
        target = safe_next(form.next)  # checked first: a 400 for control characters, no attempt counted
        ip = _client_ip(request)
        status, retry_after = 422, 0
        try:
            if not form.email or not form.password:
                raise InvalidCredentials("Enter your e-mail and password.")
            user, token = await accounts.log_in(
                form.email, form.password, ip, request.scope["state"].get("session_token")
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
        principal = current_principal(request)
        assert principal is not None
        return Template(
            template_name="accounts/me.html",
            context={"user": principal, "panels": request.app.state.get("me_panels", [])},
        )

    @post("/me/creator", guards=[login_required])
    async def become_creator(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService]
    ) -> Response[Any]:
        principal = current_principal(request)
        assert principal is not None
        await accounts.become_creator(principal.id)
        return flash(redirect("/me", request), "You are now a creator. Your studio is ready.")
