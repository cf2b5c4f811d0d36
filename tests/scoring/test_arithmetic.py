"""The SCORING.md arithmetic against its worked example, scipy/numpy and hand-computed cases."""

import statistics
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from apps.scoring import arithmetic
from apps.scoring.figures import Moments, ScoringSettings, ValueCounts

DEFAULTS = ScoringSettings()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCALES = [(1, 5), (1, 7), (0, 10), (1, 3), (1, 4), (-2, 2)]


def counts_of(lo: int, hi: int, values: list[int]) -> ValueCounts:
    return ValueCounts({(lo, hi, v): c for v, c in Counter(values).items()})


def moments(n: int, mean: float, var: float) -> Moments:
    """Moments of n values with the given mean and sample variance (exact for integers)."""
    return Moments(n=n, total=n * mean, total_sq=(n - 1) * var + n * mean * mean)


@st.composite
def scaled_values(draw: st.DrawFn, min_size: int = 0, max_size: int = 40) -> tuple[int, int, list]:
    lo, hi = draw(st.sampled_from(SCALES))
    values = draw(st.lists(st.integers(lo, hi), min_size=min_size, max_size=max_size))
    return lo, hi, values


# --- Section 8: the worked example -----------------------------------------------------------

CUSTOMER_EASE = counts_of(1, 5, [2, 3, 3, 4, 2])
EMPLOYEE_EASE = counts_of(1, 5, [4, 5, 4, 4, 5])


def test_worked_example_cells():
    customer = arithmetic.cell_stats(arithmetic.moments_from_counts(CUSTOMER_EASE), CUSTOMER_EASE)
    employee = arithmetic.cell_stats(arithmetic.moments_from_counts(EMPLOYEE_EASE), EMPLOYEE_EASE)
    assert customer.n == 5
    assert customer.mean == pytest.approx(45.0, abs=1e-12)
    assert customer.variance == pytest.approx(437.5, abs=1e-12)
    assert employee.mean == pytest.approx(85.0, abs=1e-12)
    assert employee.variance == pytest.approx(187.5, abs=1e-12)
    assert customer.distribution == {1: 0, 2: 2, 3: 2, 4: 1, 5: 0}


def test_worked_example_gap():
    customer = arithmetic.moments_from_counts(CUSTOMER_EASE)
    employee = arithmetic.moments_from_counts(EMPLOYEE_EASE)
    gap = arithmetic.gap_stats(customer, employee, DEFAULTS)
    assert gap.gap == pytest.approx(40.0, abs=1e-12)
    assert gap.t == pytest.approx(40 / (437.5 / 5 + 187.5 / 5) ** 0.5, rel=1e-12)
    assert gap.t == pytest.approx(3.5777, abs=5e-5)
    assert gap.df == pytest.approx(6.8966, abs=5e-5)
    assert gap.p_value == pytest.approx(0.00923, abs=5e-6)
    assert gap.classification == "insufficient_data"
    assert arithmetic.gap_stats(customer, employee, ScoringSettings(min_n=5)).classification == (
        "blind_spot"
    )


# --- Section 2-3: normalisation and cell statistics ------------------------------------------


def test_normalise():
    assert arithmetic.normalise(1, 1, 5) == 0.0
    assert arithmetic.normalise(5, 1, 5) == 100.0
    assert arithmetic.normalise(3, 1, 5) == 50.0
    assert arithmetic.normalise(7, 0, 10) == pytest.approx(70.0)
    assert arithmetic.normalise(2, 1, 7) == pytest.approx(100 / 6)


