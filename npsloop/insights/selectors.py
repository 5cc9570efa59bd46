"""Dashboard numbers, each one aggregate query."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from npsloop.accounts.models import Organization
from npsloop.insights.nps import NpsSummary, rate, summarize
from npsloop.invitations.models import Invitation
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey

_DELIVERED = [Invitation.State.SENT, Invitation.State.RESPONDED]


@dataclass(frozen=True)
class Overview:
    summary: NpsSummary
    sent: int
    responded: int
    comments: int

    @property
    def response_rate(self) -> float | None:
        return rate(self.responded, self.sent)


def overview(organization: Organization, *, survey: Survey | None = None) -> Overview:
    responses = Response.objects.filter(organization=organization)
    invitations = Invitation.objects.filter(organization=organization)
    if survey is not None:
        responses = responses.filter(survey=survey)
        invitations = invitations.filter(survey=survey)
    by_score = dict(responses.values_list("score").annotate(n=Count("id")).order_by())
    comments = responses.exclude(comment="").count()
    counts = invitations.aggregate(
        sent=Count("id", filter=Q(state__in=_DELIVERED)),
        responded=Count("id", filter=Q(state=Invitation.State.RESPONDED)),
    )
    return Overview(
        summary=summarize(by_score),
        sent=counts["sent"],
        responded=counts["responded"],
        comments=comments,
    )


def per_survey(organization: Organization) -> list[tuple[Survey, NpsSummary]]:
    """Every non-archived survey with its summary, from one grouped query."""
    surveys = list(Survey.objects.filter(organization=organization).exclude(status="archived"))
    rows = (
        Response.objects.filter(organization=organization)
        .values_list("survey_id", "score")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, dict[int, int]] = {}
    for survey_id, score, n in rows:
        counts.setdefault(survey_id, {})[score] = n
    return [(s, summarize(counts.get(s.pk, {}))) for s in surveys]
