"""The coverage-over-time chart: matches per month (or per year for long
spans), computed here from the result's year/month facets and drawn by the
template as inline SVG. No JavaScript and no external library: the chart is
plain markup, and each bar is a link that narrows the search to its period."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field

MAX_MONTH_BARS = 36  # beyond three years, months get too thin to read or click
MAX_BAR_WIDTH = 48  # one or two periods should not fill the chart with a slab
WIDTH, HEIGHT = 640, 150
LEFT, RIGHT, TOP, BOTTOM = 34, 6, 10, 24  # room for the axis labels


@dataclass
class Bar:
    label: str  # "03/2022" or "2022", for people
    count: int
    date_from: str  # ISO day: the bar's link filters to this period
    date_to: str
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0


@dataclass
class Chart:
    unit: str  # "tháng" or "năm"
    bars: list[Bar]
    top: int  # the largest count, written on the axis
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, label)
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_bottom: int = HEIGHT - BOTTOM
    plot_right: int = WIDTH - RIGHT


def _month_bars(months: dict[str, int]) -> list[Bar]:
    first, last = min(months), max(months)
    year, month = int(first[:4]), int(first[5:7])
    bars = []
    while f"{year:04d}-{month:02d}" <= last:
        key = f"{year:04d}-{month:02d}"
        days = calendar.monthrange(year, month)[1]
        bars.append(Bar(f"{month:02d}/{year}", months.get(key, 0), f"{key}-01", f"{key}-{days:02d}"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return bars


def _year_bars(years: dict[str, int]) -> list[Bar]:
    first, last = int(min(years)), int(max(years))
    return [Bar(str(y), years.get(str(y), 0), f"{y}-01-01", f"{y}-12-31")
            for y in range(first, last + 1)]


def coverage(facets: dict) -> Chart | None:
    """The chart for a result's facets, or None when nothing has a date."""
    months = {f.value: f.count for f in facets.get("month", []) if _is_month(f.value)}
    years = {f.value: f.count for f in facets.get("year", []) if f.value.isdigit()}
    if not months and not years:
        return None
    span = (_month_bars(months) if months else [])
    if months and len(span) <= MAX_MONTH_BARS:
        bars, unit = span, "tháng"
    else:
        bars, unit = _year_bars(years), "năm"
    top = max(bar.count for bar in bars) or 1
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_width / len(bars)
    for number, bar in enumerate(bars):
        bar.width = round(min(max(step * 0.8, 1.0), MAX_BAR_WIDTH), 2)
        bar.height = round(plot_height * bar.count / top, 2)
        bar.x = round(LEFT + number * step + (step - bar.width) / 2, 2)
        bar.y = round(TOP + plot_height - bar.height, 2)
    return Chart(unit=unit, bars=bars, top=top, ticks=_ticks(bars, unit, step))


def _ticks(bars: list[Bar], unit: str, step: float) -> list[tuple[float, str]]:
    """Axis labels that do not overlap: years at each January, or every
    n-th year when there are many."""
    if unit == "tháng":
        chosen = [(i, b.label[3:]) for i, b in enumerate(bars) if b.label.startswith("01/") or i == 0]
    else:
        every = max(1, round(len(bars) / 12))
        chosen = [(i, b.label) for i, b in enumerate(bars) if i % every == 0]
    return [(round(LEFT + i * step + step / 2, 2), label) for i, label in chosen]


def _is_month(value: str) -> bool:
    return len(value) == 7 and value[4] == "-" and value[:4].isdigit() and value[5:].isdigit()
