"""Helpers for driving Hypha in a real browser (Playwright pages)."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Page, expect


async def sign_up_in_browser(page: Page, email: str, password: str, *, verified: bool = True) -> None:
    """Create an account on the sign-up page (logged in at /me afterwards). With `verified` (the
    default, for tests not about verification) the address is then confirmed from the mail."""
    await page.goto("/signup")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url("/me")
    if verified:
        await verify_from_outbox(page)


async def verify_from_outbox(page: Page, lands_on: str = "/me") -> None:
    """Open the newest "confirm your e-mail" mail on the Mail page, follow its link and confirm; the
    browser then lands on `lands_on` (the page the person signed up on, else their account page)."""
    await page.goto("/outbox")
    mail = page.get_by_test_id("mail").filter(has_text="Confirm your e-mail address").first
    await mail.locator("summary").click()
    link = mail.get_by_test_id("mail-link").first
    await expect(link).to_contain_text("/verify-email?token=")
    href = await link.get_attribute("href") or ""
    # The mail links to BASE_URL; the test server listens on a port of its own: same path, this server.
    await page.goto(urlsplit(href).path + "?" + urlsplit(href).query)
    await page.get_by_role("button", name="Confirm my e-mail address").click()
    await expect(page).to_have_url(lands_on)
    await expect(page.get_by_test_id("verify-notice")).to_have_count(0)


SETTLED = """async () => {
    // Finite CSS animations and transitions (a flash fading in, a button's opacity coming back after an
    // htmx request); endless ones (spinners, a live dot's pulse) are left running.
    const finite = document.getAnimations().filter(a => {
        const end = a.effect ? a.effect.getComputedTiming().endTime : Infinity;
        return Number.isFinite(end);
    });
    await Promise.all(finite.map(a => a.finished.catch(() => null)));
}"""


async def settle(page: Page) -> None:
    """Wait until no htmx request or swap is under way and every finite animation or transition has
    ended, so that what a check (axe's colour contrast above all) sees is what the person sees."""
    await page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    await page.evaluate(SETTLED)
