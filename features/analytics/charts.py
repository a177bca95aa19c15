"""Chart geometry for server-rendered SVG: the templates draw what these functions lay out.

No JavaScript chart library: bars and lines are placed here in SVG user units, with round-numbered
axis ticks and a tooltip text (`<title>`) per mark, so a chart reads at a glance and says exact figures
on hover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

# Sizes in SVG user units, close to the pixels a chart gets on the page so its text reads at 11–12 px.
WIDTH = 480  # a chart in a two-column grid
HEIGHT = 220
WIDE = 1000  # a chart across the page
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 12, 28


def nice_step(value: float) -> int:
    """The smallest 1, 2 or 5 × 10^n at or above `value` (at least 1): axis steps people can read."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if value <= step * magnitude:
                return step * magnitude
        magnitude *= 10


def compact(value: int) -> str:
    """1234 → "1.2k", 2500000 → "2.5M": axis labels stay short."""
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return str(value)


def watch_time(ms: int) -> str:
    """Watch time in words: "45 s", "12 min", "3 h 05 min"."""
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min {seconds % 60:02d} s" if minutes < 10 else f"{minutes} min"
    return f"{minutes // 60:,} h {minutes % 60:02d} min"


@dataclass(frozen=True)
class Tick:
    position: float  # y for the value axis, x for the category axis
    label: str


@dataclass(frozen=True)
class Segment:
    y: float
    height: float
    css: str


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    segments: tuple[Segment, ...]
    title: str  # the tooltip
    top: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    empty: bool


def _value_ticks(ceiling: int, top: float, bottom: float) -> tuple[Tick, ...]:
    return tuple(Tick(bottom - (bottom - top) * n / 4, compact(ceiling * n // 4)) for n in range(5))


def _day_label(day: date, count: int) -> str:
    return day.strftime("%-d %b") if count <= 120 else day.strftime("%b %Y")


def _label_every(count: int) -> int:
    for every in (1, 2, 7, 14, 30, 60):
        if count / every <= 10:
            return every
    return 90


def day_bars(
    days: Sequence[date],
    series: Sequence[Sequence[int]],
    titles: Sequence[str],
    css: Sequence[str],
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> BarChart:
    """One (stacked) bar per day: `series[s][d]` is the value of series s on day d."""
    plot_left, plot_right = float(LEFT), float(width - RIGHT)
    plot_top, plot_bottom = float(TOP), float(height - BOTTOM)
    totals = [sum(values[d] for values in series) for d in range(len(days))]
    ceiling = 4 * nice_step(max(totals, default=0) / 4)
    slot = (plot_right - plot_left) / max(1, len(days))
    gap = min(4.0, slot * 0.25)
    bars = []
    for d, _day in enumerate(days):
        x = plot_left + d * slot + gap / 2
        base = plot_bottom
        segments = []
        for s, values in enumerate(series):
            h = (plot_bottom - plot_top) * values[d] / ceiling
            if h > 0:
                base -= h
                segments.append(Segment(round(base, 2), round(h, 2), css[s]))
        bars.append(Bar(round(x, 2), round(max(1.0, slot - gap), 2), tuple(segments), titles[d], round(base, 2)))
    every = _label_every(len(days))
    x_ticks = tuple(
        Tick(round(plot_left + d * slot + slot / 2, 2), _day_label(day, len(days)))
        for d, day in enumerate(days)
        if (len(days) - 1 - d) % every == 0
    )
    return BarChart(
        width,
        height,
        plot_left,
        plot_right,
        plot_top,
        plot_bottom,
        tuple(bars),
        _value_ticks(ceiling, plot_top, plot_bottom),
        x_ticks,
        not any(totals),
    )


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: tuple[Point, ...]
    line: str  # SVG path data
    area: str
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    empty: bool


def retention_chart(shares: Sequence[tuple[int, float, int]], *, width: int = WIDTH, height: int = HEIGHT) -> LineChart:
    """Retention as a line from 0 % to 100 % of the duration: `shares` holds (percent of the duration,
    share of views 0…1, views) for every 5 % point."""
    plot_left, plot_right = float(LEFT), float(width - RIGHT)
    plot_top, plot_bottom = float(TOP), float(height - BOTTOM)
    points = []
    for percent, share, views in shares:
        x = plot_left + (plot_right - plot_left) * percent / 100
        y = plot_bottom - (plot_bottom - plot_top) * share
        noun = "view" if views == 1 else "views"
        points.append(
            Point(round(x, 2), round(y, 2), f"{share * 100:.0f}% still watching at {percent}% ({views} {noun})")
        )
    line = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
    area = f"{line} L{plot_right},{plot_bottom} L{plot_left},{plot_bottom} Z" if points else ""
    y_ticks = tuple(Tick(plot_bottom - (plot_bottom - plot_top) * n / 4, f"{n * 25}%") for n in range(5))
    x_ticks = tuple(Tick(plot_left + (plot_right - plot_left) * n / 4, f"{n * 25}%") for n in range(5))
    empty = not shares or shares[0][2] == 0
    return LineChart(
        width, height, plot_left, plot_right, plot_top, plot_bottom, tuple(points), line, area, y_ticks, x_ticks, empty
    )