@FAST
@given(scaled_values())
def test_cell_stats_match_numpy_on_raw_values(sample):
    lo, hi, values = sample
    scores = [arithmetic.normalise(v, lo, hi) for v in values]
    counts = counts_of(lo, hi, values)
    cell = arithmetic.cell_stats(arithmetic.moments_from_counts(counts), counts)
    assert cell.n == len(values)
    assert not cell.suppressed
    if not values:
        assert cell.mean is None and cell.variance is None and cell.se is None
        assert cell.top_box is None and cell.bottom_box is None
        return
    assert cell.mean == pytest.approx(statistics.fmean(scores), abs=1e-9)
    assert sum(cell.distribution.values()) == len(values)
    assert list(cell.distribution) == list(range(lo, hi + 1))
    if len(values) < 2:
        assert cell.variance is None and cell.se is None and cell.ci_low is None
        return
    var = float(np.var(scores, ddof=1))
    assert cell.variance == pytest.approx(var, abs=1e-9)
    se = (var / len(values)) ** 0.5
    assert cell.se == pytest.approx(se, abs=1e-9)
    low = high = float(np.mean(scores))
    if se > 0:
        low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(scores), scale=se)
    assert cell.ci_low == pytest.approx(low, abs=1e-9)
    assert cell.ci_high == pytest.approx(high, abs=1e-9)


@FAST
@given(st.lists(scaled_values(max_size=15), max_size=4))
def test_moments_from_counts_equal_moments_from_raw_values_across_scales(samples):
    """A key asked on several scales combines the normalised values of all of them."""
    raw = [arithmetic.normalise(v, lo, hi) for lo, hi, values in samples for v in values]
    combined: Counter = Counter()
    for lo, hi, values in samples:
        for v in values:
            combined[(lo, hi, v)] += 1
    from_counts = arithmetic.moments_from_counts(ValueCounts(dict(combined)))
    from_raw = arithmetic.moments_from_values(raw)
    assert from_counts.n == from_raw.n == len(raw)
    assert from_counts.total == pytest.approx(from_raw.total, rel=1e-12, abs=1e-9)
    assert from_counts.total_sq == pytest.approx(from_raw.total_sq, rel=1e-12, abs=1e-9)
    a, b = arithmetic.cell_stats(from_counts), arithmetic.cell_stats(from_raw)
    for name in ("mean", "variance", "se", "ci_low", "ci_high"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:
            assert x == pytest.approx(y, abs=1e-9)


def test_moments_from_counts_do_not_depend_on_insertion_order():
    items = [((1, 7, v), c) for v, c in [(1, 3), (2, 5), (6, 1), (7, 11)]]
    forward = arithmetic.moments_from_counts(ValueCounts(dict(items)))
    backward = arithmetic.moments_from_counts(ValueCounts(dict(reversed(items))))
    assert forward == backward


def test_constant_cell_has_exactly_zero_variance_despite_rounding():
    # 100/6 is not representable: sums of squares cancel to a few ulps, not to 0.
    counts = counts_of(1, 7, [2] * 997)
    cell = arithmetic.cell_stats(arithmetic.moments_from_counts(counts), counts)
    assert cell.variance == 0.0
    assert cell.se == 0.0
    assert cell.ci_low == cell.ci_high == cell.mean


def test_small_cells_never_raise():
    empty = arithmetic.cell_stats(Moments())
    assert empty.n == 0 and empty.mean is None and empty.ci_low is None
    one = arithmetic.cell_stats(moments(1, 40.0, 0.0), counts_of(1, 5, [3]))
    assert one.n == 1 and one.mean == 40.0
    assert one.variance is None and one.se is None and one.ci_high is None
    assert one.top_box == 0.0 and one.bottom_box == 0.0


def test_touchpoint_cells_have_no_distribution_or_boxes():
    cell = arithmetic.cell_stats(moments(12, 60.0, 25.0))
    assert cell.distribution is None and cell.top_box is None and cell.bottom_box is None


def test_top_and_bottom_box_five_point_scale():
    top, bottom = arithmetic.box_shares(counts_of(1, 5, [1, 2, 3, 4, 5, 5]))
    assert top == pytest.approx(100 * 3 / 6)
    assert bottom == pytest.approx(100 * 2 / 6)


def test_top_and_bottom_box_three_and_four_point_scales_use_one_point():
    top, bottom = arithmetic.box_shares(counts_of(1, 3, [1, 2, 3, 3]))
    assert (top, bottom) == (50.0, 25.0)
    top, bottom = arithmetic.box_shares(counts_of(1, 4, [1, 2, 3, 4]))
    assert (top, bottom) == (25.0, 25.0)


def test_top_and_bottom_box_zero_to_ten():
    top, bottom = arithmetic.box_shares(counts_of(0, 10, [0, 1, 2, 5, 8, 9, 10, 10]))
    assert top == pytest.approx(100 * 3 / 8)
    assert bottom == pytest.approx(100 * 2 / 8)


def test_boxes_judge_each_answer_on_its_own_scale():
    counts = ValueCounts({(1, 5, 4): 1, (1, 5, 1): 1, (1, 3, 3): 1, (1, 3, 2): 1})
    top, bottom = arithmetic.box_shares(counts)
    assert (top, bottom) == (50.0, 25.0)
    assert arithmetic.distribution_of(counts) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 0}


