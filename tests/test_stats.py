"""Summaries over seeds against independent oracles: scipy's t distribution, the Wilson
closed form (and statsmodels when installed), and the NaN rules."""

import math
from statistics import NormalDist

import numpy as np
import pytest

from statecarry import stats

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")

DFS = [1, 2, 3, 4, 5, 7, 10, 15, 31, 63, 100, 1000, 100_000]
PS = [1e-4, 0.001, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.975, 0.99, 0.999]


@pytest.mark.parametrize("df", DFS)
def test_t_quantile_matches_scipy(df):
    for p in PS:
        want = scipy_stats.t.ppf(p, df)
        assert stats.t_quantile(p, df) == pytest.approx(want, rel=1e-8, abs=1e-9), (p, df)


@pytest.mark.parametrize("df", DFS)
def test_t_cdf_matches_scipy(df):
    for t in [-50.0, -6.0, -2.5, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0, 2.5, 6.0, 50.0]:
        want = scipy_stats.t.cdf(t, df)
        assert stats.t_cdf(t, df) == pytest.approx(want, rel=1e-9, abs=1e-12), (t, df)


def test_t_cdf_and_quantile_stay_close_to_scipy_at_huge_df():
    # lgamma differences lose a few digits at df = 10^6; a CI needs far fewer.
    for t in [-3.0, -1.0, 0.5, 2.0]:
        assert stats.t_cdf(t, 1e6) == pytest.approx(scipy_stats.t.cdf(t, 1e6), rel=1e-7)
    assert stats.t_quantile(0.975, 1e6) == pytest.approx(scipy_stats.t.ppf(0.975, 1e6), rel=1e-7)


def test_betainc_matches_scipy():
    for a in [0.5, 1.0, 2.5, 10.0, 150.0]:
        for b in [0.5, 1.0, 3.0, 40.0]:
            for x in [0.0, 1e-6, 0.01, 0.2, 0.5, 0.77, 0.99, 1 - 1e-9, 1.0]:
                want = scipy_special.betainc(a, b, x)
                assert stats.betainc(a, b, x) == pytest.approx(want, rel=1e-9, abs=1e-13), (a, b, x)


def test_t_quantile_inverts_t_cdf_far_in_the_tails():
    # A 99.99% interval over two seeds needs t ≈ 6366: the quantile must not be clipped.
    for p, df in [(0.99995, 1), (5e-5, 1), (0.9999, 2), (0.999999, 3)]:
        q = stats.t_quantile(p, df)
        assert q == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-8), (p, df)


@pytest.mark.parametrize("n", [2, 3, 5, 32, 200])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_mean_ci_matches_scipy_t_interval(n, confidence):
    x = np.random.default_rng(n).normal(0.6, 0.2, n)
    got = stats.mean_ci(x, confidence)
    low, high = scipy_stats.t.interval(confidence, n - 1, loc=x.mean(), scale=scipy_stats.sem(x))
    assert got.n == n
    assert got.mean == pytest.approx(x.mean(), rel=1e-12)
    assert got.low == pytest.approx(low, rel=1e-9)
    assert got.high == pytest.approx(high, rel=1e-9)
    assert got.half_width == pytest.approx((high - low) / 2, rel=1e-9)


def test_mean_ci_of_identical_values_is_a_point():
    got = stats.mean_ci([1.0] * 8)
    assert (got.mean, got.low, got.high, got.n) == (1.0, 1.0, 1.0, 8)


def test_mean_ci_drops_nans_and_says_how_many_values_it_used():
    x = np.array([0.2, np.nan, 0.4, 0.9, np.nan, 0.5])
    got = stats.mean_ci(x)
    want = stats.mean_ci(x[np.isfinite(x)])
    assert got == want
    assert got.n == 4


def test_mean_ci_of_nothing_or_one_value_has_no_interval():
    empty = stats.mean_ci([np.nan, np.nan])
    assert empty.n == 0 and all(math.isnan(v) for v in (empty.mean, empty.low, empty.high))
    one = stats.mean_ci([np.nan, 0.7])
    assert one.n == 1 and one.mean == 0.7
    assert math.isnan(one.low) and math.isnan(one.high)


