"""The reservoir chart of the patient panel: the predicted volume over the refill cycle, with
the alarm volume, the 4 mL line, the stability limit and "now", drawn on the server as inline
SVG (no script, no chart library, nothing fetched).

Pure: plain values in, SVG text out; no Django and no database. Meaning never rests on colour
alone: every line is labelled in words and has its own dash pattern, and the SVG carries a
<title> and a <desc> for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import ceil
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 720, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 36, 52  # room for the axis labels and the limit labels
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
DAY_STEPS = (1, 2, 5, 7, 14, 30, 60, 90, 180, 365)
MAX_X_TICKS = 8
INK, MUTED, GRID = "#1b1b1b", "#4a4a4a", "#c9cdd2"
VOLUME, ALARM, FLOOR, STABILITY, NOW = "#0b4f8a", "#a4161a", "#7a4b00", "#1e6b34", "#1b1b1b"

Number = Decimal | Fraction | float | int


@dataclass(frozen=True)
class Point:
    at: datetime
    volume_ml: Number


def sample(
    volume_at: Callable[[datetime], Number],
    start: datetime,
    end: datetime,
    *,
    count: int = 120,
    also: Iterable[datetime | None] = (),
) -> list[Point]:
    """`count` evenly spaced points from start to end, plus the instants in `also` that fall
    inside (crossings, now), so the line passes exactly through them. Volumes below 0 are
    drawn as 0: an empty pump holds nothing."""
    if end <= start:
        end = start + timedelta(days=1)
    step = (end - start) / max(count - 1, 1)
    instants = {start + step * i for i in range(count)} | {end}
    instants |= {at for at in also if at is not None and start <= at <= end}
    return [Point(at, max(Fraction(volume_at(at)), Fraction(0))) for at in sorted(instants)]


def _num(value: Number) -> float:
    return float(value)


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _ml(value: Number) -> str:
    text = f"{Decimal(str(_num(value))).quantize(Decimal('0.1')).normalize():f}"
    return f"{text} mL"


def _y_ticks(y_max: float) -> list[float]:
    step = 1 if y_max <= 8 else 2 if y_max <= 16 else 5 if y_max <= 50 else 10
    return [float(v) for v in range(0, int(y_max) + 1, step)]


def _x_ticks(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Local midnights, a whole number of days apart, at most MAX_X_TICKS of them."""
    span_days = max((end - start).total_seconds() / 86_400, 1)
    days = next((d for d in DAY_STEPS if span_days / d <= MAX_X_TICKS), DAY_STEPS[-1])
    first = start.astimezone(zone).date() + timedelta(days=1)
    ticks: list[datetime] = []
    day = first
    while True:
        at = datetime(day.year, day.month, day.day, tzinfo=zone)
        if at > end:
            return ticks
        ticks.append(at)
        day += timedelta(days=days)


def _day_label(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local.day} {local.strftime('%b')}"


