"""`check`: the rules on a Keras model and the data it will be fit on, read into a `Setup`.

Also `detect_label_lag`: a cheap screen for labels that depend on an earlier sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError
from .findings import Finding
from .probe import probe_findings, probe_keras
from .rules import check_setup
from .setup import KERAS_FIT_BATCH_SIZE, Setup


def detect_label_lag(
    x: np.ndarray, y: np.ndarray, max_lag: int = 64, threshold: float = 0.9
) -> tuple[int, float] | None:
    """The smallest lag L ≥ 1 at which some input step of sample n - L predicts y[n] far better
    than any input of sample n itself (|correlation| ≥ threshold); None when there is none.

    Returns (L, correlation). A cheap screen for the blog's prev-batch/prev-sample kind of data.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, 0]
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or len(x) != len(y) or len(x) < 8:
        return None
    flat = x.reshape(len(x), -1)

    def best(lag: int) -> float:
        a, t = flat[: len(flat) - lag], y[lag:]
        a = a - a.mean(0)
        t = t - t.mean()
        norm = np.sqrt((a * a).sum(0) * (t * t).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.where(norm > 0, (a * t[:, None]).sum(0) / norm, 0.0)
        return float(np.abs(corr).max())

    here = best(0)
    for lag in range(1, min(max_lag, len(x) // 4) + 1):
        c = best(lag)
        if c >= threshold and c > here + 0.2:
            return lag, c
    return None


def check(
    model: Any,
    x: Any,
    y: Any,
    *,
    batch_size: int | None = None,
    shuffle: bool = True,
    validation_data: Any = None,
    reset: str | int | None = None,
    label_lag: int | None = None,
    batches_per_sequence: int | None = None,
    evaluates: bool = False,
    probe: bool = True,
) -> list[Finding]:
    """Check a Keras model and the data it will be fit on; arguments mirror `model.fit`.

    `shuffle` defaults to True as in fit. `label_lag=None` looks for labels that depend on an
    earlier sample in the data itself (`detect_label_lag`); give 0 to skip. `probe=False`
    skips the backend probe (a few seconds). See `Setup` for `reset` and the other flags.
    """
    n = _length(x, "x")
    if _length(y, "y") != n:
        raise DataError(
            f"x has {n} samples but y has {_length(y, 'y')}; give one label per sample."
        )
    layers = list(_layers(model))
    stateful = any(getattr(layer, "stateful", False) for layer in layers)
    model_batch = _model_batch_size(model)
    findings: list[Finding] = []
    detected = None
    if label_lag is None:
        detected = detect_label_lag(
            _first(x), _first(y), max_lag=4 * (batch_size or model_batch or KERAS_FIT_BATCH_SIZE)
        )
        label_lag = detected[0] if detected else 0
        if detected:
            findings.append(
                Finding(
                    "label-lag-detected",
                    "info",
                    f"the labels look like they depend on the sample {detected[0]} earlier "
                    f"(|correlation| {detected[1]:.2f} with one of its inputs).",
                    "if that is wrong, pass label_lag=0 (or the true lag) to check().",
                )
            )
    n_val = (
        None if validation_data is None else _length(_first_of(validation_data), "validation_data")
    )
    setup = Setup(
        n_train=n,
        batch_size=batch_size or model_batch or KERAS_FIT_BATCH_SIZE,
        stateful=stateful,
        shuffle=shuffle,
        n_validation=n_val,
        evaluates=evaluates,
        reset=reset,
        label_lag=label_lag,
        batches_per_sequence=batches_per_sequence,
        model_batch_size=model_batch,
    )
    findings += check_setup(setup)
    if probe and stateful:
        findings += probe_findings(probe_keras())
    return findings


def _first(a: Any) -> Any:
    return a[0] if isinstance(a, (list, tuple)) else a


def _first_of(validation_data: Any) -> Any:
    if isinstance(validation_data, (list, tuple)) and validation_data:
        return _first(validation_data[0])
    raise DataError("validation_data must be (x_val, y_val), as for fit.")


def _length(a: Any, name: str) -> int:
    a = _first(a)
    try:
        return len(a)
    except TypeError:
        raise DataError(
            f"{name} must be an array of samples (numpy, or a list of arrays); "
            f"got {type(a).__name__}."
        ) from None


def _layers(model: Any):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _layers(layer)
        inner = getattr(layer, "layer", None)  # Bidirectional, TimeDistributed
        if inner is not None:
            yield inner


def _model_batch_size(model: Any) -> int | None:
    try:
        size = model.inputs[0].shape[0]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return int(size) if size else None
