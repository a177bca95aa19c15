"""The studio's tus-js-client (as static/js/studio.js configures it) loses the answer to its last PATCH.

The browser sends the whole clip, the server stores it and answers — and the answer never arrives
(Playwright performs the request, then resets the connection). tus-js-client retries: it asks the
server with HEAD, which still answers for the finished upload (offset = length), and reports success.
Before issue 11 item 8 the HEAD was a 404, the client created a new upload and the panel said
"409 This video already has its file".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, Route, expect

from core.db import Database
from tests.support.media import make_clip

pytestmark = pytest.mark.e2e


async def test_the_studio_upload_succeeds_when_the_last_patch_answer_is_lost(
    context: BrowserContext, pg: Injector, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "lost-answer.mp4", seconds=1.0)
    page = await context.new_page()
    await page.goto("/signup")
    await page.get_by_label("E-mail").fill("lost-answer@example.com")
    await page.get_by_label("Password").fill("analytical engine")
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url("/me")
    await page.get_by_role("button", name="Become a creator").click()
    await page.get_by_role("link", name="Studio", exact=True).click()
    await expect(page).to_have_url("/studio")
    await page.get_by_label("Title").fill("Lost answer")
    await page.get_by_role("button", name="Create video").click()
    panel = page.locator("#source-form")
    await expect(panel).to_be_visible()

    seen: list[str] = []
    lost: list[int] = []

    async def lose_the_patch_answer(route: Route) -> None:
        request = route.request
        seen.append(request.method)
        if request.method == "PATCH" and not lost:
            answer = await route.fetch()  # the server receives every byte and answers...
            lost.append(answer.status)
            await route.abort("connectionreset")  # ...but the browser never hears it
            return
        await route.continue_()

    await page.route("**/uploads/**", lose_the_patch_answer)
    await panel.get_by_label("Video file").set_input_files(clip)
    await panel.get_by_role("button", name="Upload", exact=True).click()
    await expect(panel.get_by_text("Uploaded.")).to_be_visible()
    await expect(panel.locator('[data-role="percent"]')).to_have_text("100%")
    await expect(panel.locator('[data-role="error"]')).to_be_hidden()

    assert lost == [204]
    assert "HEAD" in seen[seen.index("PATCH") :], seen  # it asked the server how far the upload got
    assert seen.count("POST") == 1, seen  # and never started over
    db = pg.get(Database)
    # (a worker may already be converting it when other browser tests run beside a live worker)
    state = await db.fetchval("SELECT state FROM videos WHERE title = 'Lost answer'")
    assert state in ("uploaded", "converting", "ready"), state
    assert await db.fetchval("SELECT count(*) FROM tus_uploads WHERE upload_offset = length") == 1
