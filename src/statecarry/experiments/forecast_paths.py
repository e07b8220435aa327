"""Recursive forecasts from every rolling origin, for one seed of a trained forecaster."""

from __future__ import annotations

import numpy as np

from ..core.spec import Model as Spec
from ..core.spec import Train


def paths(params: dict, spec: Spec, m, z: np.ndarray, first: int, ahead: int) -> np.ndarray:
    """One seed's recursive forecasts of the model series from every origin p in
    [first, len(z)]: row i reads the true z[: first + i] and predicts z[first + i], ... for
    `ahead` steps, each prediction fed back as the next input. (origins, ahead)."""
    from ..core.predict import Predictor, predict  # JAX: only when forecasting

    origins = np.arange(first, len(z) + 1)
    out = np.full((len(origins), ahead), np.nan)
    if m.mode == "stateless":  # a fresh state over the last `window` inputs, every step
        windows = np.stack([z[p - m.window : p] for p in origins])
        for h in range(ahead):
            pred, _ = predict(params, windows[None, :, :, None], spec, train=Train(mode="stateless"))
            out[:, h] = pred[0, :, -1, 0]
            windows = np.concatenate([windows[:, 1:], out[:, h : h + 1]], axis=1)
        return out
    # a carried state: warm one stream on z[:first], then one row per origin, each
    # reading the truth up to its origin and its own predictions after it
    pred, state = predict(params, z[None, None, :first, None], spec)
    state = _tile(state, len(origins))
    y = np.full(len(origins), pred[0, 0, -1, 0])
    step = Predictor(params, spec)
    reads = origins - first  # truth steps each row still reads before its origin
    for s in range(int(reads[-1]) + ahead):
        h = s - reads
        live = (h >= 0) & (h < ahead)
        out[live, h[live]] = y[live]
        x = np.where(h < 0, z[min(first + s, len(z) - 1)], y)
        state, y = step.step(state, x[:, None].astype(np.float32))
        y = np.asarray(y, np.float64)[:, 0]
    h = int(reads[-1]) + ahead - reads
    live = h < ahead
    out[live, h[live]] = y[live]
    return out


def _tile(state, rows: int):
    """A one-row state (tuples of arrays) repeated for `rows` rows."""
    if isinstance(state, tuple):
        return type(state)(*(_tile(s, rows) for s in state)) if hasattr(state, "_fields") else tuple(
            _tile(s, rows) for s in state)
    return np.repeat(np.asarray(state), rows, axis=0)
