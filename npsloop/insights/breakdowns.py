"""NPS by survey, language, gender or any contact property: one grouped query each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import EllipsisType

from django.db.models import Count, F, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.insights import rolled, rollups
from npsloop.insights.models import RollupState
from npsloop.insights.nps import NpsSummary, summarize
from npsloop.responses.filters import PROPERTY_PREFIX, ResponseFilter, compile_filter
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey

SURVEY, LANGUAGE, GENDER = "survey", "language", "gender"
GENDER_KEY = rollups.GENDER_KEY
FIXED = (SURVEY, LANGUAGE, GENDER)
# The same property names as the filter language accepts.
PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_\-. ]{1,100}$")
# How many recent contacts are looked at to offer property names.
PROPERTY_SAMPLE = 500
LANGUAGE_NAMES = {"en": "English", "de": "German"}


@dataclass(frozen=True)
class Group:
    key: str  # the value compared (survey id, language code, property value; "" = not set)
    label: str
    summary: NpsSummary
    # The filter parameter that narrows the inbox to this group, e.g. ("lang", "de").
    param: tuple[str, str] | None = None
    survey: Survey | None = None

    @property
    def too_few(self) -> bool:
        return self.summary.too_few


@dataclass(frozen=True)
class Breakdown:
    by: str  # "survey", "language", "gender" or "prop.<key>"
    groups: tuple[Group, ...]

    @property
    def property_key(self) -> str | None:
        return self.by[len(PROPERTY_PREFIX) :] if self.by.startswith(PROPERTY_PREFIX) else None


def valid(by: str) -> bool:
    if by in FIXED:
        return True
    return by.startswith(PROPERTY_PREFIX) and bool(PROPERTY_KEY.match(by[len(PROPERTY_PREFIX) :]))


def sort_key(group: Group) -> tuple:
    """Groups that can be judged first, best NPS first; then the small ones, biggest first."""
    nps = group.summary.nps
    return (
        group.too_few,
        nps is None,
        -(nps or 0.0) if not group.too_few else 0.0,
        -group.summary.total,
        group.label.lower(),
    )


def _grouped(responses: QuerySet[Response], expression) -> dict[object, dict[int, int]]:
    rows = (
        responses.order_by()
        .annotate(group=expression)
        .values_list("group", "score")
        .annotate(n=Count("id"))
    )
    counts: dict[object, dict[int, int]] = {}
    for group, score, n in rows:
        bucket = counts.setdefault("" if group is None else group, {})  # unset and empty: one
        bucket[score] = bucket.get(score, 0) + n
    return counts


Counts = dict[object, dict[int, int]]


def _by_survey(organization: Organization, flt: ResponseFilter, counts: Counts) -> list[Group]:
    surveys = Survey.objects.filter(organization=organization)
    if flt.surveys:
        surveys = surveys.filter(pk__in=flt.surveys)
    groups = []
    for survey in surveys.order_by("name", "pk"):
        # An archived survey shows only while it has responses in the filter.
        if survey.status == Survey.Status.ARCHIVED and survey.pk not in counts:
            continue
        groups.append(
            Group(
                key=str(survey.pk),
                label=survey.name,
                summary=summarize(counts.get(survey.pk, {})),
                param=("survey", str(survey.pk)),
                survey=survey,
            )
        )
    return groups


def _label_not_set() -> str:
    return _("(not set)")


def _by_language(counts: Counts) -> list[Group]:
    return [
        Group(
            key=code,
            label=_(LANGUAGE_NAMES[code]) if code in LANGUAGE_NAMES else (code or _label_not_set()),
            summary=summarize(dist),
            param=("lang", code) if code else None,
        )
        for code, dist in counts.items()
    ]


def _by_gender(counts: Counts) -> list[Group]:
    labels = dict(Contact.Gender.choices)
    return [
        Group(
            key=gender,
            label=str(labels.get(gender, gender)) if gender else _label_not_set(),
            summary=summarize(dist),
        )
        for gender, dist in counts.items()
    ]


def _property_value(key: str):
    # KeyTextTransform takes the key as a parameter, never as lookup syntax; Cast makes
    # 5 and "5" one group, compared as the filter language compares them.
    return Cast(KeyTextTransform(key, "contact__properties"), TextField())


def _by_property(key: str, counts: Counts) -> list[Group]:
    return [
        Group(
            key=text,
            label=text or _label_not_set(),
            summary=summarize(dist),
            param=(PROPERTY_PREFIX + key, text) if text else None,
        )
        for text, dist in counts.items()
    ]


def _counts(
    organization: Organization, flt: ResponseFilter, by: str, rollup: RollupState | None
) -> Counts:
    """{group: {score: n}}: from the roll-ups when they hold the group, else live."""
    key = GENDER_KEY if by == GENDER else by[len(PROPERTY_PREFIX) :]
    if rollup is not None:
        if by == SURVEY:
            return rolled.by_field(organization, flt, "survey_id")
        if by == LANGUAGE:
            return rolled.by_field(organization, flt, "language")
        if rolled.has_key(rollup, key):
            return rolled.by_property(organization, flt, key)
    responses = compile_filter(organization, flt)
    if by == SURVEY:
        return _grouped(responses, F("survey_id"))
    if by == LANGUAGE:
        return _grouped(responses, F("language"))
    if by == GENDER:
        return _grouped(responses, F("contact__gender"))
    return _grouped(responses, _property_value(key))


def breakdown(
    organization: Organization,
    flt: ResponseFilter,
    by: str,
    *,
    rollup: RollupState | None | EllipsisType = ...,
) -> Breakdown:
    """NPS per group for the filter, sorted (see sort_key); two queries for surveys, one
    otherwise. `by`: "survey", "language", "gender" or "prop.<key>". From the daily
    roll-ups when the filter and the group allow (see rollups.for_filter)."""
    if not valid(by):
        raise ValueError(f"cannot break down by {by!r}")
    counts = _counts(organization, flt, by, rollups.for_filter(organization, flt, rollup))
    if by == SURVEY:
        groups = _by_survey(organization, flt, counts)
    elif by == LANGUAGE:
        groups = _by_language(counts)
    elif by == GENDER:
        groups = _by_gender(counts)
    else:
        groups = _by_property(by[len(PROPERTY_PREFIX) :], counts)
    return Breakdown(by=by, groups=tuple(sorted(groups, key=sort_key)))


def property_keys(organization: Organization) -> list[str]:
    """Property names of the organization's most recent contacts, for the breakdown menu."""
    sample = (
        Contact.objects.filter(organization=organization)
        .exclude(properties={})
        .order_by("-id")
        .values_list("properties", flat=True)[:PROPERTY_SAMPLE]
    )
    keys = {k for props in sample if isinstance(props, dict) for k in props}
    return sorted((k for k in keys if PROPERTY_KEY.match(k)), key=str.lower)
