"""Charts drawn by the server as SVG: no JavaScript, no CDN, no inline styles.

Every text goes through format_html (escaped); colours come from CSS classes in
app.css that use the theme's variables, so a chart follows light and dark mode.
Each chart is role="img" with a <title> and <desc>; the page puts a table with the
same numbers next to it for screen readers and for reading exact values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 720
LEFT, RIGHT = 44, 12
MAX_X_LABELS = 8


@dataclass(frozen=True)
class TrendPoint:
    label: str  # short axis label
    tooltip: str  # full description of the point
    nps: float | None
    low: float | None = None  # confidence interval
    high: float | None = None
    count: int = 0


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    css: str = ""
    tooltip: str = ""


@dataclass(frozen=True)
class Row:
    label: str
    nps: float | None
    low: float | None
    high: float | None
    tooltip: str
    muted: bool = False  # too few responses to judge


def _n(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zero."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _concat(parts: Sequence[SafeString]) -> SafeString:
    return format_html_join("", "{}", ((part,) for part in parts))


def _svg(
    chart_id: str, title: str, desc: str, height: int, body: SafeString, width: int = WIDTH
) -> SafeString:
    return format_html(
        '<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" '
        'viewBox="0 0 {w} {h}" preserveAspectRatio="xMidYMid meet" focusable="false" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{body}</svg>',
        id=chart_id,
        w=width,
        h=height,
        title=title,
        desc=desc,
        body=body,
    )


def nice_range(values: Sequence[float]) -> tuple[int, int, int]:
    """(low, high, step) for an NPS axis: includes 0 and every value, within ±100;
    the whole scale when there is nothing to show."""
    if not values:
        return -100, 100, 50
    low = min([0.0, *values])
    high = max([0.0, *values])
    span = max(high - low, 20.0)
    step = next(s for s in (10, 20, 25, 50) if span / s <= 5)
    low_tick = max(-100, math.floor(low / step) * step)
    high_tick = min(100, math.ceil(high / step) * step)
    if high_tick - low_tick < step:
        high_tick = min(100, low_tick + step)
    return low_tick, high_tick, step


def _every(n: int) -> int:
    return max(1, math.ceil(n / MAX_X_LABELS))


def trend_chart(
    points: Sequence[TrendPoint],
    *,
    chart_id: str,
    title: str,
    desc: str,
    nps_label: str,
    count_label: str,
) -> SafeString:
    """NPS as a line (gaps where a period has no responses) with 95 % whiskers, and the
    number of responses as bars below, on one time axis."""
    top, nps_h, gap, count_h, bottom = 14, 190, 26, 60, 24
    height = top + nps_h + gap + count_h + bottom
    plot_w = WIDTH - LEFT - RIGHT
    n = max(len(points), 1)
    band = plot_w / n
    values = [p.nps for p in points if p.nps is not None]
    low, high, step = nice_range(values)

    def x(i: int) -> float:
        return LEFT + (i + 0.5) * band

    def y(v: float) -> float:
        v = min(max(v, low), high)
        return top + (high - v) / (high - low) * nps_h

    parts: list[SafeString] = []
    for tick in range(low, high + 1, step):
        parts.append(
            format_html(
                '<line class="chart-grid{zero}" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"/>'
                '<text class="chart-axis" x="{tx}" y="{ty}" text-anchor="end">{label}</text>',
                zero=" chart-zero" if tick == 0 else "",
                x1=LEFT,
                x2=WIDTH - RIGHT,
                y=_n(y(tick)),
                tx=LEFT - 6,
                ty=_n(y(tick) + 4),
                label=f"{tick:+d}" if tick else "0",
            )
        )
    parts.append(
        format_html(
            '<text class="chart-axis chart-caption" x="{x}" y="{y}">{label}</text>',
            x=LEFT + 4,
            y=top + 10,
            label=nps_label,
        )
    )
    # Whiskers first, so the line and the dots are drawn over them.
    for i, p in enumerate(points):
        if p.nps is not None and p.low is not None and p.high is not None:
            parts.append(
                format_html(
                    '<line class="chart-ci" x1="{x}" x2="{x}" y1="{y1}" y2="{y2}"/>',
                    x=_n(x(i)),
                    y1=_n(y(p.high)),
                    y2=_n(y(p.low)),
                )
            )
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, p in enumerate(points):
        if p.nps is None:
            if segment:
                segments.append(segment)
            segment = []
        else:
            segment.append(f"{_n(x(i))},{_n(y(p.nps))}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            parts.append(
                format_html('<polyline class="chart-line" fill="none" points="{}"/>', " ".join(seg))
            )
    for i, p in enumerate(points):
        if p.nps is not None:
            parts.append(
                format_html(
                    '<circle class="chart-dot" cx="{x}" cy="{y}" r="3.5">'
                    "<title>{t}</title></circle>",
                    x=_n(x(i)),
                    y=_n(y(p.nps)),
                    t=p.tooltip,
                )
            )

    # Responses per period.
    base = top + nps_h + gap + count_h
    most = max([p.count for p in points] + [1])
    parts.append(
        format_html(
            '<text class="chart-axis chart-caption" x="{x}" y="{y}">{label}</text>'
            '<text class="chart-axis" x="{tx}" y="{ty}" text-anchor="end">{most}</text>'
            '<line class="chart-grid" x1="{x1}" x2="{x2}" y1="{b}" y2="{b}"/>',
            x=LEFT + 4,
            y=top + nps_h + gap - 6,
            label=count_label,
            tx=LEFT - 6,
            ty=base - count_h + 4,
            most=most,
            x1=LEFT,
            x2=WIDTH - RIGHT,
            b=base,
        )
    )
    bar_w = max(band * 0.7, 1.0)
    for i, p in enumerate(points):
        if p.count:
            h = max(p.count / most * count_h, 1.0)
            parts.append(
                format_html(
                    '<rect class="chart-count" x="{x}" y="{y}" width="{w}" height="{h}">'
                    "<title>{t}</title></rect>",
                    x=_n(x(i) - bar_w / 2),
                    y=_n(base - h),
                    w=_n(bar_w),
                    h=_n(h),
                    t=p.tooltip,
                )
            )
    every = _every(len(points))
    for i, p in enumerate(points):
        if i % every == 0:
            parts.append(
                format_html(
                    '<text class="chart-axis" x="{x}" y="{y}" text-anchor="middle">{label}</text>',
                    x=_n(x(i)),
                    y=base + 16,
                    label=p.label,
                )
            )
    return _svg(chart_id, title, desc, height, _concat(parts))


def bar_chart(
    bars: Sequence[Bar], *, chart_id: str, title: str, desc: str, width: int = WIDTH
) -> SafeString:
    """Vertical bars with their value on top and their label below (the distribution)."""
    top, plot_h, bottom = 20, 150, 26
    height = top + plot_h + bottom
    left = 8
    plot_w = width - left - RIGHT
    band = plot_w / max(len(bars), 1)
    most = max([b.value for b in bars] + [1])
    parts = [
        format_html(
            '<line class="chart-grid" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"/>',
            x1=left,
            x2=width - RIGHT,
            y=top + plot_h,
        )
    ]
    for i, b in enumerate(bars):
        cx = left + (i + 0.5) * band
        h = b.value / most * plot_h if b.value else 0.0
        w = band * 0.72
        parts.append(
            format_html(
                '<g class="{css}"><rect class="chart-bar" x="{x}" y="{y}" width="{w}" '
                'height="{h}"><title>{t}</title></rect>'
                '<text class="chart-value" x="{cx}" y="{vy}" text-anchor="middle">{v}</text>'
                '<text class="chart-axis" x="{cx}" y="{ly}" text-anchor="middle">{label}</text>'
                "</g>",
                css=b.css,
                x=_n(cx - w / 2),
                y=_n(top + plot_h - h),
                w=_n(w),
                h=_n(h),
                t=b.tooltip or f"{b.label}: {b.value}",
                cx=_n(cx),
                vy=_n(top + plot_h - h - 4),
                v=b.value,
                ly=top + plot_h + 17,
                label=b.label,
            )
        )
    return _svg(chart_id, title, desc, height, _concat(parts), width)


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def breakdown_chart(
    rows: Sequence[Row], *, chart_id: str, title: str, desc: str, width: int = WIDTH
) -> SafeString:
    """Horizontal bars from 0 to each group's NPS on a −100…100 axis, with 95 % whiskers;
    groups with too few responses are drawn muted."""
    label_w, row_h, top, bottom = 170, 32, 8, 22
    height = top + row_h * max(len(rows), 1) + bottom
    x0, x1 = label_w, width - RIGHT

    def x(v: float) -> float:
        return x0 + (min(max(v, -100.0), 100.0) + 100.0) / 200.0 * (x1 - x0)

    parts: list[SafeString] = []
    for tick in (-100, -50, 0, 50, 100):
        parts.append(
            format_html(
                '<line class="chart-grid{zero}" x1="{x}" x2="{x}" y1="{y1}" y2="{y2}"/>'
                '<text class="chart-axis" x="{x}" y="{ty}" text-anchor="middle">{label}</text>',
                zero=" chart-zero" if tick == 0 else "",
                x=_n(x(tick)),
                y1=top,
                y2=height - bottom,
                ty=height - 6,
                label=f"{tick:+d}" if tick else "0",
            )
        )
    for i, r in enumerate(rows):
        cy = top + i * row_h + row_h / 2
        parts.append(
            format_html(
                '<text class="chart-axis chart-label" x="{x}" y="{y}" text-anchor="end">'
                "{label}</text>",
                x=label_w - 8,
                y=_n(cy + 4),
                label=_short(r.label),
            )
        )
        if r.nps is None:
            continue
        start, end = sorted((x(0), x(r.nps)))
        css = "chart-hbar" + (" chart-few" if r.muted else "")
        css += " up" if r.nps >= 0 else " down"
        parts.append(
            format_html(
                '<g class="{css}"><rect x="{x}" y="{y}" width="{w}" height="{h}">'
                "<title>{t}</title></rect></g>",
                css=css,
                x=_n(start),
                y=_n(cy - 10),
                w=_n(max(end - start, 1.5)),
                h=20,
                t=r.tooltip,
            )
        )
        if r.low is not None and r.high is not None:
            parts.append(
                format_html(
                    '<line class="chart-ci" x1="{a}" x2="{b}" y1="{y}" y2="{y}"/>'
                    '<line class="chart-ci" x1="{a}" x2="{a}" y1="{y1}" y2="{y2}"/>'
                    '<line class="chart-ci" x1="{b}" x2="{b}" y1="{y1}" y2="{y2}"/>',
                    a=_n(x(r.low)),
                    b=_n(x(r.high)),
                    y=_n(cy),
                    y1=_n(cy - 5),
                    y2=_n(cy + 5),
                )
            )
    return _svg(chart_id, title, desc, height, _concat(parts), width)
