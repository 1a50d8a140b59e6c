"""A point's top-1 over its seeds (mean ± sample std) and which differences are ties."""

from __future__ import annotations

import pytest

from pipeline.report.noise import front_ties, interval, mean_of, mean_std, rank_ties


def test_the_std_is_the_sample_std_and_absent_for_one_seed():
    mean, std = mean_std([0.60, 0.64])
    assert mean == pytest.approx(0.62) and std == pytest.approx(0.02 * 2**0.5)  # n - 1
    mean, std = mean_std([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.1)
    assert mean_std([0.7]) == (0.7, None)  # not 0: one seed says nothing of the spread
    assert mean_std([0.7, 0.7]) == (0.7, 0.0)  # two seeds that agree: a spread of 0
    assert mean_std([]) == (None, None)
    assert mean_of([None, 2.0, 4.0]) == 3.0 and mean_of([None]) is None


def test_an_interval_is_the_mean_plus_minus_the_std():
    assert interval(0.7, None) == (0.7, 0.7)
    assert interval(0.5, 0.25) == (0.25, 0.75)


@pytest.mark.parametrize(
    ("points", "ties"),
    [
        ([(0.80, 0.01), (0.70, 0.01)], [False, False]),  # disjoint
        ([(0.80, 0.05), (0.72, 0.04)], [False, True]),  # 0.75 <= 0.76: overlapping
        ([(0.75, 0.125), (0.5, 0.125)], [False, True]),  # touching at 0.625: closed intervals
        ([(0.80, None), (0.80, None)], [False, True]),  # one seed each, identical values
        ([(0.80, None), (0.79, None)], [False, False]),  # one seed each, different values
        ([(0.80, 0.0), (0.80, 0.0)], [False, True]),  # seeds agreeing exactly, both points
        ([(0.80, 0.02), (0.79, None)], [False, True]),  # a one-seed point inside an interval
        # A chain: B ties A, C ties B, though C's interval and A's are apart.
        ([(0.80, 0.02), (0.77, 0.02), (0.74, 0.02)], [False, True, True]),
        ([], []),
    ],
)
def test_a_point_ties_when_its_interval_overlaps_the_one_ranked_above(points, ties):
    assert rank_ties([interval(mean, std) for mean, std in points]) == ties


def test_off_the_front_a_point_ties_unless_a_cheaper_one_is_better_beyond_noise():
    points = [
        (1.0, interval(0.60, 0.02)),  # front: cheapest
        (2.0, interval(0.70, 0.02)),  # front
        (3.0, interval(0.69, 0.02)),  # beaten by 0.70 on the mean, not beyond noise: tie
        (3.0, interval(0.65, 0.02)),  # [0.63, 0.67] is all below 0.70's [0.68, 0.72]
        (0.5, interval(0.50, None)),  # front: cheapest of all
        (4.0, interval(0.62, None)),  # one seed: only its mean; 0.68 > 0.62: beaten
        (5.0, interval(0.70, 0.0)),  # equal to the front's 0.70 at more cost: a tie
    ]
    assert front_ties(points, front={0, 1, 4}) == {2, 6}
    assert front_ties([], front=set()) == set()
