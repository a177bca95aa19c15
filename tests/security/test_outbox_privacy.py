"""The outbox page (/outbox: mail kept instead of sent when SMTP_HOST is unset) shows a person only the
mail sent to their address since their account has held it.

Found by probing `hypha up`: the demo creator moved their account to a new address; a stranger then
signed up with the freed old address and read, on /outbox, the mail kept for the creator — "The e-mail
address of your Hypha account was changed to <the new address>", with the creator's name, and any
older mail (sales, tips and their messages, payouts). The outbox chose mail by address alone.
"""

from __future__ import annotations

import httpx
from injector import Injector

from core.db import Database
from core.settings import Settings
from tests.conftest import app_client
from tests.support.web import csrf_token, post_form, sign_up, verification_token

PASSWORD = "correct horse battery"


async def change_email(client: httpx.AsyncClient, new_email: str) -> None:
    response = await post_form(client, "/me/email", {"new_email": new_email, "email_password": PASSWORD})
    assert response.status_code in (200, 303), response.text


async def test_a_freed_address_does_not_carry_its_former_owners_mail_to_the_next_account(
    pg: Injector, settings: Settings
) -> None:
    async with app_client(pg, settings) as owner:
        await csrf_token(owner)
        await post_form(owner, "/signup", {"email": "first@example.com", "password": PASSWORD, "display_name": "Orla"})
        await change_email(owner, "moved@example.com")
        owners_mail = (await owner.get("/outbox")).text
        assert await verification_token(owner)  # the owner still reads the link mailed to their new address
    async with app_client(pg, settings) as stranger:
        await csrf_token(stranger)
        await sign_up(stranger, "first@example.com", verified=False)
        page = await stranger.get("/outbox")
        assert await verification_token(stranger)  # the stranger's own mail is there
    assert page.status_code == 200
    assert "moved@example.com" not in page.text
    assert "Orla" not in page.text
    assert "moved@example.com" in owners_mail


async def test_staff_still_see_all_kept_mail(pg: Injector, settings: Settings) -> None:
    async with app_client(pg, settings) as owner:
        await csrf_token(owner)
        await post_form(owner, "/signup", {"email": "old@example.com", "password": PASSWORD, "display_name": "Orla"})
        await change_email(owner, "new@example.com")
    async with app_client(pg, settings) as staff:
        await csrf_token(staff)
        await sign_up(staff, "staff@example.com")
        await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE email = 'staff@example.com'")
        page = await staff.get("/outbox")
    assert "new@example.com" in page.text
    assert "Orla" in page.text
