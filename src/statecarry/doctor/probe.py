"""Does the installed Keras really carry state? A tiny stateful LSTM, watched through a call,
`predict` and `fit`; and what the answer means for the user.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from .findings import Finding


class Probe(NamedTuple):
    keras_version: str
    backend: str
    call_carries: bool  # two direct calls on the same input differ
    predict_carries: bool  # predict's second batch continues from the first
    fit_moves_state: bool  # after one epoch of fit the state variables are no longer zero


class ProbeFailed(NamedTuple):
    reason: str  # why Keras could not be imported


def probe_findings(probe: Probe | ProbeFailed | None) -> list[Finding]:
    """What a probe result means for the user (None: Keras is not installed)."""
    if probe is None:
        return [
            Finding(
                "keras-missing",
                "info",
                "Keras is not installed, so the backend was not probed.",
                "pip install keras, then run statecarry doctor again.",
            )
        ]
    if isinstance(probe, ProbeFailed):
        return [
            Finding(
                "keras-import-failed",
                "warning",
                f"Keras is installed but does not import ({probe.reason}), so the backend was not probed.",
                "set KERAS_BACKEND to a backend that is installed, e.g. KERAS_BACKEND=jax statecarry doctor ...",
            )
        ]
    where = f"Keras {probe.keras_version} with the {probe.backend} backend"
    if not probe.call_carries:
        return [
            Finding(
                "keras-call-no-state",
                "error",
                f"on {where}, a stateful LSTM called twice on the same input gives the same output: "
                "the state is not carried even between direct calls.",
                "carry the state yourself (return_state=True and initial_state=...), or use statecarry.",
            )
        ]
    if probe.fit_moves_state and probe.predict_carries:
        return []
    evidence = []
    if not probe.fit_moves_state:
        evidence.append("after an epoch of fit the layer's state is still all zeros")
    if not probe.predict_carries:
        evidence.append("predict's second batch equals a fresh start, not the carried state")
    return [
        Finding(
            "keras-fit-no-state",
            "error",
            f"on {where}, direct calls carry the state but fit/predict do not ({'; '.join(evidence)}): "
            "every batch starts from zeros, so stateful=True trains like stateful=False.",
            "reset/carry manually (a loop of direct calls with your own optimizer step) or use "
            "statecarry (statecarry run TASK --mode stateful), whose state is explicit.",
        )
    ]


@functools.lru_cache(maxsize=1)
def probe_keras() -> Probe | ProbeFailed | None:
    """Build a tiny stateful LSTM and watch its state: direct calls, predict, and fit.

    Takes a few seconds (Keras import and compile); the result is cached per process. None
    when Keras is not installed; ProbeFailed when it is but cannot be imported (its configured
    backend is missing).
    """
    import importlib.util

    if importlib.util.find_spec("keras") is None:
        return None
    try:
        import keras
    except ImportError as e:
        return ProbeFailed(f"{type(e).__name__}: {e}")
    backend = keras.backend.backend()
    if backend == "jax":
        from ..core.interop import keras_ranks

        with keras_ranks():
            return _probe(keras, backend)
    return _probe(keras, backend)


def _probe(keras: Any, backend: str) -> Probe:
    b, t = 2, 3
    model = keras.Sequential(
        [
            keras.Input(batch_shape=(b, t, 1)),
            keras.layers.LSTM(2, stateful=True),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    lstm = model.layers[0]
    x = np.ones((b, t, 1), np.float32)
    first, second = np.asarray(model(x)), np.asarray(model(x))
    call_carries = bool(np.abs(first - second).max() > 1e-6)
    lstm.reset_state()
    predicted = model.predict(np.concatenate([x, x]), batch_size=b, verbose=0)
    predict_carries = call_carries and bool(np.allclose(predicted[b:], second, atol=1e-5))
    lstm.reset_state()
    rng = np.random.default_rng(0)
    model.fit(
        rng.random((4 * b, t, 1), dtype=np.float32),
        np.ones((4 * b, 1), np.float32),
        batch_size=b,
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    moved = any(np.abs(np.asarray(v.value)).max() > 0 for v in lstm.states)
    lstm.reset_state()
    return Probe(keras.__version__, backend, call_carries, predict_carries, bool(moved))
