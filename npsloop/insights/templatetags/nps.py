from __future__ import annotations

from django import template

from npsloop.insights.nps import NpsSummary

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


@register.filter
def share(summary: NpsSummary, part: str) -> float | None:
    return summary.share(getattr(summary, part))


@register.filter
def bucket(percent: int) -> int:
    """Bar heights in steps of 5 %, as CSS classes: no inline styles under our CSP."""
    return max(0, min(100, int(round(percent / 5.0) * 5)))