# --- NPS -------------------------------------------------------------------------------------


def test_nps_split():
    nps = arithmetic.nps_stats(counts_of(0, 10, [10, 9, 8, 7, 6, 0]))
    assert (nps.n, nps.promoters, nps.passives, nps.detractors) == (6, 2, 2, 2)
    assert nps.nps == 0.0


def test_nps_extremes_and_empty():
    assert arithmetic.nps_stats(counts_of(0, 10, [9, 10, 10])).nps == 100.0
    assert arithmetic.nps_stats(counts_of(0, 10, [0, 6, 3])).nps == -100.0
    assert arithmetic.nps_stats(counts_of(0, 10, [10, 10, 10, 7, 5])).nps == pytest.approx(40.0)
    empty = arithmetic.nps_stats(ValueCounts())
    assert empty.n == 0 and empty.nps is None and not empty.suppressed


@FAST
@given(st.lists(st.integers(0, 10), max_size=60))
def test_nps_matches_definition(values):
    nps = arithmetic.nps_stats(counts_of(0, 10, values))
    promoters = sum(v >= 9 for v in values)
    detractors = sum(v <= 6 for v in values)
    assert nps.promoters == promoters and nps.detractors == detractors
    assert nps.passives == sum(v in (7, 8) for v in values)
    if values:
        assert nps.nps == pytest.approx(100 * (promoters - detractors) / len(values), abs=1e-12)


def test_suppressed_nps_exposes_nothing():
    nps = arithmetic.suppressed_nps()
    assert nps.suppressed
    assert (nps.n, nps.promoters, nps.passives, nps.detractors, nps.nps) == (None,) * 5


# --- Welch -----------------------------------------------------------------------------------


# scipy warns about its own cancellation when one side is constant; ours is what is tested.
@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
@FAST
@given(scaled_values(min_size=2), scaled_values(min_size=2))
def test_welch_matches_scipy(a_sample, b_sample):
    a = [arithmetic.normalise(v, a_sample[0], a_sample[1]) for v in a_sample[2]]
    b = [arithmetic.normalise(v, b_sample[0], b_sample[1]) for v in b_sample[2]]
    test = arithmetic.welch(arithmetic.moments_from_values(a), arithmetic.moments_from_values(b))
    assert test.difference == pytest.approx(np.mean(a) - np.mean(b), abs=1e-9)
    if len(set(a)) == 1 and len(set(b)) == 1:
        assert test.t is None and test.df is None and test.p_value is None
        assert test.ci_low is None and not test.testable
        return
    expected = stats.ttest_ind(a, b, equal_var=False)
    ci = expected.confidence_interval(0.95)
    assert test.t == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert test.df == pytest.approx(expected.df, rel=1e-9)
    assert test.p_value == pytest.approx(expected.pvalue, rel=1e-7, abs=1e-12)
    assert test.ci_low == pytest.approx(ci.low, rel=1e-9, abs=1e-9)
    assert test.ci_high == pytest.approx(ci.high, rel=1e-9, abs=1e-9)


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_welch_with_one_zero_variance_side():
    a, b = [50.0] * 8, [25.0, 50.0, 75.0, 50.0, 100.0, 0.0]
    test = arithmetic.welch(arithmetic.moments_from_values(a), arithmetic.moments_from_values(b))
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert test.df == pytest.approx(expected.df, rel=1e-12)  # n_b - 1: only b contributes
    assert test.df == pytest.approx(5.0)
    assert test.p_value == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Moments(), Moments()),
        (Moments(), moments(10, 50.0, 10.0)),
        (moments(1, 50.0, 0.0), moments(1, 60.0, 0.0)),
        (moments(1, 50.0, 0.0), moments(10, 60.0, 20.0)),
        (moments(10, 50.0, 0.0), moments(10, 60.0, 0.0)),
    ],
)
def test_welch_edge_cases_never_raise(a, b):
    test = arithmetic.welch(a, b)
    assert test.t is None and test.df is None and test.p_value is None
    assert test.ci_low is None and test.ci_high is None
    if a.n and b.n:
        assert test.difference == pytest.approx(arithmetic.mean_of(a) - arithmetic.mean_of(b))
    else:
        assert test.difference is None
    gap = arithmetic.gap_stats(b, a, ScoringSettings(min_n=1, employee_anonymity_min=1))
    assert gap.classification == "insufficient_data"


