"""Scoring forecasts from rolling origins: RMSE and MASE by horizon, and paired comparisons.

A model's paths are (seeds, origins, ahead): the forecast of v[o + h - 1] from origin o. At
horizon h the scored origins are those whose target lies inside the series. MASE divides the
absolute errors by the training part's in-sample seasonal-naive MAE (`baselines.mase_scale`),
so 1 means "as good as seasonal naive was in-sample" in every series' units.
"""

from __future__ import annotations

import math

import numpy as np

from .. import stats
from .forecast import Comparison, ModelResult, rmse

HORIZONS = (1, 6, 12, 24)


def horizons(c: Comparison) -> tuple[int, ...]:
    """The reported horizons that the held-out part can check."""
    return tuple(h for h in HORIZONS if h <= c.ahead)


def scaled_errors(r: ModelResult, h: int, scale: float) -> np.ndarray:
    """(seeds, origins): |error| / scale at horizon h, over the origins it can be checked."""
    truth = r.truth[:, h - 1]
    keep = np.isfinite(truth)
    return np.abs(r.paths[:, keep, h - 1] - truth[None, keep]) / scale


def mase(r: ModelResult, h: int, scale: float) -> np.ndarray:
    """(seeds,) MASE at horizon h."""
    return scaled_errors(r, h, scale).mean(axis=1)


def rmse_at(r: ModelResult, h: int) -> np.ndarray:
    """(seeds,) RMSE at horizon h, in the series' units."""
    keep = np.isfinite(r.truth[:, h - 1])
    return rmse(r.paths[:, keep, h - 1], r.truth[None, keep, h - 1])


def best_baseline(c: Comparison, h: int) -> ModelResult:
    """The baseline with the lowest MASE at horizon h (chosen on the held-out part, which
    favours the baselines a little)."""
    return min((r for r in c.results if not r.cell), key=lambda r: float(mase(r, h, c.scale)[0]))


def best_model(c: Comparison, h: int, keep=lambda r: True) -> ModelResult:
    """The recurrent model with the lowest mean MASE at horizon h among those `keep` allows."""
    return min((r for r in c.results if r.cell and keep(r)), key=lambda r: float(mase(r, h, c.scale).mean()))


def long_run_variance(d: np.ndarray, lag: int) -> float:
    """Newey-West (Bartlett) variance of a series' mean times its length: h-step forecast
    errors from consecutive origins overlap, so they are correlated up to lag h - 1."""
    d = np.asarray(d, np.float64) - np.mean(d)
    n = len(d)
    v = float(np.sum(d * d)) / n
    for k in range(1, min(lag, n - 1) + 1):
        v += 2 * (1 - k / (lag + 1)) * float(np.sum(d[k:] * d[:-k])) / n
    return max(v, 0.0)


# A baseline this far below the naive forecast's in-sample error (MASE is scaled by it) is
# exact up to float rounding: AR on a pure sine scored 3.7e-14, and a ratio against it was
# 1.9e+12 [0, 7.47e+12], "unclear", where an exact baseline cannot be beaten.
EXACT_MASE = 1e-9


def paired(model: ModelResult, base: ModelResult, h: int, scale: float) -> stats.Summary:
    """MASE(model) / MASE(base) at horizon h with a 95% interval, paired per origin and seed.

    d[s, o] = the scaled absolute error difference at origin o for seed s. Its mean is the MASE
    difference; its variance has two parts, added: across origins (the seed-averaged d, with
    a Newey-West variance at lag h - 1, since neighbouring origins share targets) and across
    seeds (the origin-averaged d, sample variance / seeds, widened by t over 1.96 for few
    seeds). The interval of the difference is
    divided by the baseline's MASE, so it is an interval of the ratio."""
    d = scaled_errors(model, h, scale) - scaled_errors(base, h, scale)
    base_mase = float(mase(base, h, scale).mean())  # a baseline has one "seed"
    by_origin, by_seed = d.mean(axis=0), d.mean(axis=1)
    var = long_run_variance(by_origin, h - 1) / len(by_origin)
    if len(by_seed) > 1:  # few seeds: widen by Student's t over the normal 1.96
        widen = stats.t_quantile(0.975, len(by_seed) - 1) / 1.96
        var += widen**2 * float(np.var(by_seed, ddof=1)) / len(by_seed)
    half = 1.96 * math.sqrt(var)
    mean = float(d.mean())
    if base_mase <= EXACT_MASE:  # an exact baseline (drift on a line, AR on a sine): no ratio but 1 or inf
        ratio = 1.0 if mean <= 0 else math.inf
        return stats.Summary(ratio, ratio, ratio, d.size)
    # a ratio of two MASEs is never below 0: the interval is clipped there, as mean_ci's bounds do
    low = 1 + (mean - half) / base_mase
    return stats.Summary(1 + mean / base_mase, max(0.0, low) if math.isfinite(low) else low,
                         1 + (mean + half) / base_mase, d.size)  # fmt: skip


def ratio_word(r: stats.Summary, margin: float = 0.05, seeds: int = 2) -> str:
    """The verdict rule for model vs baseline: 'as good' if the whole interval of the MASE
    ratio lies at or below 1 + margin, 'worse' if it lies above, else 'unclear'. One seed
    gets no verdict (its interval covers the origins, not how seeds differ), and neither does
    one error difference (one origin, one seed)."""
    if seeds < 2:
        return "inconclusive (1 seed)"
    if r.n < 2:
        return "unclear"
    if r.high <= 1 + margin:
        return "as good or better"
    if r.low > 1 + margin:
        return "worse"
    return "unclear"
