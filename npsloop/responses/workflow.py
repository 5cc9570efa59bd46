"""Working the feedback: tags, notes, status, assignment, one at a time or in bulk."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from npsloop.accounts.models import Membership, Organization
from npsloop.responses.models import Note, Response, ResponseEvent, SavedFilter, Tag
from npsloop.responses.signals import response_changed

MAX_TAG_LENGTH = 50
MAX_NOTE_LENGTH = 5000


def clean_tag(name: str) -> str:
    # Control characters dropped: NUL is refused by PostgreSQL and cuts SQLite's CSV.
    name = " ".join("".join(ch for ch in (name or "") if ch >= " " or ch.isspace()).split())
    if not name:
        raise ValidationError(_("A tag needs a name."))
    if len(name) > MAX_TAG_LENGTH:
        raise ValidationError(_("Keep tags under %(max)d characters.") % {"max": MAX_TAG_LENGTH})
    return name


# What a timeline event changed, as notifications name it (response.updated "changes").
CHANGES = {"tagged": "tags", "untagged": "tags", "open": "status", "closed": "status"}


def _event(responses: Iterable[int], actor, kind: str, detail: str = "") -> None:
    ids = list(responses)
    ResponseEvent.objects.bulk_create(
        ResponseEvent(response_id=pk, actor=actor, kind=kind, detail=detail) for pk in ids
    )
    if not ids:
        return
    # Bulk updates skip auto_now: touch updated_at so `updated_since` and event ids see it.
    Response.objects.filter(pk__in=ids).update(updated_at=timezone.now())
    change = CHANGES.get(kind, "assignee" if kind == "assigned" else kind)

    def announce() -> None:
        for pk in ids:
            response_changed.send(
                sender=Response,
                response_id=pk,
                created=False,
                comment_added=False,
                changes=[change],
            )

    transaction.on_commit(announce)


@transaction.atomic
def add_tag(*, responses: QuerySet[Response], name: str, actor: AbstractBaseUser) -> int:
    """Tag every response of the queryset; returns how many got the tag."""
    name = clean_tag(name)
    organization_ids = set(responses.values_list("organization_id", flat=True).distinct())
    if len(organization_ids) > 1:
        raise ValueError("responses of several organizations")
    if not organization_ids:
        return 0
    tag, _created = Tag.objects.get_or_create(organization_id=organization_ids.pop(), name=name)
    through = Response.tags.through
    ids = list(responses.exclude(tags=tag).values_list("pk", flat=True))
    through.objects.bulk_create(
        [through(response_id=pk, tag_id=tag.pk) for pk in ids], ignore_conflicts=True
    )
    _event(ids, actor, "tagged", name)
    return len(ids)


@transaction.atomic
def remove_tag(*, responses: QuerySet[Response], name: str, actor: AbstractBaseUser) -> int:
    ids = list(responses.filter(tags__name=name).values_list("pk", flat=True))
    Response.tags.through.objects.filter(response_id__in=ids, tag__name=name).delete()
    _event(ids, actor, "untagged", name)
    return len(ids)


@transaction.atomic
def set_status(*, responses: QuerySet[Response], status: str, actor: AbstractBaseUser) -> int:
    if status not in Response.Status.values:
        raise ValidationError(_("Choose open or closed."))
    ids = list(responses.exclude(status=status).values_list("pk", flat=True))
    Response.objects.filter(pk__in=ids).update(status=status)
    _event(ids, actor, status)
    return len(ids)


@transaction.atomic
def assign(
    *,
    organization: Organization,
    responses: QuerySet[Response],
    member_id: int | None,
    actor: AbstractBaseUser,
) -> int:
    """Assign to a member of the organization (None: nobody)."""
    member = None
    if member_id is not None:
        membership = (
            Membership.objects.select_related("user")
            .filter(organization=organization, user_id=member_id)
            .first()
        )
        if membership is None:
            raise ValidationError(_("Choose a member of your organization."))
        member = membership.user
    ids = list(responses.exclude(assignee_id=member_id).values_list("pk", flat=True))
    Response.objects.filter(pk__in=ids).update(assignee=member)
    _event(ids, actor, "assigned", member.email if member else "")
    return len(ids)


def add_note(*, response: Response, text: str, author: AbstractBaseUser) -> Note:
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("The note is empty."))
    if len(text) > MAX_NOTE_LENGTH:
        raise ValidationError(_("Keep notes under %(max)d characters.") % {"max": MAX_NOTE_LENGTH})
    return Note.objects.create(response=response, text=text, author=author)


def save_filter(
    *, organization: Organization, name: str, query: str, actor: AbstractBaseUser
) -> SavedFilter:
    from npsloop.responses.filters import parse

    # Control characters dropped: NUL is refused by PostgreSQL and cuts SQLite's CSV.
    name = " ".join("".join(ch for ch in (name or "") if ch >= " " or ch.isspace()).split())[:100]
    if not name:
        raise ValidationError(_("Give the filter a name."))
    canonical = parse(query).to_query()
    saved, _created = SavedFilter.objects.update_or_create(
        organization=organization, name=name, defaults={"query": canonical, "created_by": actor}
    )
    return saved


def delete_filter(*, organization: Organization, pk: int) -> None:
    """Delete a saved filter; refused while a notification rule uses it."""
    from django.db.models import ProtectedError

    try:
        SavedFilter.objects.filter(organization=organization, pk=pk).delete()
    except ProtectedError as error:
        # Deleting it would leave the rule without a filter: it would match everything.
        raise ValidationError(
            _("Notification rules use this filter; change or delete them first.")
        ) from error