# --- Classification and anonymity ------------------------------------------------------------


def classify(customer: Moments, employee: Moments, **overrides) -> str:
    return arithmetic.gap_stats(customer, employee, ScoringSettings(**overrides)).classification


def test_classification_needs_min_n_on_both_sides():
    assert classify(moments(9, 50.0, 100.0), moments(40, 90.0, 100.0)) == "insufficient_data"
    assert classify(moments(40, 50.0, 100.0), moments(9, 90.0, 100.0)) == "insufficient_data"
    assert classify(moments(10, 50.0, 100.0), moments(10, 90.0, 100.0)) == "blind_spot"


def test_zero_variance_on_both_sides_is_insufficient_data_even_for_a_huge_gap():
    assert classify(moments(50, 20.0, 0.0), moments(50, 90.0, 0.0)) == "insufficient_data"


def test_zero_variance_on_one_side_is_tested():
    assert classify(moments(50, 20.0, 0.0), moments(50, 90.0, 50.0)) == "blind_spot"
    assert classify(moments(50, 90.0, 50.0), moments(50, 20.0, 0.0)) == "hidden_strength"


def test_blind_spot_and_hidden_strength_thresholds_are_inclusive():
    tight = 1.0  # tiny variance: any gap of 10 points is significant
    assert classify(moments(40, 50.0, tight), moments(40, 60.0, tight)) == "blind_spot"
    assert classify(moments(40, 60.0, tight), moments(40, 50.0, tight)) == "hidden_strength"
    assert classify(moments(40, 50.0, tight), moments(40, 59.9, tight)) == "aligned"
    assert classify(moments(40, 50.0, tight), moments(40, 65.0, tight), gap_threshold=15) == (
        "blind_spot"
    )


def test_large_gap_without_significance_is_aligned():
    gap = arithmetic.gap_stats(moments(10, 50.0, 2500.0), moments(10, 70.0, 2500.0), DEFAULTS)
    assert gap.p_value is not None and gap.p_value > 0.05
    assert gap.classification == "aligned"


def test_alpha_is_strict():
    customer, employee = moments(12, 50.0, 400.0), moments(12, 70.0, 400.0)
    p = arithmetic.gap_stats(customer, employee, DEFAULTS).p_value
    assert classify(customer, employee, alpha=p) == "aligned"
    assert classify(customer, employee, alpha=p * 1.0001) == "blind_spot"


@pytest.mark.parametrize("n", [0, 1, 4])
def test_small_employee_cells_are_suppressed_and_expose_nothing(n):
    employee = moments(n, 90.0, 0.0) if n else Moments()
    counts = counts_of(1, 5, [5] * n)
    cell = arithmetic.employee_cell_stats(employee, DEFAULTS, counts)
    assert cell.suppressed and cell.suppressed_reason == "too_few"
    figures = {
        k: v for k, v in cell.__dict__.items() if k not in ("suppressed", "suppressed_reason")
    }
    assert set(figures.values()) == {None}
    gap = arithmetic.gap_stats(moments(100, 50.0, 100.0), employee, DEFAULTS)
    assert gap.classification == "insufficient_data"
    assert (gap.gap, gap.t, gap.df, gap.p_value, gap.ci_low, gap.ci_high) == (None,) * 6


