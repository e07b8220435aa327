"""The classical ladder and the rolling-origin scoring, each against a by-hand computation or
statsmodels itself."""

import math
import warnings

import numpy as np
import pytest

from statecarry.errors import DataError
from statecarry.experiments import baselines as bl
from statecarry.experiments import forecast as fc
from statecarry.experiments import rolling
from statecarry.experiments.series import Series


def wave(n=96, seed=0, period=12):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 300 + 0.1 * t + 2 * np.sin(2 * np.pi * t / period) + 0.1 * rng.standard_normal(n)


START, H, M = 72, 6, 12


def test_simple_baselines_match_by_hand_loops():
    v = wave()
    origins = np.arange(START, len(v))
    got = {b.name: b.paths for b in bl.simple(v, START, origins, H, M)}
    slope = (v[START - 1] - v[0]) / (START - 1)
    seasonal_step = np.mean([v[t] - v[t - M] for t in range(M, START)])
    for i, o in enumerate(origins):
        for h in range(1, H + 1):
            k = (h - 1) // M + 1  # seasons back
            back = v[o - 1 + h - M * k]
            assert got["naive"][i, h - 1] == v[o - 1]
            assert got["seasonal naive"][i, h - 1] == back
            assert got["drift"][i, h - 1] == pytest.approx(v[o - 1] + h * slope, rel=1e-12)
            assert got["seasonal naive + drift"][i, h - 1] == pytest.approx(back + k * seasonal_step, rel=1e-12)


def test_seasonal_naive_reaches_back_more_than_one_season():
    v = np.arange(40, dtype=float) ** 1.5
    paths = bl.simple(v, 30, np.array([30]), 9, 4)[1].paths[0]
    # h = 1..4 -> v[26..29], h = 5..8 -> v[26..29] again, h = 9 -> v[26]
    np.testing.assert_array_equal(paths, v[[26, 27, 28, 29, 26, 27, 28, 29, 26]])


@pytest.fixture(scope="module")
def fitted_ladder():
    v, start = wave(180, seed=2), 150  # ETS fits 14 initial states: it needs a few seasons
    return v, start, bl.statistical(v, start, np.arange(start, len(v)), H, M)


