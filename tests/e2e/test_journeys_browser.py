"""A stranger's journeys in a real Chromium where the other tests do not go: keyboard only, impatient
(double clicks), and on a bad connection (no network, a server error between the browser and Hypha).
"""

from __future__ import annotations

import re

import pytest
from injector import Injector
from playwright.async_api import Browser, BrowserContext, Page, expect

from core.db import Database
from core.identity import Principal
from core.web import SESSION_COOKIE
from features.studio.model import Video
from features.studio.service import StudioService
from features.unlocks.service import TipService, UnlockService
from tests.support.browser import settle
from tests.support.videos import (
    PASSWORD,
    add_synthetic_video,
    balances,
    fund,
    person,
    price_and_publish,
    session_token,
)

pytestmark = pytest.mark.e2e

# The element reaching furthest right when the page scrolls sideways (None when it does not).
SIDEWAYS = """() => {
  if (document.documentElement.scrollWidth <= innerWidth) return null;
  let far = null;
  for (const el of document.querySelectorAll("body *")) {
    const right = el.getBoundingClientRect().right;
    if (!far || right > far.right) far = {right, what: el.outerHTML.slice(0, 90)};
  }
  return far.what;
}"""
ACTIVE = "() => { const e = document.activeElement; return e ? (e.dataset.testid || e.id || e.tagName) : null; }"


async def log_in(context: BrowserContext, base_url: str, token: str) -> None:
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base_url, "httpOnly": True}])


async def tab_to(page: Page, testid: str, most: int = 40) -> None:
    """Press Tab until the control named by `testid` has the focus."""
    for _ in range(most):
        await page.keyboard.press("Tab")
        if await page.evaluate(ACTIVE) == testid:
            return
    raise AssertionError(f"{testid} is not reached with Tab")


async def a_viewer_on_a_video(
    context: BrowserContext, live_server: str, pg: Injector, *, unlocked: bool
) -> tuple[Principal, Video, Principal]:
    """(creator, video for rent at 50 points a day, viewer with 200 points, logged in in `context`)."""
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Harbour lights")).video
    await price_and_publish(pg, creator.id, video, rent_day=50, rent_month=None, lifetime=None)
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 200)
    if unlocked:
        await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "journey-unlock-0001", 50)
    await log_in(context, live_server, await session_token(pg, viewer))
    return creator, video, viewer


async def test_from_the_keyboard_alone_a_viewer_skips_to_the_video_unlocks_and_tips_and_never_loses_the_focus(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator, video, viewer = await a_viewer_on_a_video(context, live_server, pg, unlocked=False)
    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")

    await page.keyboard.press("Tab")  # the first stop of every page: past the header, to the content
    skip = page.get_by_test_id("skip-link")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_in_viewport()
    await page.keyboard.press("Enter")
    assert await page.evaluate(ACTIVE) == "main"

    await tab_to(page, "offer-rent_day")
    await page.keyboard.press("Enter")
    # The pressed button is gone with the offers; the focus is on what happened, not lost on <body>.
    await expect(page.get_by_test_id("unlocked")).to_be_focused()
    await tab_to(page, "tip-10")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("tip-thanks")).to_be_focused()
    assert await balances(pg, viewer.id, creator.id) == (140, 55, 5)


async def test_a_form_sent_back_with_an_error_puts_the_focus_on_the_field_to_correct(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    await log_in(context, live_server, await session_token(pg, creator))
    page = await context.new_page()
    await page.goto("/studio")
    await page.get_by_role("button", name="Create video").focus()
    await page.keyboard.press("Enter")  # no title
    title = page.get_by_label("Title", exact=True)
    await expect(title).to_have_attribute("aria-invalid", "true")
    await expect(title).to_be_focused()
    await page.keyboard.type("Night trains")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("video-tile").filter(has_text="Night trains")).to_be_visible()


