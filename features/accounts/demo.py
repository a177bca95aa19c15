"""`hypha up --demo`: a demo creator and a demo viewer, e-mail verified (the operator vouches for them)."""

from __future__ import annotations

from collections.abc import Sequence

from injector import Injector

from features.accounts.model import EmailTaken
from features.accounts.service import AccountService

DEMO_CREATOR = ("creator@demo.hypha.test", "demo-creator-pass", "Demo Creator")
DEMO_VIEWER = ("viewer@demo.hypha.test", "demo-viewer-pass", "Demo Viewer")


async def create_demo_accounts(injector: Injector) -> Sequence[str]:
    """Create (or complete) the two demo accounts; the log-ins to print. Running it again changes nothing."""
    accounts = injector.get(AccountService)
    for email, password, name in (DEMO_CREATOR, DEMO_VIEWER):
        try:
            user = await accounts.sign_up(email, password, name)
        except EmailTaken:
            user = await accounts.users.by_email(email)  # type: ignore[assignment]
        if user is None:
            continue
        await accounts.mark_email_verified(user.id)
        if email == DEMO_CREATOR[0]:
            await accounts.become_creator(user.id)
    return [f"demo {role}: {email} / {password}" for role, (email, password, _name) in _ROLES]


_ROLES = (("creator", DEMO_CREATOR), ("viewer", DEMO_VIEWER))
