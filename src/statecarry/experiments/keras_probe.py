"""Claim 7's probe: what a Keras `LSTM(stateful=True)` carries from one batch to the next.

The same weights and two batches go through Keras and through statecarry's forward pass; the
second batch's outputs are compared with ours carrying (h, c) and carrying c alone. Keras is
a test extra, not a dependency, so Keras' outputs are also recorded in `keras_carry_probe.npz`
(`record()` writes it; tests/test_claims_probe.py re-checks it against live Keras): without
Keras the verdict reads the recording, and says so.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np

RECORDING = "keras_carry_probe.npz"
UNITS, BATCH, STEPS = 3, 4, 5


def inputs() -> tuple[dict, np.ndarray, np.ndarray]:
    """Weights moved off their initial values (so every path through the cell counts) and two
    batches of 0/1 inputs, all from one fixed seed."""
    rng = np.random.default_rng(0)
    params = {
        "lstm": {
            "kernel": rng.uniform(-0.8, 0.8, (1, 4 * UNITS)),
            "recurrent_kernel": rng.uniform(-0.8, 0.8, (UNITS, 4 * UNITS)),
            "bias": 0.3 * rng.standard_normal(4 * UNITS),
        },
        "dense": {"kernel": rng.uniform(-1, 1, (UNITS, 1)), "bias": 0.3 * rng.standard_normal(1)},
    }
    params = {k: {n: a.astype(np.float32) for n, a in v.items()} for k, v in params.items()}
    x1, x2 = (rng.integers(0, 2, (BATCH, STEPS, 1)).astype(np.float32) for _ in range(2))
    return params, x1, x2


def keras_outputs() -> np.ndarray | None:
    """Keras' last-step outputs on the second batch, its state carried from the first; None
    without Keras."""
    try:
        import os

        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras  # noqa: F401  (an optional extra)
    except Exception:
        return None
    from ..core.interop import keras_ranks, to_keras
    from ..core.spec import Model

    params, x1, x2 = inputs()
    model = Model(cell="lstm", units=UNITS, head="sigmoid", features=1, outputs=1)
    with keras_ranks():
        km = to_keras(params, model, batch_size=BATCH, time_steps=STEPS)
        km(x1)
        return np.asarray(km(x2), np.float32)


def record(path: Path | None = None) -> Path:
    """Write Keras' outputs (and its version) to the recording; needs Keras."""
    import keras

    theirs = keras_outputs()
    path = path or Path(str(files("statecarry.experiments").joinpath(RECORDING)))
    np.savez(path, outputs=theirs, keras_version=np.array(keras.__version__))
    return path


def recorded() -> tuple[np.ndarray, str]:
    with files("statecarry.experiments").joinpath(RECORDING).open("rb") as f:
        data = np.load(f)
        return np.asarray(data["outputs"]), str(data["keras_version"])


def compare() -> dict:
    """max |Keras − ours| on the second batch, carrying (h, c) and carrying c only."""
    from ..core.predict import predict
    from ..core.spec import Model

    theirs = keras_outputs()
    source = "live Keras"
    if theirs is None:
        theirs, version = recorded()
        source = f"Keras {version}'s recorded outputs, {RECORDING}"
    params, x1, x2 = inputs()
    model = Model(cell="lstm", units=UNITS, head="sigmoid", features=1, outputs=1)
    _, state = predict(params, x1, model)
    diffs = {}
    for carry, entering in (("hc", state), ("c", (state[0]._replace(h=np.zeros_like(state[0].h)),))):
        pred, _ = predict(params, x2, model, state=entering)
        diffs[carry] = np.array([float(np.abs(pred[0, :, -1] - theirs).max())])
    return {
        "max |keras - ours|, h and c carried": diffs["hc"],
        "max |keras - ours|, c only": diffs["c"],
        "source": source,
    }
