"""The creator's analytics pages (their own videos only): the channel report, one video's report with
its retention curve, and a CSV export. htmx range changes get the report fragment back."""

from __future__ import annotations

import csv
import io
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from core.auth import creator_required, current_principal
from core.identity import Principal
from core.text import csv_text
from core.web import inject, page_or_fragment, plural
from features.analytics.charts import compact, day_bars, retention_chart, watch_time
from features.analytics.model import PRESETS, DateRange, InvalidRange
from features.analytics.service import AnalyticsService, DayLine

PAGE = "analytics/index.html"
REPORT = "analytics/_report.html"
VIDEO_PAGE = "analytics/video.html"
VIDEO_REPORT = "analytics/_video_report.html"
NO_STORE = {"Cache-Control": "no-store"}
CSV_COLUMNS = [
    "date",
    "video_id",
    "title",
    "views",
    "unique_viewers",
    "watch_seconds",
    "average_view_seconds",
    "preview_views",
    "sales",
    "gross_points",
    "net_points",
    "tips",
    "tip_points",
    "revenue_points",
]


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the guard let the request through
    return principal


def _query(span: DateRange) -> str:
    return f"preset={span.preset}" if span.preset else f"start={span.start}&end={span.end}"


def _charts(days: list[DayLine]) -> dict[str, Any]:
    dates = [line.day for line in days]
    views = day_bars(
        dates,
        [[line.totals.views for line in days]],
        [
            f"{line.day:%a %-d %b}: {line.totals.views:,} views, {watch_time(line.totals.watch_ms)} watched"
            for line in days
        ],
        ["bar-views"],
    )
    revenue = day_bars(
        dates,
        [[line.totals.net_points for line in days], [line.totals.tip_points for line in days]],
        [
            f"{line.day:%a %-d %b}: {plural(line.totals.revenue_points, 'point')}"
            f" ({plural(line.totals.sales, 'sale')}, {line.totals.net_points:,} after fees; "
            f"{plural(line.totals.tips, 'tip')}, {line.totals.tip_points:,})"
            for line in days
        ],
        ["bar-sales", "bar-tips"],
    )
    return {"views_chart": views, "revenue_chart": revenue}


class AnalyticsController(Controller):
    path = "/studio/analytics"
    guards = [creator_required]
    dependencies = {"analytics": inject(AnalyticsService)}

    def _span(self, analytics: AnalyticsService, preset: str, start: str, end: str) -> tuple[DateRange, str]:
        """The requested range, or the default one and a message when it cannot be read."""
        try:
            return analytics.span(preset, start, end), ""
        except InvalidRange as error:
            return analytics.default_span(), error.message

    def _context(self, span: DateRange, error: str, form: dict[str, str]) -> dict[str, Any]:
        return {
            "span": span,
            "query": _query(span),
            "presets": list(PRESETS),
            "range_error": error,
            "form": form,
            "compact": compact,
            "watch_time": watch_time,
        }

    @get("/")
    async def channel(
        self,
        request: Request[Any, Any, Any],
        analytics: NamedDependency[AnalyticsService],
        preset: FromQuery[str] = "",
        start: FromQuery[str] = "",
        end: FromQuery[str] = "",
    ) -> Template:
        span, error = self._span(analytics, preset, start, end)
        report = await analytics.report(_me(request).id, span)
        context = self._context(span, error, {"start": start, "end": end}) | {"report": report}
        context |= _charts(report.days)
        status = 422 if error else 200
        return page_or_fragment(
            request, page=PAGE, fragment=REPORT, context=context, status_code=status, headers=NO_STORE
        )

    @get("/videos/{video_id:uuid}")
    async def video(
        self,
        request: Request[Any, Any, Any],
        analytics: NamedDependency[AnalyticsService],
        video_id: FromPath[UUID],
        preset: FromQuery[str] = "",
        start: FromQuery[str] = "",
        end: FromQuery[str] = "",
    ) -> Template:
        span, error = self._span(analytics, preset, start, end)
        report = await analytics.video_report(_me(request).id, video_id, span)
        context = self._context(span, error, {"start": start, "end": end}) | {"report": report}
        context |= _charts(report.days)
        context["retention_chart"] = retention_chart([(p.percent, p.share, p.views) for p in report.retention])
        status = 422 if error else 200
        return page_or_fragment(
            request, page=VIDEO_PAGE, fragment=VIDEO_REPORT, context=context, status_code=status, headers=NO_STORE
        )

    @get("/export.csv")
    async def export(
        self,
        request: Request[Any, Any, Any],
        analytics: NamedDependency[AnalyticsService],
        preset: FromQuery[str] = "",
        start: FromQuery[str] = "",
        end: FromQuery[str] = "",
    ) -> Response[str]:
        span = analytics.span(preset, start, end)  # a bad range is a 422
        rows = await analytics.export_rows(_me(request).id, span)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            t = row.totals
            writer.writerow(
                [
                    row.day.isoformat(),
                    str(row.video_id),
                    csv_text(row.title),
                    t.views,
                    t.unique_viewers,
                    t.watch_ms // 1000,
                    t.average_view_ms // 1000,
                    t.preview_views,
                    t.sales,
                    t.gross_points,
                    t.net_points,
                    t.tips,
                    t.tip_points,
                    t.revenue_points,
                ]
            )
        filename = f"hypha-analytics-{span.start}-to-{span.end}.csv"
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"', **NO_STORE},
        )
