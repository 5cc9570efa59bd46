"""Recording ratings and comments from the survey pages."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from npsloop.invitations.models import Invitation
from npsloop.invitations.services import mark_responded
from npsloop.responses.models import Response
from npsloop.responses.signals import response_changed

MAX_COMMENT_LENGTH = 5000


def clean_comment(text: str) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    # Drop control characters except newline and tab; they only break exports.
    text = "".join(ch for ch in text if ch in "\n\t" or ch >= " ")
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationError(
            _("Please keep your comment under %(max)d characters.") % {"max": MAX_COMMENT_LENGTH}
        )
    return text


def record_rating(*, invitation: Invitation, score: int, comment: str | None = None) -> Response:
    """Create or change the invitation's response; a later click changes the score."""
    if not 0 <= score <= 10:
        raise ValidationError(_("The score must be between 0 and 10."))
    cleaned = clean_comment(comment) if comment is not None else None
    now = timezone.now()
    with transaction.atomic():
        response = Response.objects.select_for_update().filter(invitation=invitation).first()
        created = response is None
        changed = created or response.score != score or bool(cleaned)
        inserted = False
        if response is None:
            try:
                with transaction.atomic():
                    response = Response.objects.create(
                        organization_id=invitation.organization_id,
                        survey_id=invitation.survey_id,
                        invitation=invitation,
                        contact_id=invitation.contact_id,
                        score=score,
                        comment=cleaned or "",
                        commented_at=now if cleaned else None,
                        language=invitation.language,
                        created_at=now,
                    )
                inserted = True
            except IntegrityError:
                # A second click raced us to the insert; update that row instead.
                response = Response.objects.select_for_update().get(invitation=invitation)
        if not inserted:  # a new row already holds the score: no second write
            response.score = score
            fields = ["score", "updated_at"]
            if cleaned:
                response.comment = cleaned
                response.commented_at = now
                fields += ["comment", "commented_at"]
            response.save(update_fields=fields)
        mark_responded(invitation_id=invitation.pk)
        if changed:
            pk = response.pk
            transaction.on_commit(
                lambda: response_changed.send(
                    sender=Response, response_id=pk, created=created, comment_added=bool(cleaned)
                )
            )
    return response
