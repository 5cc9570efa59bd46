"""The one filter language of responses: the inbox, saved filters, share links,
metrics and the API all parse a URL query string into a ResponseFilter and
compile it here to one queryset."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform, compile_json_path
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from npsloop.accounts.models import Organization
from npsloop.responses.models import Response, Tag

CATEGORIES = {"promoter": (9, 10), "passive": (7, 8), "detractor": (0, 6)}
_PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_\-. ]{1,100}$")
PROPERTY_PREFIX = "prop."
# Parameters that are no filter: they may stand in the same query string.
NOT_FILTERS = {"cursor", "page", "format", "limit"}


@dataclass(frozen=True)
class ResponseFilter:
    surveys: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    score_min: int | None = None
    score_max: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive, in the organization's time zone
    comment: str = ""  # "with", "without" or "" (either)
    q: str = ""
    properties: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    status: str = ""
    languages: tuple[str, ...] = ()
    assignee: str = ""  # a user id, or "none"
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_empty(self) -> bool:
        return all(not getattr(self, f.name) for f in fields(self) if f.name != "errors")

    def to_query(self) -> str:
        """Canonical query string: the same filter always gives the same link."""
        pairs: list[tuple[str, str]] = []
        pairs += [("survey", str(s)) for s in self.surveys]
        pairs += [("category", c) for c in self.categories]
        if self.score_min is not None:
            pairs.append(("score_min", str(self.score_min)))
        if self.score_max is not None:
            pairs.append(("score_max", str(self.score_max)))
        if self.date_from:
            pairs.append(("from", self.date_from.isoformat()))
        if self.date_to:
            pairs.append(("to", self.date_to.isoformat()))
        if self.comment:
            pairs.append(("comment", self.comment))
        if self.q:
            pairs.append(("q", self.q))
        pairs += [(PROPERTY_PREFIX + k, v) for k, v in self.properties]
        pairs += [("tag", t) for t in self.tags]
        if self.status:
            pairs.append(("status", self.status))
        pairs += [("lang", lang) for lang in self.languages]
        if self.assignee:
            pairs.append(("assignee", self.assignee))
        return urlencode(pairs)


def _int(value: str, name: str, errors: dict[str, str], low: int, high: int) -> int | None:
    try:
        number = int(value)
    except ValueError:
        errors[name] = _("%(value)s is not a number.") % {"value": value[:50]}
        return None
    if not low <= number <= high:
        errors[name] = _("Use a number from %(low)d to %(high)d.") % {"low": low, "high": high}
        return None
    return number


# Dates a filter may name: the day after the last one and the range before the first
# still exist as Python dates (the API uses the same bounds).
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)


def _date(value: str, name: str, errors: dict[str, str]) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        errors[name] = _("%(value)s is not a date (YYYY-MM-DD).") % {"value": value[:50]}
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        errors[name] = _("Choose a date from %(first)s to %(last)s.") % {
            "first": FIRST_DAY.isoformat(),
            "last": LAST_DAY.isoformat(),
        }
        return None
    return day


def parse(query: str | dict | None, *, strict: bool = False) -> ResponseFilter:
    """Read a filter from a query string (or QueryDict / dict of lists).

    Bad values are left out and explained in `errors`; with strict=True an unknown
    parameter is an error too (the API wants that; a bookmarked link should still open).
    """
    if query is None:
        items: list[tuple[str, str]] = []
    elif isinstance(query, str):
        items = parse_qsl(query.lstrip("?"), keep_blank_values=False)
    else:
        items = (
            [(k, v) for k in query for v in query.getlist(k)]
            if hasattr(query, "getlist")
            else [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
        )
    errors: dict[str, str] = {}
    values: dict[str, list[str]] = {}
    properties: list[tuple[str, str]] = []
    for key, raw in items:
        value = str(raw).strip()[:200]
        if not value:
            continue
        if "\x00" in key or "\x00" in value:
            # PostgreSQL cannot compare text containing NUL; no real filter has one.
            errors[key.replace("\x00", "")[:60] or "q"] = _("Text may not contain NUL.")
            continue
        if key == "prop" and "=" in value:
            # The inbox form's "key=value" field; canonical links use prop.<key>=<value>.
            name, _sep, value = value.partition("=")
            key, value = PROPERTY_PREFIX + name.strip(), value.strip()
        if key.startswith(PROPERTY_PREFIX):
            name = key[len(PROPERTY_PREFIX) :]
            if _PROPERTY_KEY.match(name):
                properties.append((name, value))
            else:
                errors[key] = _("%(key)s is not a property name.") % {"key": key[:60]}
            continue
        values.setdefault(key, []).append(value)

    def one(name: str) -> str:
        return values.get(name, [""])[-1]

    surveys = tuple(
        sorted(
            {
                n
                for v in values.get("survey", [])
                if (n := _int(v, "survey", errors, 1, 2**62)) is not None
            }
        )
    )
    categories = []
    for c in values.get("category", []):
        if c in CATEGORIES:
            categories.append(c)
        else:
            errors["category"] = _("Choose promoter, passive or detractor.")
    score_min = _int(one("score_min"), "score_min", errors, 0, 10) if one("score_min") else None
    score_max = _int(one("score_max"), "score_max", errors, 0, 10) if one("score_max") else None
    date_from = _date(one("from"), "from", errors) if one("from") else None
    date_to = _date(one("to"), "to", errors) if one("to") else None
    if date_from and date_to and date_to < date_from:
        errors["to"] = _("The end date is before the start date.")
        date_to = None
    comment = one("comment")
    if comment not in {"", "with", "without"}:
        errors["comment"] = _("Choose with or without.")
        comment = ""
    status = one("status")
    if status not in {"", "open", "closed"}:
        errors["status"] = _("Choose open or closed.")
        status = ""
    assignee = one("assignee")
    if (
        assignee
        and assignee != "none"
        and not (assignee.isascii() and assignee.isdigit() and int(assignee) <= 2**62)
    ):
        errors["assignee"] = _("Choose a member.")
        assignee = ""
    known = {
        "survey",
        "category",
        "score_min",
        "score_max",
        "from",
        "to",
        "comment",
        "q",
        "tag",
        "status",
        "lang",
        "assignee",
    }
    if strict:
        for key in values.keys() - known - NOT_FILTERS:
            errors[key] = _("Unknown filter %(key)s.") % {"key": key[:60]}
    return ResponseFilter(
        surveys=surveys,
        categories=tuple(sorted(set(categories))),
        score_min=score_min,
        score_max=score_max,
        date_from=date_from,
        date_to=date_to,
        comment=comment,
        q=one("q")[:200],
        properties=tuple(sorted(set(properties))),
        tags=tuple(sorted(set(values.get("tag", [])))),
        status=status,
        languages=tuple(sorted({v.lower()[:8] for v in values.get("lang", [])})),
        assignee=assignee,
        errors=errors,
    )


def compile_filter(organization: Organization, flt: ResponseFilter) -> QuerySet[Response]:
    """The organization's responses matching the filter (unordered)."""
    qs = Response.objects.filter(organization=organization)
    if flt.surveys:
        qs = qs.filter(survey_id__in=flt.surveys)
    if flt.categories:
        ranges = Q()
        for c in flt.categories:
            low, high = CATEGORIES[c]
            ranges |= Q(score__gte=low, score__lte=high)
        qs = qs.filter(ranges)
    if flt.score_min is not None:
        qs = qs.filter(score__gte=flt.score_min)
    if flt.score_max is not None:
        qs = qs.filter(score__lte=flt.score_max)
    tz = organization.zone
    if flt.date_from:
        qs = qs.filter(created_at__gte=dt.datetime.combine(flt.date_from, dt.time(), tz))
    if flt.date_to:
        end = dt.datetime.combine(flt.date_to + dt.timedelta(days=1), dt.time(), tz)
        qs = qs.filter(created_at__lt=end)
    if flt.comment == "with":
        qs = qs.exclude(comment="")
    elif flt.comment == "without":
        qs = qs.filter(comment="")
    if flt.q:
        qs = qs.filter(comment__icontains=flt.q)
    for index, (key, value) in enumerate(flt.properties):
        # KeyTextTransform takes the key as a parameter: no lookup syntax can sneak in.
        alias = f"_prop{index}"
        # Cast: compared as plain text, not as JSON (a number 5 matches "5").
        text = Cast(KeyTextTransform(key, "contact__properties"), TextField())
        qs = qs.alias(**{alias: text}).filter(**{alias: value})
    if flt.tags:
        tagged = Response.tags.through.objects.filter(
            response_id=OuterRef("pk"), tag__name__in=flt.tags
        )
        qs = qs.filter(Exists(tagged))
    if flt.status:
        qs = qs.filter(status=flt.status)
    if flt.languages:
        qs = qs.filter(language__in=flt.languages)
    if flt.assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif flt.assignee:
        qs = qs.filter(assignee_id=int(flt.assignee))
    return qs


