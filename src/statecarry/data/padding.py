"""Padding: one sequence per row, zeros after its end (Keras' `pad_sequences(padding="post")`),
the alternative to `pack`; and what each layout costs and where it reads a label (NumPy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from .layout import Batches, packed_positions, to_streams


def pad(
    sequences: Sequence[np.ndarray],
    labels: np.ndarray,
    batch_size: int,
    length: int,
    mask: bool = True,
) -> Batches:
    """One sequence per row, zeros after its end up to `length` (Keras' `padding="post"`).

    Sequence n goes to batch n // batch_size, row n % batch_size, with a reset at its first
    step. `mask=True` puts the target (weight 1) at the sequence's last real step, which is
    what Keras' `Masking` achieves: the padded steps after it change nothing the loss sees.
    `mask=False` reads the target after the padding, at step `length - 1`: the Q&A's example
    as written (`pad_sequences` and no mask), where the LSTM also runs over the zeros.
    """
    n = len(sequences)
    if n % batch_size:
        raise DataError(
            f"batch_size {batch_size} does not divide {n} sequences; use a batch_size that "
            f"divides {n}."
        )
    lengths = np.array([len(s) for s in sequences])
    if lengths.min() < 1 or lengths.max() > length:
        raise DataError(
            f"sequence lengths run from {lengths.min()} to {lengths.max()}; padding needs every "
            f"length between 1 and {length}."
        )
    labels = np.asarray(labels, np.float32).reshape(n, -1)
    features = sequences[0].shape[1]
    x = np.zeros((n, length, features), np.float32)
    y = np.zeros((n, length, labels.shape[1]), np.float32)
    reset = np.zeros((n, length), bool)
    weight = np.zeros((n, length), np.float32)
    reset[:, 0] = True
    for i, seq in enumerate(sequences):
        x[i, : len(seq)] = seq
        last = len(seq) - 1 if mask else length - 1
        y[i, last] = labels[i]
        weight[i, last] = 1.0

    def batched(a: np.ndarray) -> np.ndarray:
        return a.reshape((n // batch_size, batch_size) + a.shape[1:])

    return Batches(batched(x), batched(y), batched(reset), batched(weight), batched(weight > 0))


def padding_fraction(batches: Batches, lengths: Sequence[int]) -> float:
    """Share of the step slots that hold no real input (padding)."""
    slots = int(np.prod(batches.x.shape[:3]))
    return 1.0 - float(np.sum(lengths)) / slots


def covering_horizon(max_length: int, time_steps: int) -> int:
    """Batches a gradient must reach back through so that a sequence's last step always
    reaches its first: a sequence of L steps starting anywhere in a window of T spans at most
    ceil((L - 1) / T) + 1 windows."""
    return -(-(max_length - 1) // time_steps) + 1


def label_steps(
    layout: str, lengths: Sequence[int], batch_size: int, time_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where each sequence's label is read: (row, position in the row's stream).

    `layout` is "padded" (masked) or "packed"; sequence order is the source order.
    """
    lengths = np.asarray(lengths, np.int64)
    n = len(lengths)
    if layout == "padded":
        index = np.arange(n)
        batch, row = index // batch_size, index % batch_size
        return row, batch * time_steps + lengths - 1
    rows, starts = packed_positions(lengths, batch_size)
    return rows, starts + lengths - 1


def per_sequence(pred: np.ndarray, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Per-step predictions (n_batches, batch, time, outputs) -> one row per sequence."""
    return to_streams(np.asarray(pred))[rows, positions]
