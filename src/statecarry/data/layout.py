"""`Batches`: every data source as the same arrays, already in batch order.

Targets and weights are per step, so one engine serves the seed tasks (a target at the last
step of each sample), one-step forecasting (a target at every step) and packed sequences
(a target wherever a sequence ends). A step with weight 0 adds nothing to the loss.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import DataError


class Batches(NamedTuple):
    """Arrays in batch order; row i of batch k+1 continues row i of batch k (the stream).

    Shapes: x (n_batches, batch, time, features) float32; y (n_batches, batch, time, outputs)
    float32; reset (n_batches, batch, time) bool, true where the state is zeroed *before* that
    step; weight (n_batches, batch, time) float32, the step's weight in the loss (0 = no
    target); known (n_batches, batch, time) bool, the target is determined by the inputs (used
    for the "solved" accuracy, never for the loss).
    """

    x: np.ndarray
    y: np.ndarray
    reset: np.ndarray
    weight: np.ndarray
    known: np.ndarray

    @property
    def n_batches(self) -> int:
        return self.x.shape[-4]

    @property
    def batch_size(self) -> int:
        return self.x.shape[-3]


def from_samples(
    x: np.ndarray, y: np.ndarray, batch_size: int, known: np.ndarray | None = None
) -> Batches:
    """Samples in Keras' `shuffle=False` order: sample n -> batch n // B, row n % B.

    `x` is (samples, time, features); `y` is (samples, outputs), the target of each sample's
    last step. No step resets: whether the state carries over is the engine's mode, not data.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 3:
        raise DataError(f"x must be (samples, time_steps, features), got shape {x.shape}.")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or len(y) != len(x):
        raise DataError(f"y must be (samples, outputs) with {len(x)} samples, got shape {y.shape}.")
    n, time_steps, _ = x.shape
    if n == 0:
        raise DataError("there are no samples; give at least one batch of data.")
    if n % batch_size:
        raise DataError(
            f"batch_size {batch_size} does not divide {n} samples; drop {n % batch_size} "
            f"samples or pick a batch_size that divides {n}."
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataError("the data contains NaN or infinite values; clean or fill them first.")
    known = np.ones(n, dtype=bool) if known is None else np.asarray(known, dtype=bool)
    nb = n // batch_size
    last = np.zeros((n, time_steps), dtype=bool)
    last[:, -1] = True
    targets = np.zeros((n, time_steps, y.shape[1]), dtype=np.float32)
    targets[:, -1] = y

    def batched(a: np.ndarray) -> np.ndarray:
        return a.reshape((nb, batch_size) + a.shape[1:])

    return Batches(
        x=batched(x),
        y=batched(targets),
        reset=np.zeros((nb, batch_size, time_steps), dtype=bool),
        weight=batched(last.astype(np.float32)),
        known=batched(last & known[:, None]),
    )
