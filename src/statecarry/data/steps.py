"""Sequences with a target at every step, as `Batches`: packed streams or stateless windows.

`pack_steps` is `pack`'s placement (each sequence in the shortest row so far, a reset at its
first step, padding only at the rows' ends) with the targets per step rather than per
sequence; `windows_of` cuts every step's window of the last `time_steps` inputs, for a
stateless model that sees only that window. `unpack_steps` and `unpack_windows` put
predictions back in each sequence's own steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from .inputs import check_sizes
from .layout import Batches, packed_batches, packed_positions, to_batch_order, to_streams


class Placed(NamedTuple):
    """Where each sequence went: its row and first step in that row's stream."""

    rows: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray


def pack_steps(
    x: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    weight: Sequence[np.ndarray],
    batch_size: int,
    time_steps: int,
) -> tuple[Batches, Placed]:
    """Sequences `x[n]` (length, features) with targets `y[n]` (length, outputs) and per-step
    weights `weight[n]` (length,) -> packed `Batches` (a reset at every sequence's first step)."""
    check_sizes(batch_size, time_steps)
    lengths = np.array([len(s) for s in x], np.int64)
    if batch_size > np.count_nonzero(lengths):
        raise DataError(
            f"batch_size {batch_size} is larger than the {np.count_nonzero(lengths)} sequence(s), "
            "so a row would hold only padding; use a smaller --batch-size."
        )
    rows, starts = packed_positions(lengths, batch_size)
    span = packed_batches(lengths, rows, starts, time_steps) * time_steps
    features, outputs = x[0].shape[1], y[0].shape[1]
    xs = np.zeros((batch_size, span, features), np.float32)
    ys = np.zeros((batch_size, span, outputs), np.float32)
    reset = np.zeros((batch_size, span), bool)
    ws = np.zeros((batch_size, span), np.float32)
    for n in range(len(x)):
        if lengths[n] == 0:
            continue
        r, s = rows[n], starts[n]
        xs[r, s : s + lengths[n]] = x[n]
        ys[r, s : s + lengths[n]] = y[n]
        ws[r, s : s + lengths[n]] = weight[n]
        reset[r, s] = True
    batches = Batches(
        x=to_batch_order(xs, time_steps),
        y=to_batch_order(ys, time_steps),
        reset=to_batch_order(reset, time_steps),
        weight=to_batch_order(ws, time_steps),
        known=to_batch_order(np.zeros((batch_size, span), bool), time_steps),
    )
    return batches, Placed(rows, starts, lengths)


def unpack_steps(pred: np.ndarray, placed: Placed) -> list[np.ndarray]:
    """(n_batches, batch, time, outputs) predictions -> one (length, outputs) per sequence."""
    streams = to_streams(pred)
    return [streams[r, s : s + n] for r, s, n in zip(placed.rows, placed.starts, placed.lengths)]


def windows_of(
    x: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    weight: Sequence[np.ndarray],
    batch_size: int,
    time_steps: int,
) -> Batches:
    """One sample per step `t >= time_steps - 1` with a weight: the inputs `t - time_steps + 1
    .. t`, its target at the last step. Samples are in order (sequence, step), Keras'
    `shuffle=False`; the last batch is filled with weight-0 samples."""
    check_sizes(batch_size, time_steps)
    chosen = [(n, t) for n in range(len(x)) for t in np.flatnonzero(weight[n] > 0) if t >= time_steps - 1]
    if not chosen:
        raise DataError(
            f"no sequence is longer than --time-steps {time_steps}, so there is no window to "
            "train on; use a smaller --time-steps."
        )
    count = -(-len(chosen) // batch_size) * batch_size
    xs = np.zeros((count, time_steps, x[0].shape[1]), np.float32)
    ys = np.zeros((count, time_steps, y[0].shape[1]), np.float32)
    ws = np.zeros((count, time_steps), np.float32)
    for k, (n, t) in enumerate(chosen):
        xs[k] = x[n][t - time_steps + 1 : t + 1]
        ys[k, -1] = y[n][t]
        ws[k, -1] = weight[n][t]
    nb = count // batch_size

    def batched(a: np.ndarray) -> np.ndarray:
        return a.reshape((nb, batch_size) + a.shape[1:])

    reset = np.zeros((count, time_steps), bool)
    reset[:, 0] = True  # every window starts from a zero state
    return Batches(batched(xs), batched(ys), batched(reset), batched(ws), batched(reset & False))
