"""`mailto:` links for replying to and forwarding feedback: pure functions, no queries.

The links open the member's own email app with the feedback already written out.
Pass responses with `survey`, `contact` and `organization` loaded (select_related,
and `survey.texts` prefetched for replies) so building a link costs no query.

Encoding follows RFC 6068: every character outside the unreserved set is
percent-encoded (a space is %20, never +), line breaks in the body are CRLF
(%0D%0A), and subjects and addresses are one line, so no header can be injected.

Email apps and browsers cut long `mailto:` links (about 2,000 characters is the
safe size), so `forward_all_mailtos` splits many responses over several numbered
emails instead of cutting any text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from npsloop.insights.nps import category
from npsloop.invitations.emails import salutation
from npsloop.responses.models import Response
from npsloop.surveys.defaults import fill
from npsloop.surveys.selectors import text_for

MAILTO_LIMIT = 2000
# Whitespace to break a long text at, looked for this far back from the hard cut.
_BREAK_WINDOW = 200
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


# Encoding ------------------------------------------------------------------------


def one_line(value: object) -> str:
    """A header-safe value: line breaks and control characters become one space."""
    return " ".join(CONTROL_CHARS.sub(" ", str(value or "")).split())


def normalize_newlines(text: str) -> str:
    return _LINE_BREAKS.sub("\n", text or "")


def encode_body(text: str) -> str:
    """Percent-encode a body; every line break becomes CRLF (%0D%0A)."""
    return quote(normalize_newlines(text).replace("\n", "\r\n"), safe="")


def build_mailto(*, to: str = "", subject: str = "", body: str = "") -> str:
    """mailto:[to]?subject=…&body=… with RFC 6068 encoding."""
    params = []
    if subject:
        params.append("subject=" + quote(one_line(subject), safe=""))
    if body:
        params.append("body=" + encode_body(body))
    url = "mailto:" + quote(one_line(to).replace(" ", ""), safe="@")
    return url + ("?" + "&".join(params) if params else "")


def _cost(ch: str) -> int:
    """Characters one character takes in an encoded body (a newline is %0D%0A)."""
    return 6 if ch == "\n" else len(quote(ch, safe=""))


def encoded_length(text: str) -> int:
    return len(encode_body(text))


# The feedback as text ---------------------------------------------------------------


def customer_label(response: Response) -> str:
    """ "Anna Schmidt <anna@example.com>", the address alone, or "anonymous customer"."""
    contact = response.contact
    if contact is None:
        return _("anonymous customer")
    name, email = one_line(contact.full_name), one_line(contact.email)
    if name and email:
        return f"{name} <{email}>"
    return name or email or _("anonymous customer")


def feedback_date(response: Response) -> str:
    """The response's time in the organization's time zone, in the active language."""
    local = response.created_at.astimezone(response.organization.zone)
    return f"{formats.date_format(local, 'SHORT_DATETIME_FORMAT')} ({local.tzname()})"


def category_label(score: int) -> str:
    return {
        "promoter": _("promoter"),
        "passive": _("passive"),
        "detractor": _("detractor"),
    }[category(score)]


def detail_url(response: Response) -> str:
    return settings.BASE_URL.rstrip("/") + reverse("inbox_detail", args=[response.pk])


def feedback_text(response: Response) -> str:
    """The feedback for a colleague: who, which survey, score, date, the full comment."""
    comment = normalize_newlines(response.comment)
    lines = [
        _("Customer: %(customer)s") % {"customer": customer_label(response)},
        _("Survey: %(survey)s") % {"survey": one_line(response.survey.name)},
        _("Score: %(score)d of 10 (%(category)s)")
        % {"score": response.score, "category": category_label(response.score)},
        _("Date: %(date)s") % {"date": feedback_date(response)},
        _("Comment:"),
        comment if comment else _("(no comment)"),
        "",
        _("Open in npsloop: %(url)s") % {"url": detail_url(response)},
    ]
    return "\n".join(lines)


# Reply ------------------------------------------------------------------------------


def reply_language(response: Response) -> str:
    """The customer's language: the response's, else the contact's, else the survey's."""
    contact_language = response.contact.language if response.contact else ""
    return response.language or contact_language or response.survey.default_language


def reply_subject(response: Response, *, language: str) -> str:
    """ "Re: " and the subject of the survey email the customer got, else the survey name."""
    survey = response.survey
    try:
        base = fill(text_for(survey, language).email_subject, company=survey.company_name)
    except StopIteration:  # a survey without texts
        base = survey.name
    with translation.override(language):
        return one_line(_("Re: %(subject)s") % {"subject": one_line(base)})


def reply_body(response: Response, *, language: str) -> str:
    """A greeting, room to write, and the customer's feedback quoted below."""
    with translation.override(language):
        greeting = one_line(salutation(response.contact, response.survey.salutation))
        quoted = [
            _("Survey: %(survey)s") % {"survey": one_line(response.survey.name)},
            _("Score: %(score)d of 10") % {"score": response.score},
        ]
        comment = normalize_newlines(response.comment)
        if comment:
            quoted += [""] + comment.split("\n")
        attribution = _("On %(date)s, %(customer)s wrote:") % {
            "date": feedback_date(response),
            "customer": customer_label(response),
        }
    lines = [greeting, "", "", "", attribution]
    lines += ["> " + line if line else ">" for line in quoted]
    return "\n".join(lines) + "\n"


