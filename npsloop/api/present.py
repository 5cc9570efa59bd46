"""Rows as the API shows them (plain dicts, validated by the schemas on the way out)."""

from __future__ import annotations

from typing import Any

from npsloop.contacts.models import Contact
from npsloop.insights.nps import NpsSummary
from npsloop.invitations.models import Decision, Invitation
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey


def survey(s: Survey) -> dict[str, Any]:
    fields = [
        "id", "name", "status", "company_name", "sender_name", "reply_to", "default_language",
        "salutation", "thank_you_url", "min_delay_days", "max_delay_days", "min_interval_weeks",
        "segment_enabled", "trait_prefix", "created_at", "updated_at",
    ]  # fmt: skip
    data = {name: getattr(s, name) for name in fields}
    data["texts"] = [
        {
            "language": t.language,
            "email_subject": t.email_subject,
            "intro": t.intro,
            "question": t.question,
            "follow_up_question": t.follow_up_question,
            "thank_you_text": t.thank_you_text,
        }
        for t in sorted(s.texts.all(), key=lambda t: t.language)
    ]
    return data


def person(c: Contact) -> dict[str, Any]:
    return {
        "id": c.pk,
        "email": c.email,
        "name": c.full_name,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "gender": c.gender,
        "language": c.language,
        "user_id": c.external_id,
        "properties": c.properties or {},
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "last_seen_at": c.last_seen_at,
        "unsubscribed_at": c.unsubscribed_at,
        "bounced_at": c.bounced_at,
    }


def decision(d: Decision) -> dict[str, Any]:
    invitation = d.invitation if d.invitation_id else None
    return {
        "id": d.pk,
        "survey_id": d.survey_id,
        "outcome": d.outcome,
        "reason": d.reason,
        "detail": d.detail,
        "source": d.source,
        "invitation_id": d.invitation_id,
        "send_at": invitation.send_at if invitation else None,
        "created_at": d.created_at,
    }


def invitation(i: Invitation) -> dict[str, Any]:
    return {
        "id": i.pk,
        "survey_id": i.survey_id,
        "state": i.state,
        "source": i.source,
        "language": i.language,
        "send_at": i.send_at,
        "sent_at": i.sent_at,
        "created_at": i.created_at,
        "events": [{"at": e.at, "kind": e.kind, "detail": e.detail} for e in i.events.all()],
    }


def response(r: Response, *, expand_person: bool = False, notes: bool = False) -> dict[str, Any]:
    data = {
        "id": r.pk,
        "survey_id": r.survey_id,
        "person_id": r.contact_id,
        "score": r.score,
        "category": r.category,
        "comment": r.comment,
        "language": r.language,
        "status": r.status,
        "tags": sorted(t.name for t in r.tags.all()),
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "commented_at": r.commented_at,
        "person": person(r.contact) if expand_person and r.contact_id else None,
    }
    if notes:
        data["notes"] = [
            {
                "id": n.pk,
                "text": n.text,
                "author": n.author.email if n.author_id else "",
                "created_at": n.created_at,
            }
            for n in r.notes.select_related("author")
        ]
    return data


def nps(summary: NpsSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {
        "nps": summary.nps,
        "nps_rounded": summary.nps_rounded,
        "total": summary.total,
        "promoters": summary.promoters,
        "passives": summary.passives,
        "detractors": summary.detractors,
        "distribution": list(summary.distribution),
        "confidence": list(summary.confidence) if summary.confidence else None,
    }