def where_sql(
    organization: Organization,
    flt: ResponseFilter,
    *,
    connection: BaseDatabaseWrapper = default_connection,
) -> tuple[str, list[Any]]:
    """compile_filter's WHERE as plain SQL, for the inbox's hand-written page query.

    The same conditions as compile_filter, written as the SQL Django compiles them to (so
    the results are the same row for row; tests/test_inbox_sql.py compares the two), over
    the aliases `r` (responses_response) and `c` (contacts_contact, LEFT JOINed on
    r.contact_id). Building the ORM query costs more than running it for one page.
    """
    ops = connection.ops
    conditions = ["r.organization_id = %s"]
    params: list[Any] = [organization.pk]

    def add(sql: str, *values: Any) -> None:
        conditions.append(sql)
        params.extend(values)

    if flt.surveys:
        add(f"r.survey_id IN ({', '.join(['%s'] * len(flt.surveys))})", *flt.surveys)
    if flt.categories:
        ranges = [CATEGORIES[c] for c in flt.categories]
        add(
            "(" + " OR ".join(["(r.score >= %s AND r.score <= %s)"] * len(ranges)) + ")",
            *[bound for pair in ranges for bound in pair],
        )
    if flt.score_min is not None:
        add("r.score >= %s", flt.score_min)
    if flt.score_max is not None:
        add("r.score <= %s", flt.score_max)
    tz = organization.zone
    if flt.date_from:
        start = dt.datetime.combine(flt.date_from, dt.time(), tz)
        add("r.created_at >= %s", ops.adapt_datetimefield_value(start))
    if flt.date_to:
        end = dt.datetime.combine(flt.date_to + dt.timedelta(days=1), dt.time(), tz)
        add("r.created_at < %s", ops.adapt_datetimefield_value(end))
    if flt.comment == "with":
        add("NOT (r.comment = %s)", "")
    elif flt.comment == "without":
        add("r.comment = %s", "")
    if flt.q:
        # comment__icontains: UPPER(...) LIKE UPPER(...) on PostgreSQL, LIKE on SQLite.
        lhs = ops.lookup_cast("icontains", "TextField") % "r.comment"
        add(
            f"{lhs} {connection.operators['icontains'] % '%s'}",
            f"%{ops.prep_for_like_query(flt.q)}%",
        )
    for key, value in flt.properties:
        add(*_property_sql(connection, key, value))
    if flt.tags:
        # S608: only table names and placeholders are written into the SQL.
        links, tags = Response.tags.through._meta.db_table, Tag._meta.db_table
        names = ", ".join(["%s"] * len(flt.tags))
        add(
            f"EXISTS (SELECT 1 FROM {links} rt JOIN {tags} t ON t.id = rt.tag_id "  # noqa: S608
            f"WHERE rt.response_id = r.id AND t.name IN ({names}))",
            *flt.tags,
        )
    if flt.status:
        add("r.status = %s", flt.status)
    if flt.languages:
        add(f"r.language IN ({', '.join(['%s'] * len(flt.languages))})", *flt.languages)
    if flt.assignee == "none":
        add("r.assignee_id IS NULL")
    elif flt.assignee:
        add("r.assignee_id = %s", int(flt.assignee))
    return " AND ".join(conditions), params


