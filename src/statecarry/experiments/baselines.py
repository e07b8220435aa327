"""The classical forecasting ladder a forecaster would ask for first, at rolling origins.

Every model's parameters are fitted on the training part (levels v[:start]) only; at each
forecast origin o it reads the true history v[:o] and forecasts v[o], ..., v[o + H - 1]:

- naive: v[o - 1];
- seasonal naive: the value one season back, v[o - 1 + h - m(k + 1)] with k = (h - 1) // m;
- drift: v[o - 1] + h × (the training part's mean step);
- seasonal naive with drift: seasonal naive + (k + 1) × (the training part's mean seasonal
  step v[t] - v[t - m]), the seasonal random walk with drift;
- ETS with an additive trend and (when m > 1) an additive season, statsmodels' state-space
  `ExponentialSmoothing`, parameters by maximum likelihood on the training part;
- SARIMA, the airline model (0,1,1)(0,1,1)_m (ARIMA(0,1,1) when m = 1), statsmodels' SARIMAX;
- AR(p) with a constant, p up to two seasons chosen by AIC and fitted by least squares
  (statsmodels' `ar_select_order`/`AutoReg`), the classical model for cycles that are not a
  fixed season (sunspots).

The statsmodels models are fitted on the training part standardised (so values near 1e200 or
1e-30 are handled like any other) and mapped back. A model that statsmodels cannot fit, or
whose optimiser does not converge (L-BFGS, statsmodels' default, then BFGS), is left out with
one sentence saying why.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..errors import DataError

NAMES = ("naive", "seasonal naive", "drift", "seasonal naive + drift", "ETS", "SARIMA", "AR")


@dataclass(frozen=True)
class Scaling:
    """An affine map fitted on the training part: z = (v - mean) / std, overflow-free."""

    mean: float
    std: float

    @classmethod
    def fit(cls, train: np.ndarray) -> Scaling:
        train = np.asarray(train, np.float64)
        big = float(np.max(np.abs(train)))  # divide first, so squares cannot overflow
        small = train / big if big > 0 else train
        return cls(big * float(small.mean()), big * float(small.std()) if big > 0 else 0.0)

    def to_z(self, v: np.ndarray) -> np.ndarray:
        return (np.asarray(v, np.float64) - self.mean) / self.std

    def to_v(self, z: np.ndarray) -> np.ndarray:
        return self.mean + self.std * np.asarray(z, np.float64)


def detect_period(train: np.ndarray, longest: int = 60) -> int:
    """The season length: among the lags from 2 to `longest` (and a third of the series), the
    highest peak of the first difference's autocorrelation after its first trough (the first
    lag not above either neighbour), if that peak is above white noise's 95% band for the
    largest of that many lags (Bonferroni: z at 1 - 0.025 / lags, over sqrt(n)); 1 (no season)
    otherwise. Only a peak after the first trough counts: a smooth series' neighbouring steps
    are alike, so its autocorrelation is highest at the shortest lags (a sine of period 50
    would otherwise read as period 2)."""
    d = np.diff(Scaling.fit(train).to_z(train)) if len(train) > 2 else np.zeros(1)
    d = d - d.mean()
    lags = min(longest, len(d) // 3)
    power = float(np.sum(d * d))
    if lags < 2 or not power > 0:
        return 1
    acf = np.array([np.sum(d[k:] * d[:-k]) / power for k in range(1, lags + 2)])  # lags 1 .. lags + 1
    # index k is lag k + 1; lag 0's autocorrelation is 1, above every other, so lag 1 is a
    # trough when lag 2 is not lower
    troughs = [k for k in range(lags) if (k == 0 or acf[k] < acf[k - 1]) and acf[k] <= acf[k + 1]]
    peaks = [k for k in range(troughs[0] + 1 if troughs else lags, lags) if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1]]
    band = NormalDist().inv_cdf(1 - 0.025 / (lags - 1)) / np.sqrt(len(d))
    best = max(peaks, key=lambda k: acf[k], default=None)
    return best + 1 if best is not None and acf[best] > band else 1


def mase_scale(train: np.ndarray, period: int) -> float:
    """MASE's denominator: the in-sample mean absolute error of seasonal naive (naive when the
    seasonal one is exactly 0) on the training part."""
    v = np.asarray(train, np.float64)
    for m in (period, 1):
        if len(v) > m:
            scale = float(np.mean(np.abs(v[m:] - v[:-m])))
            if scale > 0:
                return scale
    raise DataError("the training part of the series is constant; give a series that varies.")


@dataclass
class Baseline:
    name: str
    paths: np.ndarray  # (origins, H): forecasts of v[o + h - 1], h = 1..H, in levels
    params: np.ndarray | None = None  # a statsmodels model's fitted parameters


def _steps(horizon: int) -> np.ndarray:
    return np.arange(1, horizon + 1)


def seasonal_index(origins: np.ndarray, horizon: int, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the value one season back for every (origin, h), and k + 1 seasons back."""
    h = _steps(horizon)[None, :]
    seasons = (h - 1) // period + 1
    return np.asarray(origins)[:, None] - 1 + h - period * seasons, seasons


