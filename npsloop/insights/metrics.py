"""The dashboard's key figures for one filter of the inbox, each an aggregate query."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from types import EllipsisType

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.insights import periods, rolled, rollups
from npsloop.insights.models import RollupState
from npsloop.insights.nps import NpsSummary, delta, rate, summarize
from npsloop.invitations.models import Invitation
from npsloop.responses.filters import ResponseFilter, compile_filter
from npsloop.responses.models import Response

# An invitation counts as sent once the email left; a bounce was never delivered.
DELIVERED = (Invitation.State.SENT, Invitation.State.RESPONDED)


@dataclass(frozen=True)
class Metrics:
    summary: NpsSummary
    comments: int
    sent: int
    responded: int
    unsubscribes: int
    bounces: int
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    # The same filter over the range of the same length just before (None: no range).
    previous: NpsSummary | None = None

    @property
    def response_rate(self) -> float | None:
        return rate(self.responded, self.sent)

    @property
    def comment_rate(self) -> float | None:
        return rate(self.comments, self.summary.total)

    @property
    def previous_range(self) -> tuple[dt.date, dt.date] | None:
        if self.date_from is None or self.date_to is None:
            return None
        return periods.previous_range(self.date_from, self.date_to)

    @property
    def delta(self) -> float | None:
        """NPS change against the previous range (unrounded)."""
        if self.previous is None:
            return None
        return delta(self.summary.nps, self.previous.nps)


def distribution(responses: QuerySet[Response]) -> tuple[NpsSummary, int]:
    """Counts per score and the number with a comment, in one grouped query."""
    rows = (
        responses.order_by()
        .values_list("score")
        .annotate(n=Count("id"), c=Count("id", filter=~Q(comment="")))
    )
    by_score, comments = {}, 0
    for score, n, c in rows:
        by_score[score] = n
        comments += c
    return summarize(by_score), comments


def filtered_distribution(
    organization: Organization, flt: ResponseFilter, rollup: RollupState | None
) -> tuple[NpsSummary, int]:
    """distribution() of the filter's responses, from the roll-ups when it can be."""
    if rollup is not None and rolled.supports(flt):
        counts, comments = rolled.distribution(organization, flt)
        return summarize(counts), comments
    return distribution(compile_filter(organization, flt))


def _in_range(field: str, organization: Organization, flt: ResponseFilter) -> Q:
    zone, q = organization.zone, Q()
    if flt.date_from:
        q &= Q(**{f"{field}__gte": periods.midnight(flt.date_from, zone)})
    if flt.date_to:
        q &= Q(**{f"{field}__lt": periods.midnight(flt.date_to + dt.timedelta(days=1), zone)})
    return q


def _contact_properties(qs: QuerySet, prefix: str, flt: ResponseFilter) -> QuerySet:
    # The same comparison as the filter language: the key as a parameter, compared as text.
    for index, (key, value) in enumerate(flt.properties):
        alias = f"_prop{index}"
        text = Cast(KeyTextTransform(key, f"{prefix}properties"), TextField())
        qs = qs.alias(**{alias: text}).filter(**{alias: value})
    return qs


def invitations_counts(organization: Organization, flt: ResponseFilter) -> tuple[int, int]:
    """(sent, responded) for the response rate, in one query.

    Sent: invitations whose email left in the date range, to the filter's surveys,
    languages and contact properties. Responded: those of them with a response that
    matches the rest of the filter (category, comment, tags, …) at any time, so a
    response on Monday to Sunday's email counts for Sunday's invitation.
    """
    invitations = Invitation.objects.filter(organization=organization, state__in=DELIVERED).filter(
        _in_range("sent_at", organization, flt)
    )
    if flt.surveys:
        invitations = invitations.filter(survey_id__in=flt.surveys)
    if flt.languages:
        invitations = invitations.filter(language__in=flt.languages)
    invitations = _contact_properties(invitations, "contact__", flt)
    answers = compile_filter(
        organization, dataclasses.replace(flt, date_from=None, date_to=None)
    ).filter(invitation_id=OuterRef("pk"))
    counts = invitations.aggregate(
        sent=Count("id"),
        responded=Count("id", filter=Exists(answers)),
    )
    return counts["sent"], counts["responded"]


def contact_mishaps(organization: Organization, flt: ResponseFilter) -> tuple[int, int]:
    """(unsubscribes, bounces): contacts who unsubscribed or bounced in the date range.

    Scoped like the filter where it applies to people: contact properties, the
    contact's language, and (with a survey filter) contacts invited to those surveys.
    """
    contacts = Contact.objects.filter(organization=organization)
    if flt.languages:
        contacts = contacts.filter(language__in=flt.languages)
    if flt.surveys:
        invited = Invitation.objects.filter(contact_id=OuterRef("pk"), survey_id__in=flt.surveys)
        contacts = contacts.filter(Exists(invited))
    contacts = _contact_properties(contacts, "", flt)
    unsubscribed = Q(unsubscribed_at__isnull=False) & _in_range(
        "unsubscribed_at", organization, flt
    )
    bounced = Q(bounced_at__isnull=False) & _in_range("bounced_at", organization, flt)
    # Only these rows can count; said in the WHERE too, the database reads them by the
    # indexes on (organization, unsubscribed_at) and (organization, bounced_at).
    counts = contacts.filter(unsubscribed | bounced).aggregate(
        unsubscribes=Count("id", filter=unsubscribed), bounces=Count("id", filter=bounced)
    )
    return counts["unsubscribes"], counts["bounces"]


def metrics(
    organization: Organization,
    flt: ResponseFilter,
    *,
    compare: bool = True,
    rollup: RollupState | None | EllipsisType = ...,
) -> Metrics:
    """NPS, shares, distribution, response and comment rate, unsubscribes and bounces
    for the filter; with compare and a full date range also the previous range's NPS.
    Four queries (three without the comparison); the distributions come from the daily
    roll-ups when the filter allows (see rollups.for_filter)."""
    rollup = rollups.for_filter(organization, flt, rollup)
    summary, comments = filtered_distribution(organization, flt, rollup)
    sent, responded = invitations_counts(organization, flt)
    unsubscribes, bounces = contact_mishaps(organization, flt)
    previous = None
    if compare and flt.date_from and flt.date_to:
        before_from, before_to = periods.previous_range(flt.date_from, flt.date_to)
        before = dataclasses.replace(flt, date_from=before_from, date_to=before_to)
        previous, _comments = filtered_distribution(organization, before, rollup)
    return Metrics(
        summary=summary,
        comments=comments,
        sent=sent,
        responded=responded,
        unsubscribes=unsubscribes,
        bounces=bounces,
        date_from=flt.date_from,
        date_to=flt.date_to,
        previous=previous,
    )
