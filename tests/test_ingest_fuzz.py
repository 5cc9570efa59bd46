"""Whatever arrives at the Segment endpoints, with a valid key: never a 500.

Random JSON-ish bodies shaped like Segment's events (and not), with odd types,
huge numbers, NaN, NUL characters, lone surrogates, deep nesting, invalid UTF-8
and broken gzip. The answer is 200 or a 4xx with the JSON error body; what was
stored, the worker can process.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npsloop.ingest.models import IngestEvent
from npsloop.ingest.services import process_pending
from npsloop.surveys.services import create_survey

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Placeholders in the generated structure, swapped for raw JSON text after dumping:
# things json.dumps would not write (or that do not fit in a Python float or str).
RAW_LITERALS = {
    "@@big@@": "9" * 5000,  # more digits than int() takes from a string
    "@@bigfloat@@": "1e999",  # inf as a float
    "@@tiny@@": "-1e-999",
    "@@nan@@": "NaN",
    "@@inf@@": "-Infinity",
    "@@deep@@": "[" * 3000 + "]" * 3000,
    "@@deep900@@": "[" * 900 + "]" * 900,
    "@@deep400@@": '{"a":' * 400 + "1" + "}" * 400,
    "@@nul@@": '"a\\u0000b"',
    "@@surrogate@@": '"\\ud800x"',
    "@@pair@@": '"\\ud83d\\ude00"',
}
ODD_TEXT = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "\u202e", "💥", "null", "0", "-1", "1e3"]
)
TEXT = st.one_of(st.text(max_size=40), ODD_TEXT, st.sampled_from(sorted(RAW_LITERALS)))
NUMBERS = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 2**31, 2**63, 2**64, 10**30, 1709287200000, -62135596800]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=20,
)
TIMES = st.one_of(
    VALUES,
    st.sampled_from(
        [
            "2024-03-01T10:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2024-02-30T00:00:00Z",
            "2024-03-01T25:61:61Z",
            "2024-03-01T10:00:00+99:99",
            "1709287200",
            "99999999999999999999",
            "-1",
            "",
        ]
    ),
)
EMAILS = st.one_of(
    VALUES, st.sampled_from(["a@example.com", "A@EXAMPLE.COM ", "@", "a@b", "x" * 300 + "@e.com"])
)
TRAITS = st.one_of(
    VALUES,
    st.fixed_dictionaries(
        {},
        optional={
            "email": EMAILS,
            "firstName": VALUES,
            "lastName": VALUES,
            "name": VALUES,
            "gender": VALUES,
            "createdAt": TIMES,
            "created_at": TIMES,
            "language": VALUES,
            "plan": VALUES,
        },
    ),
)
EVENT = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(
            st.sampled_from(["identify", "track", "page", "screen", "group", "alias"]), VALUES
        ),
        "userId": st.one_of(TEXT, VALUES),
        "anonymousId": VALUES,
        "messageId": st.one_of(st.sampled_from(["m-1", "m-2"]), VALUES),
        "timestamp": TIMES,
        "originalTimestamp": TIMES,
        "sentAt": TIMES,
        "traits": TRAITS,
        "context": st.one_of(
            VALUES,
            st.fixed_dictionaries({}, optional={"locale": VALUES, "traits": TRAITS}),
        ),
        "event": VALUES,
        "properties": VALUES,
        "writeKey": VALUES,
        "integrations": VALUES,
    },
)
EVENTS = st.one_of(EVENT, VALUES)
BATCH = st.one_of(
    st.fixed_dictionaries(
        {"batch": st.one_of(st.lists(EVENTS, max_size=5), VALUES)},
        optional={"context": VALUES, "integrations": VALUES, "sentAt": TIMES},
    ),
    VALUES,
)
WEBHOOK = st.one_of(EVENT, st.lists(EVENTS, max_size=5), VALUES)


def _dumps(value, ensure_ascii: bool) -> bytes:
    text = json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=True)
    for placeholder, raw in RAW_LITERALS.items():
        text = text.replace(json.dumps(placeholder), raw)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate: invalid UTF-8


@st.composite
def wire(draw, shapes):
    """(body bytes, Content-Encoding) as a sender might put them on the wire."""
    body = _dumps(draw(shapes), ensure_ascii=draw(st.booleans()))
    how = draw(
        st.sampled_from(
            ["plain", "plain", "plain", "gzip", "deflate", "garbage-gzip", "truncated-gzip",
             "bad-utf8", "truncated", "trailing", "bom", "brotli"]
        )
    )  # fmt: skip
    if how == "gzip":
        return gzip.compress(body), "gzip"
    if how == "deflate":
        return zlib.compress(body), "deflate"
    if how == "garbage-gzip":
        return b"\x1f\x8b\x08\x00" + draw(st.binary(max_size=64)), "gzip"
    if how == "truncated-gzip":
        packed = gzip.compress(body)
        return packed[: draw(st.integers(0, max(0, len(packed) - 1)))], "gzip"
    if how == "bad-utf8":
        at = draw(st.integers(0, len(body)))
        return body[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])) + body[
            at:
        ], ""
    if how == "truncated":
        return body[: draw(st.integers(0, max(0, len(body) - 1)))], ""
    if how == "trailing":
        return body + draw(st.sampled_from([b"\x00", b" x", b"}", b"\n\n"])), ""
    if how == "bom":
        return b"\xef\xbb\xbf" + body, ""
    if how == "brotli":
        return body, "br"
    return body, ""


@pytest.fixture
def keyed(org_a, outbox_mode):
    survey, key = create_survey(
        organization=org_a.organization,
        name="Fuzz",
        segment_enabled=True,
        min_delay_days=0,
        max_delay_days=0,
    )
    return survey, key


def _check(client, survey, key, path: str, body: bytes, encoding: str) -> None:
    extra = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    response = client.post(
        path, body, content_type="application/json", HTTP_AUTHORIZATION=auth, **extra
    )
    # Not even 503: that asks the sender to retry what will never be taken.
    assert response.status_code < 500, response.content[:500]
    answer = response.json()
    if response.status_code == 200:
        assert answer["success"] is True
    else:
        assert answer["success"] is False and answer["code"] and answer["message"]
    # What was stored, the worker can take: every event ends done or failed, none raises.
    process_pending(survey_id=survey.pk)
    assert not IngestEvent.objects.filter(survey=survey, state="new").exists()


def test_fuzz_batch(client, keyed):
    survey, key = keyed

    @FUZZ
    @given(wire(BATCH))
    def run(sent):
        _check(client, survey, key, "/segment/v1/batch", *sent)

    run()


def test_fuzz_identify(client, keyed):
    survey, key = keyed

    @FUZZ
    @given(wire(EVENTS))
    def run(sent):
        _check(client, survey, key, "/segment/v1/identify", *sent)

    run()


def test_fuzz_webhook(client, keyed):
    survey, key = keyed

    @FUZZ
    @given(wire(WEBHOOK))
    def run(sent):
        _check(client, survey, key, "/segment/webhook", *sent)

    run()


def _identify(**fields) -> bytes:
    return json.dumps({"type": "identify", "userId": "u", **fields}).encode()


@pytest.mark.parametrize(
    "body, status",
    [
        (b'{"userId": "a\\u0000b", "traits": {"email": "n\\u0000@example.com"}}', 200),
        (b'{"userId": "\\ud800", "messageId": "\\udfff", "traits": {"\\u0000": "\\ud83d"}}', 200),
        (b'{"userId": "u", "traits": {"n": NaN, "i": -Infinity, "f": 1e999}}', 200),
        (b'{"userId": "u", "traits": {"n": ' + b"9" * 5000 + b"}}", 400),
        (b'{"userId": "u", "traits": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
        # Parsed, but perhaps too deep to be serialised again: 200 or 400 as the stack allows.
        (b'{"userId": "u", "traits": ' + b'{"a":' * 900 + b"1" + b"}" * 900 + b"}", None),
        (_identify(timestamp="0001-01-01T00:00:00+14:00"), 200),
        (_identify(timestamp="9999-12-31T23:59:59-14:00"), 200),
        (_identify(traits={"createdAt": "0001-01-01T00:00:00+14:00", "email": "a@b.co"}), 200),
        (_identify(traits={"createdAt": 10**20, "email": "a@b.co"}), 200),
        (_identify(traits={"createdAt": -(10**15), "email": "a@b.co"}), 200),
        (_identify(traits={"createdAt": float("nan"), "email": "a@b.co"}), 200),
        (_identify(messageId=["list"], anonymousId={"a": 1}, userId=10**30), 200),
        (b"\xef\xbb\xbf" + _identify(), 200),
        (b'{"userId": "u", "traits": {"x": "\xff"}}', 400),
    ],
)
def test_known_bad_bodies(client, keyed, body, status):
    survey, key = keyed
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    response = client.post(
        "/segment/v1/identify", body, content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.status_code in ((200, 400) if status is None else (status,)), response.content
    process_pending(survey_id=survey.pk)
    assert not IngestEvent.objects.filter(state="new").exists()