def simple(v: np.ndarray, start: int, origins: np.ndarray, horizon: int, period: int) -> list[Baseline]:
    """The four closed-form baselines."""
    v = np.asarray(v, np.float64)
    last = v[np.asarray(origins) - 1][:, None]
    slope = (v[start - 1] - v[0]) / (start - 1)
    back, seasons = seasonal_index(origins, horizon, period)
    seasonal_step = float(np.mean(v[period:start] - v[: start - period]))
    ones = np.ones((1, horizon))
    return [
        Baseline("naive", last * ones),
        Baseline("seasonal naive", v[back]),
        Baseline("drift", last + slope * _steps(horizon)[None, :]),
        Baseline("seasonal naive + drift", v[back] + seasons * seasonal_step),
    ]


def _quietly(fn: Callable[[], tuple]) -> tuple[tuple | None, str | None]:
    """Run a statsmodels fit; warnings (convergence above all) become one reason, not output."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn()
        except (ValueError, np.linalg.LinAlgError) as e:
            return None, f"statsmodels could not fit it ({str(e).rstrip('.')})"
    for w in caught:
        name = type(w.message).__name__
        if "Convergence" in name:
            return None, "statsmodels' optimiser did not converge"
    if out is None or not np.all(np.isfinite(out[0])):
        return None, "statsmodels gave non-finite forecasts"
    return out, None


def state_space_paths(fitted, z: np.ndarray, origins: np.ndarray, horizon: int) -> tuple:
    """H-step forecasts from every origin with the fitted parameters: one Kalman filter over
    all of z, then y[o + h - 1] = d + Z T^(h-1) a[o] from the predicted state a[o] (the state
    before reading z[o]); equal to `fitted.apply(z[:o]).forecast(horizon)` (tested)."""
    full = fitted.apply(z)
    ssm = full.model.ssm

    def matrix(name: str, dims: int) -> np.ndarray:  # time-invariant: drop the time axis
        m = np.asarray(ssm[name])
        return m[..., 0] if m.ndim > dims else m

    design, transition = matrix("design", 2), matrix("transition", 2)
    d, c = matrix("obs_intercept", 1), matrix("state_intercept", 1)
    state = np.asarray(full.filter_results.predicted_state)[:, np.asarray(origins)]  # (k, O)
    paths = np.empty((len(origins), horizon))
    for h in range(horizon):
        paths[:, h] = d[0] + (design @ state)[0]
        state = c[:, None] + transition @ state
    return paths, np.asarray(fitted.params)


# Maximum likelihood tries statsmodels' default first, then BFGS: on the tests' seasonal wave
# (180 points, m = 12) L-BFGS stopped short of convergence on an Intel Xeon (AVX-512,
# OpenBLAS's kernels for it) where it converged on an AMD EPYC; BFGS converged there, to a
# higher likelihood (371.09 against 370.42).
MLE_METHODS = ("lbfgs", "bfgs")


def statistical(
    v: np.ndarray, start: int, origins: np.ndarray, horizon: int, period: int
) -> tuple[list[Baseline], dict[str, str]]:
    """ETS, SARIMA (airline) and AR(p); models that fail are named in the returned notes."""
    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    scaling = Scaling.fit(v[:start])
    z = scaling.to_z(v)
    season = period if period > 1 else None
    seasonal = (0, 1, 1, period) if period > 1 else (0, 0, 0, 0)
    makers = {
        "ETS": lambda: ExponentialSmoothing(z[:start], trend=True, seasonal=season),
        "SARIMA": lambda: SARIMAX(z[:start], order=(0, 1, 1), seasonal_order=seasonal),
    }

    out, notes = [], {}
    for name, make in makers.items():
        for method in MLE_METHODS:
            found, why = _quietly(lambda make=make, method=method: state_space_paths(
                make().fit(disp=False, maxiter=1000, method=method), z, origins, horizon))  # fmt: skip
            if not why:
                break
        if why:
            notes[name] = why
        else:
            out.append(Baseline(name, scaling.to_v(found[0]), found[1]))
    found, why = _quietly(lambda: ar_paths(z, start, origins, horizon, max(1, min(2 * period, start // 4))))
    if why:
        notes["AR"] = why
    else:
        out.append(Baseline("AR", scaling.to_v(found[0]), found[1]))
    return out, notes


def ar_paths(z: np.ndarray, start: int, origins: np.ndarray, horizon: int, most: int) -> tuple:
    """AR(p) with a constant, p <= `most` by AIC on z[:start], least squares; forecasts from
    every origin by the recursion z[t] = c + sum_i phi_i z[t - i] (equal to statsmodels'
    `AutoRegResults.apply(z[:o]).forecast`, tested)."""
    from statsmodels.tsa.ar_model import ar_select_order

    chosen = ar_select_order(z[:start], most, ic="aic", trend="c")
    fitted = chosen.model.fit()
    params = np.asarray(fitted.params, np.float64)
    p = len(params) - 1
    history = np.stack([z[o - p : o] for o in origins]) if p else np.zeros((len(origins), 0))
    paths = np.empty((len(origins), horizon))
    for h in range(horizon):
        paths[:, h] = params[0] + history[:, ::-1] @ params[1:]
        history = np.concatenate([history[:, 1:], paths[:, h : h + 1]], axis=1) if p else history
    return paths, params


def ladder(
    v: np.ndarray, start: int, origins: np.ndarray, horizon: int, period: int
) -> tuple[list[Baseline], dict[str, str]]:
    """Every baseline's forecasts at every origin, and why any model was left out."""
    if start <= 2 * period + 1:
        raise DataError(
            f"the training part has {start} values, too few for a season of {period}: it needs "
            f"more than {2 * period + 1}; give a longer series or a shorter --period."
        )
    more, notes = statistical(v, start, origins, horizon, period)
    return simple(v, start, origins, horizon, period) + more, notes
