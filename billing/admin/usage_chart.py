"""The bar chart of a customer's daily usage (``usage_report``): geometry only, drawn as inline SVG by
the template (no JavaScript, nothing loaded from elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing.display import format_quantity


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    label: str


@dataclass(frozen=True)
class Tick:
    x: str
    y: str
    label: str


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart's geometry; coordinates are preformatted strings (no locale in the template)."""

    width: int
    height: int
    plot_left: str
    plot_right: str
    bars: list[Bar]
    grid: list[Tick]  # y: the line's height; label: the value it marks
    days: list[Tick]  # x: the label's centre


CHART_WIDTH = 760
CHART_HEIGHT = 180
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 10, 26


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2 or 5 x 10^k at least ``value`` (> 0): the top of a chart's axis."""
    if value <= 0:
        return Decimal(1)
    base = Decimal(1).scaleb(value.adjusted())
    for step in (1, 2, 5, 10):
        if base * step >= value:
            return base * step
    return base * 10  # unreachable: 10 x base > value by definition of adjusted()


def _px(value: Decimal | int) -> str:
    # pixel coordinates in Decimal too: the project keeps float out of anything near amounts
    return f"{Decimal(value):.1f}"


def bar_chart(points: list[tuple[date, Decimal]]) -> Chart:
    """One bar per day, scaled from 0 to a round top (below 0 too when a day is negative)."""
    values = [value for _, value in points]
    top = nice_ceiling(max([*values, Decimal(0)]))
    low = min([*values, Decimal(0)])
    bottom = -nice_ceiling(-low) if low < 0 else Decimal(0)
    span = top - bottom
    plot_height = CHART_HEIGHT - TOP - BOTTOM
    plot_width = CHART_WIDTH - LEFT - RIGHT

    def y_of(value: Decimal) -> Decimal:
        return TOP + plot_height * (top - value) / span

    slot = Decimal(plot_width) / max(len(points), 1)
    gap = min(Decimal(2), slot * Decimal("0.2"))
    zero_y = y_of(Decimal(0))
    bars = []
    for index, (day, value) in enumerate(points):
        value_y = y_of(value)
        bars.append(
            Bar(
                x=_px(LEFT + index * slot + gap / 2),
                y=_px(min(value_y, zero_y)),
                width=_px(slot - gap),
                height=_px(abs(zero_y - value_y)),
                label=f"{day:%a %Y-%m-%d}: {format_quantity(value)}",
            )
        )
    marks = [top, Decimal(0), bottom] if bottom < 0 else [top, top / 2, Decimal(0)]
    grid = [Tick(x=_px(LEFT - 6), y=_px(y_of(mark)), label=format_quantity(mark)) for mark in marks]
    every = max(1, -(-len(points) // 8))  # at most ~8 day labels
    days = [
        Tick(
            x=_px(LEFT + (index + Decimal("0.5")) * slot),
            y=_px(CHART_HEIGHT - 6),
            label=f"{day:%b} {day.day}",
        )
        for index, (day, _) in enumerate(points)
        if index % every == 0
    ]
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        plot_left=_px(LEFT),
        plot_right=_px(CHART_WIDTH - RIGHT),
        bars=bars,
        grid=grid,
        days=days,
    )
