"""NPS arithmetic: pure functions, no database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
        value = self.nps
        # Round half away from zero, as people do by hand (Python rounds half to even).
        if value is None:
            return None
        return int(value + 0.5) if value >= 0 else -int(-value + 0.5)

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