def _property_sql(connection: BaseDatabaseWrapper, key: str, value: str) -> tuple[Any, ...]:
    """Cast(KeyTextTransform(key, "contact__properties"), TextField()) = value, as Django
    writes it: a key that reads as an integer is an array index there, so here too."""
    if connection.vendor == "postgresql":
        try:
            lookup: int | str = int(key)
        except ValueError:
            lookup = key
        if isinstance(lookup, str) and not _json_non_string(value):
            # Then the value's text can only be the JSON string itself, so containment is
            # the same condition, and contacts_properties_gin (contacts.0003) can answer
            # it: a value few contacts have is found at once instead of by walking all
            # responses. The planner also estimates it better than ->> (docs/inbox.md).
            return "c.properties @> %s::jsonb", json.dumps({key: value})
        return "((c.properties ->> %s))::text = %s", lookup, value
    if connection.vendor == "sqlite":
        path = compile_json_path([key])
        kinds = ",".join(repr(kind) for kind in connection.ops.jsonfield_datatype_values)
        sql = (
            f"CAST((CASE WHEN JSON_TYPE(c.properties, %s) IN ({kinds}) "
            "THEN JSON_TYPE(c.properties, %s) ELSE JSON_EXTRACT(c.properties, %s) END) "
            "AS text) = %s"
        )
        return sql, path, path, path, value
    raise NotImplementedError(f"property filters on {connection.vendor}")


def _json_non_string(text: str) -> bool:
    """Whether text reads as a JSON number, true, false, null, array or object: the text
    that ->> gives for such a value (else ->> matches only a JSON string)."""
    try:
        return not isinstance(json.loads(text), str)
    except ValueError:
        return False
