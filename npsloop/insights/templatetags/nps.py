from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from npsloop.insights.nps import NpsSummary, round_half_away

register = template.Library()

MINUS = "\u2212"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


@register.filter
def share(summary: NpsSummary, part: str) -> float | None:
    return summary.share(getattr(summary, part))


@register.filter
def share_of(summary: NpsSummary, count: int) -> float | None:
    return summary.share(count)


@register.filter
def bucket(percent: int) -> int:
    """Bar heights in steps of 5 %, as CSS classes: no inline styles under our CSP."""
    return max(0, min(100, int(round(percent / 5.0) * 5)))


@register.filter
def score(value: float | None) -> str:
    """An NPS for people: a whole number (half away from zero), — without responses."""
    rounded = round_half_away(value)
    return "—" if rounded is None else str(rounded).replace("-", MINUS)


@register.filter
def signed(value: float | None) -> str:
    """A change in NPS points: +4, −3, ±0; — without a comparison."""
    rounded = round_half_away(value)
    if rounded is None:
        return "—"
    if rounded == 0:
        return "±0"
    return f"+{rounded}" if rounded > 0 else f"{MINUS}{-rounded}"


@register.filter
def arrow(value: float | None) -> str:
    rounded = round_half_away(value)
    if rounded is None:
        return ""
    return "▲" if rounded > 0 else "▼" if rounded < 0 else "▶"


@register.filter
def interval(summary: NpsSummary) -> str:
    """The 95 % confidence interval, e.g. "20 to 44"."""
    bounds = summary.confidence
    if bounds is None:
        return "—"
    low, high = (score(b) for b in bounds)
    return _("%(low)s to %(high)s") % {"low": low, "high": high}


@register.filter
def updown(value: float | None) -> str:
    """CSS class of a change: up, down, same or none."""
    rounded = round_half_away(value)
    if rounded is None:
        return "none"
    return "up" if rounded > 0 else "down" if rounded < 0 else "same"
