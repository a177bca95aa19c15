"""The creator's live dashboard: a strip of tiles on the studio page (loaded once, then kept live by
the studio page's SSE stream), and the same strip as a page of its own."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from core.auth import creator_required, current_principal
from core.web import inject, page_or_fragment
from features.dashboard.service import DashboardService

STRIP = "dashboard/_strip.html"
PAGE = "dashboard/index.html"


class DashboardController(Controller):
    path = "/studio/dashboard"
    guards = [creator_required]
    dependencies = {"dashboard": inject(DashboardService)}

    @get("/")
    async def dashboard(
        self, request: Request[Any, Any, Any], dashboard: NamedDependency[DashboardService]
    ) -> Template:
        principal = current_principal(request)
        assert principal is not None  # the guard let the request through
        snapshot = await dashboard.snapshot(principal.id)
        context = {
            "today": snapshot.today,
            "tips": snapshot.tips,
            "earnings": snapshot.earnings,
            "viewers": snapshot.viewers,
        }
        return page_or_fragment(
            request, page=PAGE, fragment=STRIP, context=context, headers={"Cache-Control": "no-store"}
        )
