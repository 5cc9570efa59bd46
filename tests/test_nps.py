import pytest
from hypothesis import given
from hypothesis import strategies as st

from npsloop.insights.nps import category, rate, summarize


def test_categories_follow_the_nps_definition():
    assert [category(s) for s in range(11)] == ["detractor"] * 7 + ["passive"] * 2 + [
        "promoter"
    ] * 2


@pytest.mark.parametrize("bad", [-1, 11, 100])
def test_scores_outside_0_to_10_are_refused(bad):
    with pytest.raises(ValueError):
        category(bad)
    with pytest.raises(ValueError):
        summarize([bad])


def test_worked_example():
    # 5 promoters, 3 passives, 2 detractors: 50 % − 20 % = 30.
    summary = summarize([10, 10, 9, 9, 9, 8, 7, 7, 6, 0])
    assert (summary.promoters, summary.passives, summary.detractors) == (5, 3, 2)
    assert summary.total == 10
    assert summary.nps == 30.0
    assert summary.nps_rounded == 30
    assert summary.share(summary.promoters) == 50.0


def test_no_responses_means_no_score_not_zero():
    summary = summarize([])
    assert summary.nps is None and summary.nps_rounded is None
    assert rate(0, 0) is None


def test_rounding_is_half_away_from_zero():
    # 1 promoter, 1 passive, 6 detractors … build exact halves: 1 of 8 = 12.5.
    assert summarize({10: 1, 8: 7}).nps == 12.5
    assert summarize({10: 1, 8: 7}).nps_rounded == 13
    assert summarize({0: 1, 8: 7}).nps_rounded == -13


def test_mapping_and_iterable_agree():
    assert summarize({9: 2, 3: 1}) == summarize([9, 3, 9])


@given(st.lists(st.integers(min_value=0, max_value=10), max_size=300))
def test_nps_is_promoter_share_minus_detractor_share(scores):
    summary = summarize(scores)
    assert summary.total == len(scores)
    assert summary.promoters + summary.passives + summary.detractors == len(scores)
    if scores:
        promoters = sum(s >= 9 for s in scores)
        detractors = sum(s <= 6 for s in scores)
        assert summary.nps == pytest.approx(100 * (promoters - detractors) / len(scores))
        assert -100 <= summary.nps <= 100
        assert abs(summary.nps_rounded - summary.nps) <= 0.5