def reservoir_svg(
    points: Sequence[Point],
    *,
    alarm_ml: Number,
    floor_ml: Number = Decimal(4),
    capacity_ml: Number | None = None,
    stability_limit_at: datetime | None = None,
    now: datetime | None = None,
    zone: str = "UTC",
    title: str = "Predicted medicine in the pump",
    description: str = "",
    element_id: str = "reservoir-chart",
) -> str:
    """The chart as one <svg> element. `points` must be in time order (see `sample`); the time
    axis spans them. Vertical lines outside that span are left out (say so in `description`)."""
    if not points:
        raise ValueError("A chart needs at least one point.")
    tz = ZoneInfo(zone)
    start, end = points[0].at, points[-1].at
    if end <= start:
        end = start + timedelta(days=1)
    span = (end - start).total_seconds()
    y_max = max([_num(p.volume_ml) for p in points] + [_num(alarm_ml), _num(floor_ml), _num(capacity_ml or 0), 1.0])
    y_max = float(ceil(y_max))

    def x(at: datetime) -> float:
        return LEFT + PLOT_W * (at - start).total_seconds() / span

    def y(ml: Number) -> float:
        return TOP + PLOT_H * (1 - _num(ml) / y_max)

    out: list[str] = []
    add = out.append
    title_id, desc_id = f"{element_id}-title", f"{element_id}-desc"
    add(
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(element_id)}" class="reservoir-chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" font-family="system-ui, sans-serif" font-size="13">'
    )
    add(f'<title id="{title_id}">{escape(title)}</title>')
    add(f'<desc id="{desc_id}">{escape(description or title)}</desc>')
    add(f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>')

    # Axes, grid and their labels.
    add('<g class="axes" aria-hidden="true">')
    for tick in _y_ticks(y_max):
        ty = _fmt(y(tick))
        add(f'<line x1="{LEFT}" y1="{ty}" x2="{LEFT + PLOT_W}" y2="{ty}" stroke="{GRID}" stroke-width="1"/>')
        add(f'<text x="{LEFT - 8}" y="{ty}" text-anchor="end" dominant-baseline="middle" fill="{INK}">{tick:g}</text>')
    for midnight in _x_ticks(start, end, tz):
        tx = _fmt(x(midnight))
        add(f'<line x1="{tx}" y1="{TOP + PLOT_H}" x2="{tx}" y2="{TOP + PLOT_H + 6}" stroke="{INK}" stroke-width="1"/>')
        label = escape(_day_label(midnight, tz))
        add(f'<text x="{tx}" y="{TOP + PLOT_H + 22}" text-anchor="middle" fill="{INK}">{label}</text>')
    add(
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}" stroke="{INK}" stroke-width="1.5"/>'
        f'<line x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{LEFT + PLOT_W}" y2="{TOP + PLOT_H}" stroke="{INK}" '
        'stroke-width="1.5"/>'
    )
    add(f'<text x="{LEFT - 8}" y="{TOP - 14}" text-anchor="end" fill="{INK}">mL</text>')
    add(f'<text x="{LEFT + PLOT_W / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" fill="{MUTED}">')
    add(f"{escape(f'Date ({zone})')}</text>")
    add("</g>")

    # Horizontal limits: the alarm volume and 4 mL. Labels apart when the two are close.
    alarm_y, floor_y = y(alarm_ml), y(floor_ml)
    alarm_label_y, floor_label_y = alarm_y, floor_y
    if abs(alarm_y - floor_y) < 16:
        alarm_label_y, floor_label_y = max(alarm_y, floor_y) + 9, min(alarm_y, floor_y) - 9
    for name, level, line_y, label_y, colour, dash, words in (
        ("floor", floor_ml, floor_y, floor_label_y, FLOOR, "2 4", f"{_ml(floor_ml)}: withdrawal risk"),
        ("alarm", alarm_ml, alarm_y, alarm_label_y, ALARM, "8 4", f"Alarm {_ml(alarm_ml)}"),
    ):
        add(
            f'<g class="limit limit-{name}" data-ml="{_num(level):g}">'
            f'<line x1="{LEFT}" y1="{_fmt(line_y)}" x2="{LEFT + PLOT_W}" y2="{_fmt(line_y)}" stroke="{colour}" '
            f'stroke-width="2" stroke-dasharray="{dash}"/>'
            f'<text x="{LEFT + PLOT_W + 6}" y="{_fmt(label_y)}" dominant-baseline="middle" fill="{colour}">'
            f"{escape(words)}</text></g>"
        )

    # Vertical lines: the stability limit and now, when they fall on the chart.
    for name, at, colour, dash, words, anchor_y in (
        ("stability", stability_limit_at, STABILITY, "10 3 2 3", "Stability limit", TOP - 20),
        ("now", now, NOW, "", "Now", TOP - 6),
    ):
        if at is None or not start <= at <= end:
            continue
        lx = _fmt(x(at))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        anchor = "end" if x(at) > LEFT + PLOT_W * 0.85 else "start"
        add(
            f'<g class="limit limit-{name}" data-at="{escape(at.isoformat())}">'
            f'<line x1="{lx}" y1="{TOP}" x2="{lx}" y2="{TOP + PLOT_H}" stroke="{colour}" stroke-width="2"{dash_attr}/>'
            f'<text x="{lx}" y="{anchor_y + 8}" text-anchor="{anchor}" fill="{colour}" font-weight="600">'
            f"{escape(words)}</text></g>"
        )

    # The predicted volume, last so that it is drawn on top.
    coords = " ".join(f"{_fmt(x(p.at))},{_fmt(y(p.volume_ml))}" for p in points)
    add(
        f'<polyline class="volume" points="{coords}" fill="none" stroke="{VOLUME}" stroke-width="3" '
        'stroke-linejoin="round"/>'
    )
    add("</svg>")
    return "".join(out)
