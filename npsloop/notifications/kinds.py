"""What each channel type asks for in the dashboard and the API.

`url` is the channel's URL field (its label per type), `fields` the keys of
`Channel.config` (shown again), `secret` the write-only credential's label (None: no
secret, or generated like the webhook's signing secret).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Field:
    key: str
    label: Promise | str
    required: bool = True
    help: Promise | str = ""
    is_list: bool = False  # comma-separated in the form, a JSON list in config


@dataclass(frozen=True)
class Kind:
    url_label: Promise | str | None
    url_help: Promise | str = ""
    fields: tuple[Field, ...] = field(default_factory=tuple)
    secret_label: Promise | str | None = None
    digests: bool = False  # can take hourly/daily/weekly digests


KINDS: dict[str, Kind] = {
    "email": Kind(
        url_label=None,
        fields=(
            Field("recipients", _("Email addresses"), False, _("Comma-separated."), True),
            Field("language", _("Language of the emails"), False, _("en or de")),
        ),
        digests=True,
    ),
    "webhook": Kind(
        url_label=_("Endpoint URL"),
        url_help=_("Receives a signed POST per event (Standard Webhooks)."),
        digests=True,
    ),
    "slack": Kind(
        url_label=_("Incoming webhook URL"),
        url_help=_("From Slack: Apps → Incoming Webhooks → Add to a channel."),
        digests=True,
    ),
    "zendesk": Kind(
        url_label=_("Zendesk URL"),
        url_help=_("https://yourcompany.zendesk.com"),
        fields=(
            Field("email", _("Agent email"), True, _("The agent the API token belongs to.")),
            Field("tags", _("Ticket tags"), False, _("Comma-separated."), True),
        ),
        secret_label=_("API token"),
    ),
    "freshdesk": Kind(
        url_label=_("Freshdesk URL"),
        url_help=_("https://yourcompany.freshdesk.com"),
        fields=(Field("tags", _("Ticket tags"), False, _("Comma-separated."), True),),
        secret_label=_("API key"),
    ),
    "salesforce": Kind(
        url_label=_("Salesforce My Domain URL"),
        url_help=_("https://yourcompany.my.salesforce.com"),
        fields=(
            Field("client_id", _("Consumer key of the connected app")),
            Field("mode", _("What to write"), False, _("case (default) or contact")),
            Field(
                "score_field",
                _("Contact field for the score"),
                False,
                _("For mode contact, e.g. NPS_Score__c"),
            ),
            Field(
                "comment_field",
                _("Contact field for the comment"),
                False,
                _("For mode contact, e.g. NPS_Comment__c"),
            ),
            Field(
                "date_field",
                _("Contact field for the date"),
                False,
                _("For mode contact, e.g. NPS_Date__c"),
            ),
        ),
        secret_label=_("Consumer secret"),
    ),
    "emarsys": Kind(
        url_label=_("Emarsys API URL"),
        url_help=_("https://api.emarsys.net"),
        fields=(
            Field("username", _("API user name")),
            Field("score_field", _("Field id for the score")),
            Field("comment_field", _("Field id for the comment")),
            Field("date_field", _("Field id for the date")),
        ),
        secret_label=_("API secret"),
    ),
}
