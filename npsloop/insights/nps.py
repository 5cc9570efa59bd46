"""NPS arithmetic: pure functions, no database."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

PROMOTER_MIN = 9
PASSIVE_MIN = 7


def category(score: int) -> str:
    if not 0 <= score <= 10:
        raise ValueError(f"score must be 0..10, got {score}")
    if score >= PROMOTER_MIN:
        return "promoter"
    if score >= PASSIVE_MIN:
        return "passive"
    return "detractor"


@dataclass(frozen=True)
class NpsSummary:
    distribution: tuple[int, ...]  # count per score 0..10

    @property
    def total(self) -> int:
        return sum(self.distribution)

    @property
    def promoters(self) -> int:
        return sum(self.distribution[PROMOTER_MIN:])

    @property
    def passives(self) -> int:
        return sum(self.distribution[PASSIVE_MIN:PROMOTER_MIN])

    @property
    def detractors(self) -> int:
        return sum(self.distribution[:PASSIVE_MIN])

    def share(self, count: int) -> float | None:
        return None if self.total == 0 else 100.0 * count / self.total

    @property
    def nps(self) -> float | None:
        """%promoters − %detractors, from −100 to 100; None without responses."""
        if self.total == 0:
            return None
        return 100.0 * (self.promoters - self.detractors) / self.total

    @property
    def nps_rounded(self) -> int | None:
        return round_half_away(self.nps)

    @property
    def confidence(self) -> tuple[float, float] | None:
        """The 95 % confidence interval of the NPS; see confidence_interval."""
        return confidence_interval(self.promoters, self.detractors, self.total)

    @property
    def margin(self) -> float | None:
        """Half the width of the 95 % interval before clipping (the "±" of the NPS)."""
        if self.total == 0:
            return None
        p, d = self.promoters / self.total, self.detractors / self.total
        return Z_95 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / self.total) * 100.0

    @property
    def too_few(self) -> bool:
        return too_few(self.total)

    def bars(self) -> list[dict]:
        top = max(self.distribution) or 1
        return [
            {
                "score": score,
                "count": count,
                "category": category(score),
                "percent": round(100 * count / top),
            }
            for score, count in enumerate(self.distribution)
        ]


def round_half_away(value: float | None) -> int | None:
    """Round half away from zero, as people do by hand (Python rounds half to even)."""
    if value is None:
        return None
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def summarize(counts: Mapping[int, int] | Iterable[int]) -> NpsSummary:
    """Build a summary from {score: count} or from an iterable of scores."""
    dist = [0] * 11
    if isinstance(counts, Mapping):
        for score, count in counts.items():
            category(score)
            dist[score] += count
    else:
        for score in counts:
            category(score)
            dist[score] += 1
    return NpsSummary(tuple(dist))


def rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


# --- Confidence, comparison and rolling windows ---------------------------------------

Z_95 = 1.96  # the two-sided 95 % quantile of the normal distribution, as usually rounded
# Below this many responses a score is shown, but marked as too few to judge.
MIN_RESPONSES_TO_JUDGE = 30


def confidence_interval(
    promoters: int, detractors: int, total: int, *, z: float = Z_95
) -> tuple[float, float] | None:
    """The 95 % confidence interval of the NPS (Wald interval), clipped to [−100, 100].

    Each response is +1 (promoter), 0 (passive) or −1 (detractor); the NPS is 100 times
    their mean. With p = promoters / n and d = detractors / n the mean is p − d and the
    variance of one response is E[X²] − E[X]² = p + d − (p − d)², so

        var(NPS / 100) = (p + d − (p − d)²) / n
        CI = NPS ± z · √var · 100,   z = Z_95 = 1.96 for 95 %

    None without responses. With all responses in one category the variance is 0 and the
    interval is the point itself: a hint to read it together with MIN_RESPONSES_TO_JUDGE.
    """
    if total <= 0:
        return None
    if promoters < 0 or detractors < 0 or promoters + detractors > total:
        raise ValueError("promoters and detractors must be parts of the total")
    p, d = promoters / total, detractors / total
    variance = max(0.0, p + d - (p - d) ** 2) / total
    nps = 100.0 * (p - d)
    margin = z * math.sqrt(variance) * 100.0
    return max(-100.0, nps - margin), min(100.0, nps + margin)


def too_few(total: int) -> bool:
    """Too few responses to judge a score (still shown, but marked)."""
    return total < MIN_RESPONSES_TO_JUDGE


def delta(current: float | None, previous: float | None) -> float | None:
    """current − previous, None when either is missing."""
    if current is None or previous is None:
        return None
    return current - previous


def direction(change: float | None) -> str:
    """ "up", "down", "same" or "" (no comparison), for arrows and CSS classes."""
    if change is None:
        return ""
    if change > 0:
        return "up"
    if change < 0:
        return "down"
    return "same"


def combine(summaries: Iterable[NpsSummary]) -> NpsSummary:
    """One summary of all the responses of several summaries (counts add up)."""
    dist = [0] * 11
    for summary in summaries:
        for score, count in enumerate(summary.distribution):
            dist[score] += count
    return NpsSummary(tuple(dist))


def rolling(summaries: Sequence[NpsSummary], window: int, *, lead: int = 0) -> list[NpsSummary]:
    """Rolling-window summaries: item i combines summaries i−window+1 … i.

    The NPS of a window comes from the summed counts (not from averaging scores, which
    would weigh a quiet week like a busy one). The first `lead` summaries only feed the
    windows (periods before the range) and are not returned.
    """
    if window < 1:
        raise ValueError("window must be 1 or more")
    out = []
    for index in range(lead, len(summaries)):
        out.append(combine(summaries[max(0, index - window + 1) : index + 1]))
    return out
