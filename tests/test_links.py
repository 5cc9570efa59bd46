import time

import pytest

from npsloop.invitations.links import (
    LinkExpired,
    LinkInvalid,
    rating_token,
    read_rating_token,
    read_unsubscribe_token,
    unsubscribe_token,
)
from npsloop.web.secrets import issue_key, matches, random_token, split_prefix


def test_rating_token_round_trip_for_every_score():
    key = random_token()
    for score in range(11):
        link = read_rating_token(rating_token(key, score))
        assert (link.key, link.score) == (key, score)


def test_each_score_has_its_own_token():
    key = random_token()
    assert len({rating_token(key, s) for s in range(11)}) == 11


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: "x" + t[1:],  # payload changed
        lambda t: t.split(":")[0],  # signature removed
        lambda t: "",
        lambda t: "not-a-token",
    ],
)
def test_tampered_tokens_are_invalid(mangle):
    token = rating_token(random_token(), 9)
    with pytest.raises(LinkInvalid):
        read_rating_token(mangle(token))


def test_a_score_cannot_be_changed_in_the_token(settings):
    from django.core import signing

    key = random_token()
    forged = signing.dumps([key, 10], salt="another-salt")
    with pytest.raises(LinkInvalid):
        read_rating_token(forged)
    # An unsubscribe token is no rating token, and the other way round.
    with pytest.raises(LinkInvalid):
        read_rating_token(unsubscribe_token(key))
    with pytest.raises(LinkInvalid):
        read_unsubscribe_token(rating_token(key, 3))


def test_a_token_signed_with_another_secret_is_invalid(settings):
    token = rating_token(random_token(), 5)
    settings.SECRET_KEY = "a-completely-different-secret-key-for-this-test"
    with pytest.raises(LinkInvalid):
        read_rating_token(token)


def test_expired_rating_link(settings):
    token = rating_token(random_token(), 7)
    settings.NPSLOOP_RATING_LINK_DAYS = 0
    time.sleep(1.1)
    with pytest.raises(LinkExpired):
        read_rating_token(token)


def test_scores_outside_the_scale_cannot_be_signed():
    with pytest.raises(ValueError):
        rating_token(random_token(), 11)


def test_random_tokens_are_long_and_distinct():
    tokens = {random_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(t) >= 24 for t in tokens)  # 18 bytes = 144 bits


def test_issued_keys_store_only_a_digest_and_compare():
    key = issue_key("tok")
    assert key.full.startswith(f"npl_tok_{key.prefix}_")
    assert key.digest not in key.full
    assert split_prefix(key.full, "tok") == key.prefix
    assert split_prefix(key.full, "svy") is None
    assert matches(key.full, key.digest)
    assert not matches(key.full + "x", key.digest)