async def test_a_whole_page_form_sent_back_with_errors_puts_the_focus_on_the_field_to_correct(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    """Forms without htmx (delete the account, a bundle) came back as a new page with the focus at its top:
    a screen reader said the title and nothing of the errors further down."""
    creator = await person(pg, "Mira", creator=True)
    await log_in(context, live_server, await session_token(pg, creator))
    page = await context.new_page()
    await page.goto("/me/delete")
    await page.get_by_test_id("delete-account").focus()
    await page.keyboard.press("Enter")  # no password, box not ticked
    password = page.get_by_label("Your current password")
    await expect(password).to_have_attribute("aria-invalid", "true")
    await expect(password).to_be_focused()

    await page.goto("/studio/offers")
    await page.get_by_test_id("create-bundle").focus()
    await page.keyboard.press("Enter")  # no title, no price
    title = page.get_by_test_id("bundle-form").get_by_label("Title")
    await expect(title).to_have_attribute("aria-invalid", "true")
    await expect(title).to_be_focused()


async def test_a_refused_cover_is_announced_and_tied_to_its_field(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    """The cover's error showed under the form, tied to nothing: the file field was not marked invalid
    and did not name the message, so a screen reader on the field never heard why."""
    creator = await person(pg, "Mira", creator=True)
    draft = await pg.get(StudioService).create_video(creator.id, "Night trains", "")
    await log_in(context, live_server, await session_token(pg, creator))
    page = await context.new_page()
    await page.goto(f"/studio/videos/{draft.id}/upload")
    await page.get_by_text("Subtitles and cover").click()
    cover = page.get_by_label("Cover image (JPEG or PNG, up to 5 MB)")
    await cover.set_input_files({"name": "cover.png", "mimeType": "image/png", "buffer": b"not a picture"})
    await page.get_by_role("button", name="Set cover").click()
    error = page.get_by_test_id("cover-error")
    await expect(error).to_have_attribute("role", "alert")
    cover = page.get_by_label("Cover image (JPEG or PNG, up to 5 MB)")  # the swapped-in field
    await expect(cover).to_have_attribute("aria-invalid", "true")
    await expect(cover).to_have_accessible_description(await error.inner_text())
    await expect(cover).to_be_focused()


async def test_a_viewer_who_can_watch_is_offered_points_to_extend_not_to_unlock(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    """Just after renting, the panel under the playing video said "Buy points to unlock"."""
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Harbour lights")).video
    await price_and_publish(pg, creator.id, video)  # 50 a day, 200 a month, 500 for life
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 60)
    await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "extend-unlock-0001", 50)
    await log_in(context, live_server, await session_token(pg, viewer))
    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    await expect(page.get_by_role("heading", name="Extend your access")).to_be_visible()
    await expect(page.get_by_test_id("buy-to-unlock")).to_have_text("Buy points to extend")


async def test_a_report_sent_without_a_reason_puts_the_focus_on_the_reasons_and_says_why(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    """The reasons were not marked invalid: the focus fell on the whole form (a live region read all of
    it) and the radio buttons, once reached, did not say what was wrong."""
    _, video, _ = await a_viewer_on_a_video(context, live_server, pg, unlocked=False)
    page = await context.new_page()
    await page.goto(f"/report/video/{video.public_id}")
    await page.get_by_role("button", name="Send report").click()
    first = page.get_by_role("radio").first
    await expect(first).to_be_focused()
    await expect(first).to_have_attribute("aria-invalid", "true")
    await expect(first).to_have_accessible_description("Choose a reason from the list.")


async def test_a_click_after_logging_out_in_another_tab_leads_to_log_in_and_back_to_the_video(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator, video, viewer = await a_viewer_on_a_video(context, live_server, pg, unlocked=False)
    watch = await context.new_page()
    await watch.goto(f"/v/{video.public_id}")
    other = await context.new_page()
    await other.goto("/me")
    await other.get_by_role("button", name="Log out").click()
    await expect(other.get_by_text("You have logged out.")).to_be_visible()

    await watch.get_by_test_id("offer-rent_day").click()  # the page still offers it
    await expect(watch).to_have_url(f"{live_server}/login?next=/v/{video.public_id}")
    await watch.get_by_label("E-mail").fill(viewer.email)
    await watch.get_by_label("Password").fill(PASSWORD)
    await watch.get_by_role("button", name="Log in").click()
    await expect(watch).to_have_url(f"{live_server}/v/{video.public_id}")
    await watch.get_by_test_id("offer-rent_day").click()
    await expect(watch.get_by_test_id("unlocked")).to_be_visible()
    assert await balances(pg, viewer.id, creator.id) == (150, 45, 5)


async def test_a_click_that_gets_no_answer_or_a_server_error_says_so_and_keeps_the_form(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator, video, viewer = await a_viewer_on_a_video(context, live_server, pg, unlocked=True)
    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    tip = page.get_by_test_id("tip-10")
    error = page.get_by_test_id("request-error")

    # A proxy in front of Hypha answers 502 with a page of its own: not swapped into the page.
    await page.route("**/tip", lambda route: route.fulfill(status=502, body="<h1>Bad Gateway</h1>"))
    await tip.click()
    await expect(error).to_have_text(re.compile(r"Something went wrong on our side \(error 502\)"))
    await expect(error).to_have_attribute("role", "alert")
    await expect(page.get_by_text("Bad Gateway")).to_have_count(0)
    await page.unroute("**/tip")

    # Offline: the click is not silent.
    await page.route("**/tip", lambda route: route.abort("internetdisconnected"))
    await tip.click()
    await expect(error).to_have_text(re.compile(r"We could not reach Hypha"))
    await page.unroute("**/tip")

    # The same form, pressed again once the connection is back, tips once; the message goes.
    await tip.click()
    await expect(page.get_by_test_id("tip-thanks")).to_be_visible()
    await expect(error).to_have_count(0)
    assert await balances(pg, viewer.id, creator.id) == (140, 55, 5)

    # A favourite toggled offline says so too.
    await page.route("**/favourite", lambda route: route.abort("internetdisconnected"))
    await page.get_by_test_id("favourite-toggle").click()
    await expect(error).to_be_visible()


async def test_double_clicks_on_rent_tip_and_a_pack_charge_once(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator, video, viewer = await a_viewer_on_a_video(context, live_server, pg, unlocked=False)
    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    await page.get_by_test_id("offer-rent_day").dblclick()
    await expect(page.get_by_test_id("unlocked")).to_be_visible()
    await page.get_by_test_id("tip-10").dblclick()
    await expect(page.get_by_test_id("tip-thanks")).to_be_visible()
    await expect(page.get_by_test_id("balance-pill")).to_have_text("140")
    assert await balances(pg, viewer.id, creator.id) == (140, 55, 5)

    await page.goto("/wallet")
    await page.get_by_test_id("buy-p100").dblclick()
    await expect(page).to_have_url(re.compile(r"/sandbox-pay/checkout/sbp_"))
    started = await pg.get(Database).fetchval("SELECT count(*) FROM wallet_purchases WHERE user_id = $1", viewer.id)
    assert started == 1


async def test_the_locked_player_and_the_landing_page_cut_nothing_off_on_a_phone_with_large_text(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    """The player keeps 16:9 and hides what overflows it: on a phone with the text at 200 %, "Sign up or
    log in, then unlock with one click." fell below its bottom edge, cut off."""
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Harbour lights")).video
    await price_and_publish(pg, creator.id, video)
    page = await context.new_page()
    for width in (390, 1280):
        await page.set_viewport_size({"width": width, "height": 844})
        await page.goto(f"/v/{video.public_id}")
        await page.evaluate("document.documentElement.style.setProperty('font-size', '200%', 'important')")
        player = page.get_by_test_id("locked")
        box = await player.bounding_box()
        assert box is not None
        for text in ("Unlock to watch", "Sign up or log in, then unlock with one click."):
            words = await player.get_by_text(text).bounding_box()
            assert words is not None
            assert words["y"] >= box["y"], (width, text)
            assert words["y"] + words["height"] <= box["y"] + box["height"], (width, text)  # not below its edge
        await page.evaluate("document.documentElement.style.removeProperty('font-size')")
        if width == 1280:  # at the usual text size the player keeps its 16:9
            box = await player.bounding_box()
            assert box is not None
            assert abs(box["width"] * 9 / 16 - box["height"]) < 2, box

    # The landing page's call to action was cut off at the hero's edge there too.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto("/")
    await page.evaluate("document.documentElement.style.setProperty('font-size', '200%', 'important')")
    hero = await page.locator(".hero").bounding_box()
    cta = await page.get_by_role("link", name="Create a free account").bounding_box()
    assert hero is not None
    assert cta is not None
    assert cta["x"] + cta["width"] <= hero["x"] + hero["width"], (cta, hero)


async def test_a_long_unbroken_title_and_name_never_push_a_page_sideways_at_320_px(
    chromium: Browser, live_server: str, pg: Injector
) -> None:
    """People type titles and names without spaces (a URL, a hashtag, a name in a script without them):
    WCAG 1.4.10 still wants every page readable at 320 px without scrolling sideways."""
    creator = await person(pg, "Y" * 40, creator=True)
    title = ("Supercalifragilisticexpialidocious" * 4)[:120]
    video = (await add_synthetic_video(pg, creator.id, title=title)).video
    await price_and_publish(pg, creator.id, video)
    viewer = await person(pg, "Z" * 40)
    await fund(pg, viewer.id, 100)
    await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "long-unlock-key-0001", 50)
    await pg.get(TipService).tip(viewer, video.public_id, 10, "W" * 200, "long-tip-key-000001")
    pages = {
        viewer: ["/", f"/v/{video.public_id}", f"/c/{creator.id}", "/me", f"/report/video/{video.public_id}"],
        creator: [
            f"/studio/analytics/videos/{video.id}",
            f"/v/{video.public_id}/pricing",
            f"/studio/videos/{video.id}/chapters",
            "/studio/export",
            "/studio/memberships",
        ],
    }
    sideways: list[str] = []
    for who, urls in pages.items():
        context = await chromium.new_context(base_url=live_server, viewport={"width": 320, "height": 640})
        try:
            await log_in(context, live_server, await session_token(pg, who))
            page = await context.new_page()
            for url in urls:
                await page.goto(url)
                await settle(page)  # the parts that load themselves are in
                if (far := await page.evaluate(SIDEWAYS)) is not None:
                    sideways.append(f"{url}: {far}")
        finally:
            await context.close()
    assert sideways == [], "\n".join(sideways)


async def test_a_part_that_loads_itself_and_fails_says_so_in_its_place_and_loads_when_asked_again(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    """The balance in the header and the account page's lists load themselves after the page. When that
    request failed, "Loading…" stayed for ever beside "please try again" with nothing to press, and in
    the header the message pushed the user's name and "Log out" off a phone's screen."""
    await a_viewer_on_a_video(context, live_server, pg, unlocked=False)
    page = await context.new_page()
    await page.set_viewport_size({"width": 320, "height": 640})
    await page.route("**/me/favourites", lambda route: route.fulfill(status=500, body="Internal Server Error"))
    await page.route("**/wallet/pill", lambda route: route.abort("internetdisconnected"))
    await page.goto("/me")

    favourites = page.get_by_test_id("favourites-panel")
    error = favourites.get_by_test_id("request-error")
    await expect(error).to_have_text(re.compile(r"^This part did not load \(error 500\)\. Try again$"))
    await expect(error).to_have_attribute("role", "alert")
    await expect(favourites.get_by_text("Loading…")).to_be_hidden()
    header = page.locator(".site-header")
    await expect(header.get_by_test_id("request-error")).to_contain_text("This part did not load: no connection.")
    await expect(header.get_by_role("button", name="Log out")).to_be_in_viewport()
    assert await page.evaluate(SIDEWAYS) is None

    await page.unroute("**/me/favourites")
    await page.unroute("**/wallet/pill")
    await favourites.get_by_role("button", name="Try again").click()
    await expect(favourites.get_by_text("No favourites yet")).to_be_visible()
    await expect(error).to_have_count(0)
    assert await page.evaluate(
        "favourites => favourites.contains(document.activeElement)", await favourites.element_handle()
    )
    await header.get_by_role("button", name="Try again").click()
    await expect(header.get_by_test_id("balance-pill")).to_have_text("200")
    await expect(header.get_by_test_id("balance-pill")).to_be_focused()  # not lost with the button
    wallet = page.get_by_test_id("wallet-panel")
    await wallet.get_by_role("button", name="Try again").click()  # the same balance in the wallet panel
    await expect(wallet.get_by_test_id("balance-pill")).to_have_text("200")
    await expect(page.get_by_test_id("request-error")).to_have_count(0)
