"""What the ticket and CRM channels share: one response event, read and written out.

Not a channel itself (no `send`): Zendesk, Freshdesk, Salesforce and Emarsys use it
to read the stored event (payloads.response_event or payloads.test_event) and to
write the same subject, text and tags for it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.utils.html import escape

from npsloop.notifications.channels.base import ChannelError

NO_EMAIL = (
    "The response has no email address (the person is anonymous or was erased), "
    "so there is nobody to attach it to."
)


@dataclass(frozen=True)
class Feedback:
    event_type: str
    timestamp: str
    response: dict[str, Any]
    person: dict[str, Any]
    survey: dict[str, Any]

    @classmethod
    def of(cls, payload: dict[str, Any] | None) -> Feedback:
        payload = payload or {}
        data = payload.get("data") or {}
        response = data.get("response")
        if not isinstance(response, dict):
            raise ChannelError(
                "This channel takes single responses only, not digests or unsubscribes.",
                retryable=False,
            )
        return cls(
            event_type=str(payload.get("type") or ""),
            timestamp=str(payload.get("timestamp") or ""),
            response=response,
            person=data.get("person") or {},
            survey=data.get("survey") or {},
        )

    # --- the parts -------------------------------------------------------------------

    @property
    def is_test(self) -> bool:
        return self.event_type == "test"

    @property
    def score(self) -> int | None:
        return self.response.get("score")

    @property
    def category(self) -> str:
        return str(self.response.get("category") or "")

    @property
    def comment(self) -> str:
        return str(self.response.get("comment") or "")

    @property
    def url(self) -> str:
        url = str(self.response.get("url") or "")
        return url if url.startswith(("https://", "http://")) else ""

    @property
    def email(self) -> str:
        return str(self.person.get("email") or "").strip()

    @property
    def name(self) -> str:
        name = str(self.person.get("name") or "").strip()
        if not name:
            parts = (self.person.get("first_name"), self.person.get("last_name"))
            name = " ".join(str(p).strip() for p in parts if p)
        return name

    @property
    def survey_name(self) -> str:
        return str(self.survey.get("name") or "")

    def require_email(self) -> str:
        if not self.email:
            raise ChannelError(NO_EMAIL, retryable=False)
        return self.email

    @property
    def date(self) -> str:
        """The day (UTC, YYYY-MM-DD) of the latest feedback: the comment, else the rating."""
        moments = _moments(self.response.get("created_at"), self.response.get("commented_at"))
        moments = moments or _moments(self.timestamp) or [dt.datetime.now(dt.UTC)]
        return max(moments).date().isoformat()

    # --- written out -----------------------------------------------------------------

    def subject(self) -> str:
        who = self.name or self.email or "an anonymous respondent"
        text = f"NPS {self.score} ({self.category or 'unrated'}) from {who}"
        if self.survey_name:
            text += f" – {self.survey_name}"
        if self.event_type == "response.updated":
            text += " (updated)"
        if self.is_test:
            text = f"[Test] {text}"
        return text[:250]

    def _rows(self) -> list[tuple[str, str]]:
        who = self.name
        if self.email:
            who = f"{who} <{self.email}>" if who else self.email
        rows = [("Score", f"{self.score} ({self.category})")]
        if self.survey_name:
            rows.append(("Survey", self.survey_name))
        rows.append(("From", who or "anonymous"))
        return rows

    def text(self) -> str:
        """Plain text: Zendesk's comment body, Salesforce's case description."""
        lines = [f"{label}: {value}" for label, value in self._rows()]
        lines += ["", "Comment:", self.comment or "(no comment)"]
        if self.url:
            lines += ["", f"Open in npsloop: {self.url}"]
        if self.is_test:
            lines += ["", "This is a test notification from npsloop: no customer wrote it."]
        return "\n".join(lines)

    def html(self) -> str:
        """HTML with every customer-written value escaped (Freshdesk's description)."""
        rows = "<br>".join(
            f"<strong>{escape(label)}:</strong> {escape(value)}" for label, value in self._rows()
        )
        comment = "<br>".join(escape(line) for line in self.comment.split("\n"))
        parts = [
            f"<p>{rows}</p>",
            f"<p><strong>Comment:</strong><br>{comment or '<em>(no comment)</em>'}</p>",
        ]
        if self.url:
            parts.append(f'<p><a href="{escape(self.url)}">Open in npsloop</a></p>')
        if self.is_test:
            parts.append("<p><em>This is a test notification from npsloop.</em></p>")
        return "".join(parts)

    def tags(self, configured: Any, *, max_length: int | None = None) -> list[str]:
        """The channel's tags, then npsloop and nps-<category>: no spaces, no duplicates."""
        if isinstance(configured, str):
            configured = configured.split(",")
        wanted = [str(t) for t in (configured or [])] + ["npsloop"]
        if self.category:
            wanted.append(f"nps-{self.category}")
        tags: list[str] = []
        for tag in wanted:
            # Zendesk splits a tag at whitespace, Freshdesk refuses commas.
            tag = re.sub(r"[\s,]+", "_", tag.strip())[:max_length]
            if tag and tag not in tags:
                tags.append(tag)
        return tags


def _moments(*values: Any) -> list[dt.datetime]:
    """The ISO 8601 values that parse, in UTC."""
    moments = []
    for value in values:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        moments.append(moment.astimezone(dt.UTC))
    return moments


def base_url(url: str) -> str:
    return (url or "").strip().rstrip("/")