def test_employee_cell_at_the_anonymity_threshold_is_shown():
    cell = arithmetic.employee_cell_stats(moments(5, 80.0, 10.0), DEFAULTS)
    assert not cell.suppressed and cell.n == 5 and cell.mean == 80.0
    gap = arithmetic.gap_stats(moments(100, 50.0, 100.0), moments(5, 80.0, 10.0), DEFAULTS)
    assert gap.gap == pytest.approx(30.0)
    assert gap.classification == "insufficient_data"  # n 5 < min_n 10, but figures are shown
    assert gap.p_value is not None


# --- Spearman and importance -----------------------------------------------------------------


@FAST
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6)), min_size=2, max_size=80))
def test_spearman_matches_scipy_with_ties(pairs):
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    rho = arithmetic.spearman(pairs)
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        assert rho is None
        return
    assert rho == pytest.approx(stats.spearmanr(xs, ys).statistic, abs=1e-12)


def test_spearman_needs_two_pairs_and_spread():
    assert arithmetic.spearman([]) is None
    assert arithmetic.spearman([(1.0, 2.0)]) is None
    assert arithmetic.spearman([(1.0, 2.0), (1.0, 3.0)]) is None
    assert arithmetic.spearman([(1.0, 2.0), (2.0, 3.0)]) == pytest.approx(1.0)
    assert arithmetic.spearman([(1.0, 3.0), (2.0, 2.0)]) == pytest.approx(-1.0)
    as_array = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 2.0]])
    assert arithmetic.spearman(as_array) == pytest.approx(stats.spearmanr(*as_array.T).statistic)


def test_spearman_is_fast_for_a_hundred_thousand_pairs():
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 13, 100_000) * (100 / 12)
    outcomes = np.clip(np.round(scores / 10 + rng.normal(0, 2, 100_000)), 0, 10) * 10
    pairs = list(zip(scores.tolist(), outcomes.tolist(), strict=True))
    started = time.perf_counter()
    rho = arithmetic.spearman(pairs)
    elapsed = time.perf_counter() - started
    assert rho == pytest.approx(stats.spearmanr(scores, outcomes).statistic, abs=1e-12)
    assert elapsed < 1.0


def test_importance_derived_from_thirty_pairs():
    assert arithmetic.importance(3, 0.42, 30) == (0.42, "derived")
    assert arithmetic.importance(3, 0.42, 29) == (0.5, "declared")
    assert arithmetic.importance(3, -0.3, 500) == (0.0, "derived")
    assert arithmetic.importance(5, None, 500) == (1.0, "declared")
    assert arithmetic.importance(5, float("nan"), 500) == (1.0, "declared")


@pytest.mark.parametrize(("declared", "weight"), [(1, 0.0), (2, 0.25), (3, 0.5), (5, 1.0)])
def test_declared_importance_maps_to_zero_one(declared, weight):
    assert arithmetic.importance(declared, None, 0) == (weight, "declared")


# --- Trend -----------------------------------------------------------------------------------


def trend_status(current: Moments, previous: Moments) -> str:
    return arithmetic.trend(current, previous, DEFAULTS).status


def test_trend_statuses():
    assert trend_status(moments(50, 60.0, 25.0), moments(50, 55.0, 25.0)) == "improved"
    assert trend_status(moments(50, 55.0, 25.0), moments(50, 60.0, 25.0)) == "declined"
    # Significant but under gap_threshold / 2 = 5 points.
    assert trend_status(moments(500, 59.0, 25.0), moments(500, 55.0, 25.0)) == "stable"
    # Large but not significant.
    assert trend_status(moments(10, 70.0, 2500.0), moments(10, 50.0, 2500.0)) == "stable"
    assert trend_status(moments(9, 90.0, 25.0), moments(50, 50.0, 25.0)) == "insufficient_data"
    assert trend_status(moments(50, 90.0, 0.0), moments(50, 50.0, 0.0)) == "insufficient_data"
    assert trend_status(Moments(), Moments()) == "insufficient_data"


def test_trend_reports_change_and_welch_p():
    current, previous = moments(50, 60.0, 25.0), moments(40, 52.0, 36.0)
    row = arithmetic.trend(current, previous, DEFAULTS)
    assert row.change == pytest.approx(8.0)
    assert row.p_value == pytest.approx(arithmetic.welch(current, previous).p_value)
