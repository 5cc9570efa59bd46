"""Request and response shapes of the public API."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

# --- text that can be stored --------------------------------------------------


def storable(value: Any) -> Any:
    """`value` if every string in it (dict keys included) can be stored and sent back:
    PostgreSQL refuses NUL characters and lone surrogates are no UTF-8; JSON has no NaN."""
    stack = [value]
    while stack:  # no recursion: JSON nests as deep as the parser allows
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise PydanticCustomError("nul_character", "Text may not contain NUL (\\u0000).")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise PydanticCustomError(
                    "string_unicode", "Text must be valid Unicode (no lone surrogates)."
                ) from None
        elif isinstance(item, float) and not math.isfinite(item):
            raise PydanticCustomError("finite_number", "Numbers must be finite.")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return value


# A query or path parameter that is compared with stored text.
Text = Annotated[str, AfterValidator(storable)]


# --- errors -----------------------------------------------------------------


class ErrorBody(Schema):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorOut(Schema):
    error: ErrorBody


# --- request bodies ---------------------------------------------------------


class BodyIn(BaseModel):
    """A request body (or a part of one): a JSON object whose text can be stored.

    Not a ninja Schema: that reads fields as attributes of any object, so a body of
    `"abc"` would pass as `{"title": "Abc"}` (str.title) and a list as an empty object.
    Strict: a value of the wrong JSON type is a 422, not guessed at (`"send": "no"`,
    `"days": "30"`, `"show_identity": 0`).
    """

    model_config = ConfigDict(strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value)


# --- surveys ----------------------------------------------------------------


class SurveyTextIn(BodyIn):
    email_subject: str | None = Field(None, max_length=200)
    intro: str | None = None
    question: str | None = Field(None, max_length=300)
    follow_up_question: str | None = Field(None, max_length=300)
    thank_you_text: str | None = None


class SurveyTextOut(Schema):
    language: str
    email_subject: str
    intro: str
    question: str
    follow_up_question: str
    thank_you_text: str


class SurveyFields(BodyIn):
    company_name: str | None = Field(None, max_length=200)
    sender_name: str | None = Field(None, max_length=200)
    reply_to: str | None = Field(None, max_length=254)
    default_language: Literal["en", "de"] | None = None
    salutation: Literal["informal", "formal"] | None = None
    thank_you_url: str | None = Field(None, max_length=200)
    min_delay_days: int | None = Field(None, ge=0, le=3650)
    max_delay_days: int | None = Field(None, ge=0, le=3650)
    min_interval_weeks: int | None = Field(None, ge=0, le=520)
    segment_enabled: bool | None = None
    trait_prefix: str | None = Field(None, max_length=40)
    texts: dict[Literal["en", "de"], SurveyTextIn] | None = None


class SurveyCreate(SurveyFields):
    name: str = Field(..., min_length=1, max_length=200)


class SurveyUpdate(SurveyFields):
    name: str | None = Field(None, min_length=1, max_length=200)


class SurveyOut(Schema):
    id: int
    name: str
    status: str
    company_name: str
    sender_name: str
    reply_to: str
    default_language: str
    salutation: str
    thank_you_url: str
    min_delay_days: int
    max_delay_days: int
    min_interval_weeks: int
    segment_enabled: bool
    trait_prefix: str
    texts: list[SurveyTextOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class SurveyCreated(SurveyOut):
    api_key: str = Field(..., description="The survey's Segment key; shown only once.")


# --- people -----------------------------------------------------------------


class PersonIn(BodyIn):
    email: str = Field(..., max_length=254)
    name: str | None = Field(None, max_length=300, description="Split into first and last.")
    first_name: str | None = Field(None, max_length=150)
    last_name: str | None = Field(None, max_length=150)
    gender: str | None = Field(None, max_length=16)
    language: str | None = Field(None, max_length=16)
    user_id: str | None = Field(None, max_length=200, description="Your id for the person.")
    created_at: str | None = Field(
        None, description="When the person became your customer (ISO 8601 or Unix time)."
    )
    properties: dict[str, Any] = {}
    survey_id: int | None = Field(None, description="Needed when you have several surveys.")
    send: bool = Field(True, description="false: only create or update the person.")
    delay: int | None = Field(
        None,
        ge=0,
        le=3650 * 86400,
        description="Seconds to wait before sending; without it the survey's send rules apply.",
    )


class PersonOut(Schema):
    id: int
    email: str
    name: str
    first_name: str
    last_name: str
    gender: str
    language: str
    user_id: str
    properties: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    last_seen_at: dt.datetime | None
    unsubscribed_at: dt.datetime | None
    bounced_at: dt.datetime | None


class DecisionOut(Schema):
    id: int
    survey_id: int
    outcome: str
    reason: str
    detail: str
    source: str
    invitation_id: int | None
    send_at: dt.datetime | None = None
    created_at: dt.datetime


class InvitationEventOut(Schema):
    at: dt.datetime
    kind: str
    detail: str


class InvitationOut(Schema):
    id: int
    survey_id: int
    state: str
    source: str
    language: str
    send_at: dt.datetime
    sent_at: dt.datetime | None
    created_at: dt.datetime
    events: list[InvitationEventOut]


class NoteOut(Schema):
    id: int
    text: str
    author: str
    created_at: dt.datetime


class ResponseOut(Schema):
    id: int
    survey_id: int
    person_id: int | None
    score: int
    category: str
    comment: str
    language: str
    status: str
    tags: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    commented_at: dt.datetime | None
    person: PersonOut | None = Field(None, description="With expand=person.")


class ResponseDetail(ResponseOut):
    notes: list[NoteOut]


class PersonDetail(PersonOut):
    invitations: list[InvitationOut]
    decisions: list[DecisionOut]
    responses: list[ResponseOut]


class PersonSaved(Schema):
    person: PersonOut
    created: bool
    decision: DecisionOut | None


class PersonPage(Schema):
    items: list[PersonOut]
    next_cursor: str | None


class ResponsePage(Schema):
    items: list[ResponseOut]
    next_cursor: str | None


class TagsIn(BodyIn):
    tags: list[str] = Field(..., min_length=1, max_length=20)


class NoteIn(BodyIn):
    text: str = Field(..., min_length=1, max_length=5000)


# --- unsubscribes and bounces -----------------------------------------------


class EmailIn(BodyIn):
    email: str = Field(..., max_length=254)


class SuppressionOut(Schema):
    person_id: int
    email: str
    name: str
    at: dt.datetime


class SuppressionPage(Schema):
    items: list[SuppressionOut]
    next_cursor: str | None


# --- share links ------------------------------------------------------------


class ShareLinkIn(BodyIn):
    title: str = Field(..., min_length=1, max_length=200)
    query: str = Field("", max_length=2000, description="A filter as a query string.")
    show_identity: bool = False
    days: int = Field(30, ge=1, le=90)


class ShareLinkOut(Schema):
    id: int
    title: str
    query: str
    show_identity: bool
    count: int
    state: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


class ShareLinkCreated(ShareLinkOut):
    url: str = Field(..., description="The link; shown only once.")


# --- metrics ----------------------------------------------------------------


class NpsOut(Schema):
    nps: float | None
    nps_rounded: int | None
    total: int
    promoters: int
    passives: int
    detractors: int
    distribution: list[int]
    confidence: list[float] | None


class TrendPointOut(Schema):
    start: dt.date
    end: dt.date
    partial: bool
    nps: float | None
    total: int
    window_nps: float | None


class GroupOut(Schema):
    key: str
    label: str
    nps: float | None
    total: int


class MetricsOut(Schema):
    date_from: dt.date | None
    date_to: dt.date | None
    summary: NpsOut
    previous: NpsOut | None
    delta: float | None
    comments: int
    comment_rate: float | None
    sent: int
    responded: int
    response_rate: float | None
    unsubscribes: int
    bounces: int
    period: str
    rolling: int
    trend: list[TrendPointOut]
    breakdown_by: str
    breakdown: list[GroupOut]