def wilson_closed_form(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson (1927): (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)


CASES = [(0, 1), (1, 1), (0, 32), (32, 32), (1, 32), (16, 32), (31, 32), (7, 10), (300, 1024)]


@pytest.mark.parametrize("k,n", CASES)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_the_closed_form(k, n, confidence):
    got = stats.wilson(k, n, confidence)
    low, high = wilson_closed_form(k, n, confidence)
    assert got.mean == k / n and got.n == n
    assert got.low == pytest.approx(low, rel=1e-9, abs=1e-12)
    assert got.high == pytest.approx(high, rel=1e-9, abs=1e-12)
    assert 0.0 <= got.low <= got.mean <= got.high <= 1.0


@pytest.mark.parametrize("k,n", CASES)
def test_wilson_matches_statsmodels(k, n):
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    low, high = proportion.proportion_confint(k, n, alpha=0.05, method="wilson")
    got = stats.wilson(k, n)
    assert got.low == pytest.approx(low, rel=1e-9, abs=1e-12)
    assert got.high == pytest.approx(high, rel=1e-9, abs=1e-12)


def test_wilson_of_no_trials_is_undefined():
    got = stats.wilson(0, 0)
    assert got.n == 0 and math.isnan(got.mean) and math.isnan(got.low) and math.isnan(got.high)


def test_solved_fraction_counts_seeds_at_the_threshold_and_ignores_nan():
    acc = [1.0, 0.99, 0.9899, 0.5, np.nan, 1.0]
    got = stats.solved_fraction(acc)
    assert (got.mean, got.n) == (3 / 5, 5)
    assert (got.low, got.high) == pytest.approx(wilson_closed_form(3, 5, 0.95), rel=1e-9)


def test_summary_prints_mean_and_half_width_or_the_clipped_interval():
    assert str(stats.Summary(0.5, 0.39, 0.61, 10)) == "0.500 ± 0.110"
    assert str(stats.Summary(0.5, 0.4, 0.62, 10)) == "0.500 [0.400, 0.620]"


def test_mean_ci_of_values_near_1e300_is_the_scaled_interval_not_inf():
    x = np.random.default_rng(3).normal(0.6, 0.2, 5)
    small, huge = stats.mean_ci(x), stats.mean_ci(x * 1e300)  # x * 1e300 squared overflows
    assert (huge.mean, huge.low, huge.high) == pytest.approx(tuple(v * 1e300 for v in small[:3]), rel=1e-12)
    assert stats.mean_ci([1e308, 1e308]).mean == 1e308  # their sum overflows


def test_summary_prints_4_significant_digits_from_1e5_not_hundreds_of_digits():
    assert str(stats.Summary(7.9131e298, 7.9e298, 7.93e298, 2)) == "7.913e+298 [7.9e+298, 7.93e+298]"
    assert str(stats.Summary(2.0e5, 1.0e5, 3.0e5, 4)) == "2e+05 ± 1e+05"
    assert str(stats.Summary(99999.0, 99998.0, 100000.0, 4)) == "99999.000 ± 1.000"


def test_bounds_clip_the_interval_to_what_the_metric_can_take():
    acc = np.r_[np.ones(6), 0.5, 0.6]
    free, bounded = stats.mean_ci(acc), stats.mean_ci(acc, bounds=stats.ACCURACY)
    assert free.high > 1 and bounded.high == 1.0
    assert (bounded.mean, bounded.low) == (free.mean, free.low)


def test_an_interval_one_seed_cannot_give_is_a_dash_with_why_never_nan():
    one = stats.mean_ci([0.7])
    assert str(one) == "0.700 ± — (1 seed)"
    assert one.bracket() == "— (1 seed)" and one.bracket(".0%") == "— (1 seed)"
    assert str(stats.mean_ci([np.nan, np.inf])) == "— (no finite seed)"
    assert stats.Summary(0.5, None, None, 1).bracket() == "— (1 seed)"  # as stored: null
    assert stats.mean_ci([0.2, 0.4]).bracket(".1f").startswith("[")
    assert stats.wilson(1, 1).bracket(".0%") == "[21%, 100%]"  # defined for one seed: shown