def can_reply(response: Response) -> bool:
    return bool(response.contact_id and response.contact and response.contact.email)


def reply_mailto(response: Response, *, language: str) -> str:
    """A reply to the customer: To the customer, "Re: <subject>", the feedback quoted."""
    if not can_reply(response):
        raise ValueError("the response has no email address to reply to")
    return build_mailto(
        to=response.contact.email,
        subject=reply_subject(response, language=language),
        body=reply_body(response, language=language),
    )


# Forward ----------------------------------------------------------------------------


def forward_subject(response: Response) -> str:
    contact = response.contact
    who = ""
    if contact is not None:
        who = one_line(contact.full_name) or one_line(contact.email)
    subject = _("Fwd: feedback from %(customer)s") % {"customer": who or customer_label(response)}
    return one_line(subject)


def forward_mailto(response: Response) -> str:
    """One feedback for a colleague: no recipient yet, every detail in the body."""
    return build_mailto(subject=forward_subject(response), body=feedback_text(response))


def numbered_feedback_text(response: Response, number: int, total: int) -> str:
    heading = _("Response %(number)d of %(total)d") % {"number": number, "total": total}
    return f"=== {heading} ===\n{feedback_text(response)}"


def forward_all_subject(part: int, parts: int, count: int) -> str:
    return ngettext(
        "Feedback %(part)d/%(parts)d (%(count)d response)",
        "Feedback %(part)d/%(parts)d (%(count)d responses)",
        count,
    ) % {"part": part, "parts": parts, "count": count}


def forward_all_mailtos(responses: Iterable[Response], *, limit: int = MAILTO_LIMIT) -> list[str]:
    """Every response, over as many numbered emails as it takes, each link ≤ limit.

    Whole responses are packed into each email; a response too long for one email
    goes on over the next ones, marked "(continued)". Nothing is left out: the
    bodies together hold every response in full.
    """
    responses = list(responses)
    if not responses:
        return []
    count = len(responses)
    blocks = [numbered_feedback_text(r, n, count) for n, r in enumerate(responses, 1)]
    digits = 1
    while True:
        # Room for the widest subject with this many digits: the real ones are no longer.
        widest = int("9" * digits)
        overhead = len(build_mailto(subject=forward_all_subject(widest, widest, count))) + len(
            "&body="
        )
        bodies = _pack(blocks, limit - overhead)
        if len(str(len(bodies))) <= digits:
            break
        digits += 1
    parts = len(bodies)
    return [
        build_mailto(subject=forward_all_subject(n, parts, count), body=body)
        for n, body in enumerate(bodies, 1)
    ]


def continuation_markers() -> tuple[str, str]:
    """What starts a continued text, and what ends the part before it."""
    return _("(continued)") + "\n", "\n" + _("(continued in the next email)")


def _pack(blocks: list[str], budget: int) -> list[str]:
    """Blocks joined into bodies whose encoded length is at most budget."""
    head, tail = continuation_markers()
    separator = "\n\n"
    if budget < encoded_length(head) + encoded_length(tail) + 12:
        raise ValueError(f"a mailto limit leaving {budget} characters for the body is too small")
    bodies: list[str] = []
    current, used = "", 0
    for block in blocks:
        cost = encoded_length(block)
        joint = encoded_length(separator) if current else 0
        if used + joint + cost <= budget:
            current, used = current + (separator if current else "") + block, used + joint + cost
            continue
        if current:
            bodies.append(current)
            current, used = "", 0
        if cost <= budget:
            current, used = block, cost
            continue
        # Too long for any one email: go on over as many as it takes.
        rest, prefix = block, ""
        while encoded_length(prefix + rest) > budget:
            cut = _cut(rest, budget - encoded_length(prefix) - encoded_length(tail))
            bodies.append(prefix + rest[:cut] + tail)
            rest, prefix = rest[cut:], head
        current = prefix + rest
        used = encoded_length(current)
    if current:
        bodies.append(current)
    return bodies


def _cut(text: str, room: int) -> int:
    """Where to cut text so its head encodes to at most room: after a space if one is near."""
    used, end = 0, 0
    for ch in text:
        cost = _cost(ch)
        if used + cost > room:
            break
        used += cost
        end += 1
    if end == 0:
        raise ValueError("the mailto limit is too small for one character")
    if end < len(text):
        floor = max(0, end - _BREAK_WINDOW)
        for index in range(end - 1, floor - 1, -1):
            if text[index] in " \n" and index + 1 > end // 2:
                return index + 1
    return end
