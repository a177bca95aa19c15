"""A live Hypha (uvicorn in the test's event loop, real PostgreSQL) and a real headless Chromium.

Browser lookup: PLAYWRIGHT_CHROMIUM_EXECUTABLE, else /usr/bin/chromium, else Playwright's own —
downloaded on the first run when it is missing. A browser that cannot be found or fetched fails the
tests with the command to run; it never skips them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from injector import Injector
from playwright.async_api import Browser, BrowserContext, async_playwright

from core.settings import Settings
from tests.support.first_run import Unavailable, install_playwright_chromium, system_chromium
from tests.support.live import live_app

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_executable() -> str | None:
    return system_chromium()


@pytest.fixture(scope="session")
async def live_server(real_injector: Injector, settings: Settings) -> AsyncIterator[str]:
    async with live_app(settings, real_injector) as url:
        yield url


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        executable = chromium_executable()
        if executable is None and not Path(playwright.chromium.executable_path).exists():
            try:
                await asyncio.to_thread(install_playwright_chromium)
            except Unavailable as error:
                pytest.fail(str(error), pytrace=False)
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def context(chromium: Browser, live_server: str, pg: Injector) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile against a live server on an emptied database."""
    ctx = await chromium.new_context(base_url=live_server)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.fixture(scope="session")
async def live_worker(real_injector: Injector, settings: Settings, live_server: str) -> AsyncIterator[None]:
    """The saq worker with every feature's jobs, in the test's event loop beside the live server.

    Session-scoped: its shutdown closes the shared database pool, so it ends with the session
    (after the live server, which it is set up after).
    """
    from core.worker import build_worker
    from features.bootstrap import features_for

    worker = build_worker(settings, real_injector, features_for(settings))
    worker.SIGNALS = []  # the test process keeps its own signal handlers
    await worker.queue.connect()
    task = asyncio.create_task(worker.start())
    try:
        yield
    finally:
        await worker.stop()
        await task
        await worker.queue.disconnect()
