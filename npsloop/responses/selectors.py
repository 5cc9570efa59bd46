from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.responses.filters import ResponseFilter, where_sql
from npsloop.responses.models import Response, SavedFilter, Tag
from npsloop.responses.pagination import Page, decode, encode
from npsloop.surveys.models import Survey


def responses_of(organization: Organization, *, survey: Survey | None = None) -> QuerySet[Response]:
    qs = Response.objects.filter(organization=organization)
    if survey is not None:
        qs = qs.filter(survey=survey)
    return qs.select_related("contact", "survey").order_by("-created_at", "-id")


def response_for_invitation(invitation_id: int) -> Response | None:
    return Response.objects.filter(invitation_id=invitation_id).first()


class InboxItem(NamedTuple):
    """What the inbox list shows of one response: a plain row, not model instances (see
    inbox_page). Contact and assignee columns are None when there is none."""

    pk: int
    score: int
    comment: str
    language: str
    status: str
    created_at: dt.datetime
    contact_id: int | None
    contact_name: str | None  # as Contact.full_name
    contact_email: str | None
    survey_name: str
    assignee_id: int | None
    assignee_email: str | None
    tags: tuple[str, ...]  # names, in Tag.Meta.ordering

    @property
    def category(self) -> str:
        from npsloop.insights.nps import category

        return category(self.score)


def inbox_page(
    organization: Organization, flt: ResponseFilter, *, cursor: str | None, size: int = 50
) -> Page[InboxItem]:
    """One page of the inbox, newest first, in one query.

    The same rows as compile_filter(organization, flt) ordered by (created_at, id)
    descending and paged with pagination.page's cursor, but written as one SQL statement
    (tag names as a correlated aggregate) read into plain items: building the ORM query
    and four model instances per row took 20 times as long as the query (docs/inbox.md).
    """
    where, params = where_sql(organization, flt, connection=connection)
    if cursor:
        created_at, pk = decode(cursor)
        moment = connection.ops.adapt_datetimefield_value(created_at)
        # (created_at, id) < (moment, pk), with a range on created_at for the index.
        where += " AND r.created_at <= %s AND (r.created_at < %s OR r.id < %s)"
        params += [moment, moment, pk]
    with connection.cursor() as cur:
        cur.execute(_inbox_sql(connection.vendor) % where, [*params, size + 1])
        rows = cur.fetchall()
    items = _items(rows[:size], connection.timezone)
    more = len(rows) > size
    next_cursor = encode(items[-1].created_at, items[-1].pk) if more else None
    return Page(items=items, next_cursor=next_cursor)


# Contact.full_name over the alias c: the non-empty ones of first and last name, joined
# by a space (the inbox page and the export's lines).
FULL_NAME_SQL = (
    "CASE WHEN c.first_name = '' THEN c.last_name WHEN c.last_name = '' THEN c.first_name "
    "ELSE c.first_name || ' ' || c.last_name END"
)


def tag_rows_sql() -> str:
    """The tag links and tags (aliases rt, t) of the response r, as a FROM ... WHERE."""
    links, tags = Response.tags.through._meta.db_table, Tag._meta.db_table
    return f"FROM {links} rt JOIN {tags} t ON t.id = rt.tag_id WHERE rt.response_id = r.id"


@functools.cache
def _inbox_sql(vendor: str) -> str:
    """The page query with a %s for the WHERE (the placeholders stay for the driver)."""
    tag_rows = tag_rows_sql()
    if vendor == "postgresql":
        tag_names = f"ARRAY(SELECT t.name {tag_rows} ORDER BY t.name)"
    else:  # SQLite: sorted in Python, by code point as SQLite's BINARY collation sorts
        tag_names = f"(SELECT json_group_array(t.name) {tag_rows})"
    # SQLite: "+" (a no-op) makes it an expression, which the driver hands over as text
    # instead of parsing it to a naive datetime that would still need its zone.
    created_at = "+r.created_at" if vendor == "sqlite" else "r.created_at"
    # S608: only table names go into the SQL; the filter's values stay parameters.
    sql = (
        f"SELECT r.id, r.score, r.comment, r.language, r.status, {created_at}, r.contact_id, "  # noqa: S608
        f"{FULL_NAME_SQL}, c.email, s.name, r.assignee_id, u.email, {tag_names} "
        f"FROM {Response._meta.db_table} r "
        f"JOIN {Survey._meta.db_table} s ON s.id = r.survey_id "
        f"LEFT JOIN {Contact._meta.db_table} c ON c.id = r.contact_id "
        f"LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = r.assignee_id "
        "WHERE {where} ORDER BY r.created_at DESC, r.id DESC LIMIT %s"
    )
    return sql.replace("%", "%%").replace("{where}", "%s")


def _items(rows: list[tuple[Any, ...]], zone: dt.tzinfo) -> list[InboxItem]:
    """Rows of _inbox_sql, times and tags read as the ORM reads them. A hot loop (the
    Python per row was most of the page's time): the time is parsed from SQLite's text at
    once with its zone, and the tuples are made without the keyword-binding constructor."""
    utc = "+00:00" if zone is dt.UTC else ""
    items = []
    for row in rows:
        created_at, tag_names = row[5], row[12]
        if isinstance(created_at, str):  # SQLite: naive text in the connection's zone
            created_at = (
                _parse(created_at + utc) if utc else _parse(created_at).replace(tzinfo=zone)
            )
        if isinstance(tag_names, str):  # SQLite's JSON array
            tag_names = sorted(json.loads(tag_names)) if tag_names != "[]" else ()
        items.append(_new(InboxItem, (*row[:5], created_at, *row[6:12], tuple(tag_names))))
    return items


_parse = dt.datetime.fromisoformat
_new = tuple.__new__


def response_of(organization: Organization, pk: int) -> Response:
    return get_object_or_404(
        Response.objects.select_related("contact", "survey", "assignee", "invitation"),
        organization=organization,
        pk=pk,
    )


def tags_of(organization: Organization) -> QuerySet[Tag]:
    return Tag.objects.filter(organization=organization)


def saved_filters_of(organization: Organization) -> QuerySet[SavedFilter]:
    return SavedFilter.objects.filter(organization=organization)
