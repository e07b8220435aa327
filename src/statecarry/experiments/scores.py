"""Scores in a series' own units that cannot overflow: RMSE and its summary over seeds."""

from __future__ import annotations

import math

import numpy as np

from .. import stats


def rmse(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Root mean squared error over the last axis, overflow-free (errors near 1e200 too)."""
    e = np.asarray(pred, np.float64) - np.asarray(truth, np.float64)
    big = np.max(np.abs(e), axis=-1, keepdims=True)
    big = np.where(big > 0, big, 1.0)
    return big[..., 0] * np.sqrt(np.mean((e / big) ** 2, axis=-1))


def rmse_ci(values: np.ndarray) -> stats.Summary:
    """Mean and 95% CI of RMSEs over seeds, computed on values divided by their largest, so
    RMSEs near 1e200 cannot overflow in the variance."""
    values = np.asarray(values, np.float64)
    big = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    big = big if big > 0 and math.isfinite(big) else 1.0
    s = stats.mean_ci(values / big, bounds=stats.NON_NEGATIVE)
    return stats.Summary(s.mean * big, s.low * big, s.high * big, s.n)


def number(x: float) -> str:
    """One value as `show` prints a mean: 3 decimals for everyday magnitudes, else 4
    significant digits (so a forecast table never mixes 2.166, 1.28 and 0.8427)."""
    return f"{x:.3f}" if 0.01 <= abs(x) < 1e5 else f"{x:.4g}"


def show(s: stats.Summary) -> str:
    """A summary as `stats.Summary` prints it (3 decimals) for everyday magnitudes, else in 4
    significant digits (a series may be in units of 1e-30 or 1e200)."""
    if 0.01 <= abs(s.mean) < 1e5:
        return str(s)  # one seed: "mean ± — (1 seed)"
    if s.n < 2 or not math.isfinite(s.low):
        return f"{s.mean:.4g} ± {stats.undefined(s.n)}"
    return f"{s.mean:.4g} [{s.low:.4g}, {s.high:.4g}]"