@pytest.mark.parametrize("name", ["ETS", "SARIMA"])
def test_statistical_models_match_statsmodels_refiltered_at_each_origin(name, fitted_ladder):
    """Our one-filter forecasts from every origin equal statsmodels' own: the fitted model
    re-applied to the history up to the origin, then forecast (levels mapped back)."""
    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    v, start, (found, notes) = fitted_ladder
    origins = np.arange(start, len(v))
    assert notes == {}
    paths, params = next((b.paths, b.params) for b in found if b.name == name)
    scaling = bl.Scaling.fit(v[:start])
    z = scaling.to_z(v)
    model = {
        "ETS": lambda: ExponentialSmoothing(z[:start], trend=True, seasonal=M),
        "SARIMA": lambda: SARIMAX(z[:start], order=(0, 1, 1), seasonal_order=(0, 1, 1, M)),
    }[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = model.smooth(params)
        for i in (0, 7, len(origins) - 1):
            expected = scaling.to_v(fitted.apply(z[: origins[i]]).forecast(H))
            np.testing.assert_allclose(paths[i], expected, rtol=1e-9)
    assert np.abs(paths[:, 0] - v[origins]).mean() < 0.3  # and they forecast well


def test_ar_matches_statsmodels_autoreg_at_each_origin(fitted_ladder):
    from statsmodels.tsa.ar_model import AutoReg

    v, start, (found, _) = fitted_ladder
    ar = next(b for b in found if b.name == "AR")
    scaling = bl.Scaling.fit(v[:start])
    z = scaling.to_z(v)
    p = len(ar.params) - 1
    assert 1 <= p <= 24
    fitted = AutoReg(z[:start], p, trend="c").fit()
    np.testing.assert_allclose(ar.params, fitted.params, rtol=1e-9)
    for i in (0, 9, 29):
        expected = scaling.to_v(fitted.apply(z[: start + i]).forecast(H))
        np.testing.assert_allclose(ar.paths[i], expected, rtol=1e-9)


def test_a_model_that_does_not_converge_is_named_and_the_others_kept(monkeypatch):
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    def warns():
        warnings.warn("no luck", ConvergenceWarning, stacklevel=2)
        return np.zeros(3), None

    assert bl._quietly(warns) == (None, "statsmodels' optimiser did not converge")
    real = bl.state_space_paths
    monkeypatch.setattr(bl, "state_space_paths", lambda fitted, *a: warns() if "Exponential" in type(
        fitted.model).__name__ else real(fitted, *a))
    found, notes = bl.ladder(wave(48, period=4), 40, np.arange(40, 48), 3, 4)  # small: quick
    assert notes == {"ETS": "statsmodels' optimiser did not converge"}
    assert [b.name for b in found] == ["naive", "seasonal naive", "drift", "seasonal naive + drift", "SARIMA", "AR"]


def test_period_is_detected_or_absent():
    assert bl.detect_period(wave(200)) == 12
    assert bl.detect_period(wave(200, period=7)) == 7
    assert bl.detect_period(np.random.default_rng(1).standard_normal(200).cumsum()) == 1
    # a smooth wave: neighbouring steps are alike, so only the peak after the first dip counts
    assert bl.detect_period(np.sin(np.arange(240) / 8)) == round(2 * np.pi * 8)  # 50
    t = np.arange(400)  # a slow cycle whose autocorrelation never dips below 0, and a season
    assert bl.detect_period(5 * np.sin(2 * np.pi * t / 300) + 0.2 * np.sin(2 * np.pi * t / 12)) == 12
    noise = np.random.default_rng(0).normal(size=240) * 0.1
    for period in (2, 3, 4):  # the shortest seasons: lag 2 may be a peak itself
        assert bl.detect_period(np.tile(np.arange(period, dtype=float), 240 // period) + noise) == period


def test_mase_scale_is_seasonal_naive_in_sample_mae():
    v = wave()
    assert bl.mase_scale(v[:START], M) == pytest.approx(np.mean(np.abs(v[M:START] - v[: START - M])))
    flat_season = np.tile([1.0, 2.0, 3.0], 10)  # seasonal naive is exact: fall back to naive
    assert bl.mase_scale(flat_season, 3) == pytest.approx(np.mean(np.abs(np.diff(flat_season))))


def test_a_period_longer_than_the_training_part_is_one_sentence():
    with pytest.raises(DataError, match="too few for a season of 40"):
        bl.ladder(wave(), START, np.arange(START, 96), H, 40)
    with pytest.raises(DataError, match="a period of 40 needs more than 81 values"):
        fc.period_of(wave(), START, fc.Setup(period=40))


def test_huge_and_tiny_values_scale_without_overflow():
    with np.errstate(all="raise"):
        for factor in (1e200, 1e-30):
            v = wave() * factor / 300
            s = bl.Scaling.fit(v[:START])
            z = s.to_z(v)
            assert np.isfinite(z).all() and abs(z[:START].std() - 1) < 1e-9
            np.testing.assert_allclose(s.to_v(z), v, rtol=1e-12)
            assert fc.rmse(v + factor * 1e-3, v) == pytest.approx(factor * 1e-3, rel=1e-9)
            assert not fc.is_constant(v[:START])
            fc.model_series(v, START, differenced=True)


def test_straight_lines_are_constant_only_when_differenced():
    line = 1e-30 * (5 + 0.25 * np.arange(96))
    fc.model_series(line, START, differenced=False)  # the raw models still train
    with pytest.raises(DataError, match="the differences of the training part of the series are constant"):
        fc.model_series(line, START, differenced=True)
    with pytest.raises(DataError, match="the training part of the series is constant"):
        fc.model_series(np.full(96, 3e200), START, differenced=False)


# -- scoring ---------------------------------------------------------------------------------


def result(paths, truth, cell=""):
    return fc.ModelResult("m", "raw" if cell else "levels", np.asarray(paths, float),
                          np.asarray(truth, float), cell)  # fmt: skip


def test_mase_and_rmse_by_horizon_skip_targets_past_the_end():
    truth = fc.truth_paths(np.arange(10.0), 7, 3)  # origins 7, 8, 9
    assert np.isnan(truth[1, 2]) and np.isnan(truth[2, 1]) and truth[0, 2] == 9
    paths = truth[None] + np.array([[[1.0, 2, 3], [1, 2, 3], [1, 2, 3]],
                                    [[3.0, 2, 1], [3, 2, 1], [3, 2, 1]]])  # fmt: skip
    r = result(np.nan_to_num(paths), truth, "lstm")
    np.testing.assert_allclose(rolling.mase(r, 1, 2.0), [0.5, 1.5])
    np.testing.assert_allclose(rolling.mase(r, 3, 2.0), [1.5, 0.5])  # one origin only
    np.testing.assert_allclose(rolling.rmse_at(r, 2), [2.0, 2.0])


def test_long_run_variance_is_statsmodels_newey_west():
    from statsmodels.stats.sandwich_covariance import S_hac_simple

    d = np.random.default_rng(3).standard_normal(50).cumsum()
    for lag in (0, 1, 5):
        expected = S_hac_simple(d - d.mean(), nlags=lag)[0, 0] / len(d)
        assert rolling.long_run_variance(d, lag) == pytest.approx(expected, rel=1e-12)


def test_paired_ratio_and_its_verdict():
    rng = np.random.default_rng(0)
    truth = fc.truth_paths(rng.standard_normal(60), 20, 1)
    base = result(truth[None] + 1.0, truth)  # |error| 1 everywhere
    twice = result(truth[None] + rng.choice([-2.0, 2.0], size=(4, 40, 1)), truth, "lstm")
    r = rolling.paired(twice, base, 1, 1.0)
    assert r.mean == pytest.approx(2.0) and r.low == pytest.approx(2.0) and r.n == 160
    assert rolling.ratio_word(r) == "worse"
    same = result(truth[None] + rng.choice([-1.0, 1.0], size=(4, 40, 1)), truth, "lstm")
    assert rolling.ratio_word(rolling.paired(same, base, 1, 1.0)) == "as good or better"
    noisy = result(truth[None] + rng.exponential(1.0, size=(4, 40, 1)) * 1.05, truth, "lstm")
    assert rolling.ratio_word(rolling.paired(noisy, base, 1, 1.0)) == "unclear"
    # exact but at one origin, 40 off there: the same MASE as the baseline's, and an interval
    # whose arithmetic (1 - 1.94) would reach below 0, which a ratio of MASEs cannot
    spike = np.zeros((2, 40, 1))
    spike[:, 5] = 40.0
    r = rolling.paired(result(truth[None] + spike, truth, "lstm"), base, 1, 1.0)
    assert r.low == 0.0 and r.mean == pytest.approx(1.0) and r.high > 2.5
    spike[0, 7] = np.nan  # an undefined error leaves the whole interval undefined, not [0, nan]
    r = rolling.paired(result(truth[None] + spike, truth, "lstm"), base, 1, 1.0)
    assert np.isnan([r.mean, r.low, r.high]).all()


def test_the_best_baseline_is_the_lowest_mase():
    truth = fc.truth_paths(np.arange(30.0), 20, 2)
    c = fc.Comparison(Series(np.arange(30.0), "v", "s"), fc.Setup(), [0], fc.Split(20, 10), 2, 1, 1.0)
    c.results = [result(truth[None] + e, truth) for e in (3.0, 0.5, 1.0)]
    assert rolling.best_baseline(c, 1) is c.results[1]
    assert math.isclose(float(rolling.mase(c.results[1], 2, 1.0)[0]), 0.5)
