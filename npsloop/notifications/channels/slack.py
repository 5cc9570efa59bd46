"""Slack incoming webhooks: one message per response (or digest) with a link to it.

The message is built with the official slack_sdk's Block Kit models; it is posted
through our guarded HTTP call rather than slack_sdk's WebhookClient because that
client follows redirects, which could lead past the private-address check.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from npsloop.notifications.channels.base import ChannelError, Outcome, post
from npsloop.notifications.models import Channel, Delivery

EMOJI = {"promoter": ":large_green_circle:", "passive": ":large_yellow_circle:"}


def escape(text: str) -> str:
    # Slack's mrkdwn: only these three are control characters (a comment could ping @channel).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _response_lines(response: dict[str, Any], person: dict[str, Any] | None) -> str:
    who = (person or {}).get("name") or (person or {}).get("email") or "anonymous"
    mark = EMOJI.get(response.get("category", ""), ":red_circle:")
    head = f"{mark} *{response.get('score')}* from {escape(str(who))}"
    if response.get("url"):
        head += f" · <{response['url']}|open in npsloop>"
    comment = response.get("comment") or ""
    return head + (f"\n>{escape(comment)[:2500]}" if comment else "")


def message(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data", {})
    if event.get("type") == "responses.digest":
        shown = data.get("responses", [])[:10]
        text = f"{data.get('count', 0)} responses for “{escape(str(data.get('rule', '')))}”"
        blocks = [SectionBlock(text=MarkdownTextObject(text=f"*{text}*"))]
        blocks += [
            SectionBlock(text=MarkdownTextObject(text=_response_lines(r, r.get("person"))))
            for r in shown
        ]
    elif "response" in data:
        response, person = data["response"], data.get("person")
        survey = (data.get("survey") or {}).get("name", "")
        text = _response_lines(response, person)
        blocks = [
            SectionBlock(text=MarkdownTextObject(text=text)),
            ContextBlock(elements=[MarkdownTextObject(text=escape(f"{survey} · {event['type']}"))]),
        ]
    else:
        person = data.get("person") or {}
        text = f"{escape(str(person.get('email', '')))} unsubscribed from surveys."
        blocks = [SectionBlock(text=MarkdownTextObject(text=text))]
    # `text` is the notification and screen-reader fallback of the blocks.
    return {"text": text[:3000], "blocks": [block.to_dict() for block in blocks]}


def send(channel: Channel, delivery: Delivery) -> Outcome:
    answer = post(channel.url, json=message(delivery.payload))
    # Slack answers 200 "ok"; anything else in a 2xx is still an error from Slack.
    if answer.text.strip() not in ("ok", ""):
        raise ChannelError(f"Slack answered: {answer.text[:200]}", retryable=False)
    return Outcome(status=answer.status_code)
