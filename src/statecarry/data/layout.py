"""`Batches`: every data source as the same arrays, already in batch order.

Three sources: sample sets (`from_samples`, Keras' order), one long series (`from_series`,
PyTorch's word-language-model layout) and many sequences of different lengths (`pack`, with a
reset at each sequence's first step). `check.check_layout` rebuilds the streams from the
batches and proves they equal the source.

Targets and weights are per step, so one engine serves the seed tasks (a target at the last
step of each sample), one-step forecasting (a target at every step) and packed sequences
(a target wherever a sequence ends). A step with weight 0 adds nothing to the loss.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ..errors import DataError
from .inputs import (
    as_labels,
    as_sequences,
    as_series,
    check_sizes,
    check_tail,
    column_index,
    target_columns,
    whole_size,
)


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
    whole_size(batch_size, "batch_size")
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


# -- one long series: PyTorch's word-language-model layout ------------------------------------

Tail = Literal["pad", "drop"]


def from_series(
    series: ArrayLike,
    batch_size: int,
    time_steps: int,
    target: Literal["next"] | int | str = "next",
    tail: Tail = "pad",
) -> Batches:
    """One long series -> `batch_size` contiguous streams, each cut into `time_steps` windows.

    Exactly the layout of PyTorch's word-language-model example: `batchify` trims the tail of
    the series so it divides into `batch_size` streams of `L = len(series) // batch_size`
    values (stream i = values `i*L .. (i+1)*L - 1`, which becomes row i of every batch), then
    `get_batch(i)` for `i = 0, T, 2T, ...` takes `seq_len = min(T, L - 1 - i)` inputs and, as
    targets, the values one step later. Row i of batch k+1 continues row i of batch k.

    Args:
        series: shape (length,) or (length, features).
        target: `"next"` predicts every feature of the next step (outputs = features); an int
            `j` (or, for a DataFrame, a column's name) predicts only column `j` of the next
            step (outputs = 1) from all the columns.
        tail: the last window is shorter than `time_steps` when `T` does not divide `L - 1`.
            `"pad"` (default) keeps it, as PyTorch does, and pads it to `time_steps` with zero
            inputs, zero targets, weight 0 and no reset, so it changes no loss, gradient or
            prediction at a real step; the state *after* the last batch has run over the
            padding, so continue from it only with `"drop"`. `"drop"` discards the partial
            window (and its targets).

    Returns:
        `Batches` with a target and weight 1 at every real step, no resets (whether the state
        is zeroed is the engine's mode), and `known` false everywhere: a series' next value is
        not determined by its past.

    Raises:
        DataError: empty, NaN or ragged data; a series shorter than `time_steps + 1` values
            (one window and its targets); more streams than the series can fill with one
            window each.
    """
    target = column_index(series, target)
    values = as_series(series)
    check_sizes(batch_size, time_steps)
    check_tail(tail)
    columns = target_columns(target, values.shape[1])
    length = len(values)
    if length < time_steps + 1:
        raise DataError(
            f"the series has {length} values, shorter than one window of time_steps={time_steps} "
            f"plus its next-value target; give at least {time_steps + 1} values or a smaller "
            "time_steps"
            + (f" (a {values.shape} array is one step of {values.shape[1]} features; for {values.shape[1]} steps "
               "pass series.ravel())." if length == 1 < values.shape[1] else ".")
        )
    most = length // (time_steps + 1)
    if batch_size > most:
        raise DataError(
            f"batch_size {batch_size} is larger than the {most} streams a series of {length} "
            f"values can fill with one window of time_steps={time_steps} each; use batch_size "
            f"at most {most}, or a smaller time_steps."
        )
    streams = batchify(values, batch_size)  # (batch, L, features)
    steps = streams.shape[1] - 1  # the last value of a stream is only ever a target
    n_batches = series_batches(steps, time_steps, tail)
    real = min(steps, n_batches * time_steps)

    span = n_batches * time_steps
    x = np.zeros((batch_size, span, values.shape[1]), np.float32)
    y = np.zeros((batch_size, span, len(columns)), np.float32)
    weight = np.zeros((batch_size, span), np.float32)
    x[:, :real] = streams[:, :real]
    y[:, :real] = streams[:, 1 : real + 1][..., columns]
    weight[:, :real] = 1.0
    return Batches(
        x=to_batch_order(x, time_steps),
        y=to_batch_order(y, time_steps),
        reset=to_batch_order(np.zeros((batch_size, span), bool), time_steps),
        weight=to_batch_order(weight, time_steps),
        known=to_batch_order(np.zeros((batch_size, span), bool), time_steps),
    )


def batchify(values: np.ndarray, batch_size: int) -> np.ndarray:
    """PyTorch's `batchify`: trim the tail, then stream i = the i-th contiguous block.

    Returns (batch, L, features) with L = len(values) // batch_size (PyTorch keeps the
    transpose, (L, batch); we keep streams as rows, as `Batches` does).
    """
    stream_length = len(values) // batch_size
    return values[: stream_length * batch_size].reshape(batch_size, stream_length, -1)


def series_batches(steps: int, time_steps: int, tail: Tail) -> int:
    full, rest = divmod(steps, time_steps)
    return full + (1 if rest and tail == "pad" else 0)


def to_batch_order(rows: np.ndarray, time_steps: int) -> np.ndarray:
    """(batch, n_batches * time, ...) streams -> (n_batches, batch, time, ...) batches."""
    batch, span = rows.shape[:2]
    windows = rows.reshape((batch, span // time_steps, time_steps) + rows.shape[2:])
    return np.ascontiguousarray(np.swapaxes(windows, 0, 1))


def to_streams(batched: np.ndarray) -> np.ndarray:
    """(n_batches, batch, time, ...) batches -> (batch, n_batches * time, ...) streams."""
    n_batches, batch, time_steps = batched.shape[:3]
    rows = np.swapaxes(np.asarray(batched), 0, 1)
    return rows.reshape((batch, n_batches * time_steps) + rows.shape[3:])


# -- many sequences: packed into streams with per-step resets ---------------------------------


def pack(
    sequences: Sequence[ArrayLike],
    batch_size: int,
    time_steps: int,
    labels: ArrayLike | None = None,
) -> Batches:
    """Many sequences of different lengths -> `batch_size` streams, no padding between them.

    Sequences are placed in order, each in the row that is shortest so far (lowest row on a
    tie), starting where the previous sequence of that row ended, with `reset` true at its
    first step, so no state leaks from one sequence into the next and nothing is padded except
    each row's end, up to the longest row (zero inputs, weight 0, no reset). `packed_positions`
    tells where each sequence went.

    Targets, per step:
        - `labels` given (one per sequence, shape (n,) or (n, outputs)): the label at the
          sequence's last step with weight 1 (and `known` true); every other step weight 0.
        - `labels=None`: the sequence's next value at every step but its last (weight 1,
          outputs = features); the last step has weight 0, since the value after it belongs
          to another sequence. `known` is false.

    The awkward cases:
        - a zero-length sequence has no step to hold an input or a target, so it is skipped
          (its label, if any, is unused); `check_layout` skips it too.
        - a sequence longer than the others, even longer than all of them together, is never
          split: it runs on in its row across as many batches as it needs, its state carried
          from batch to batch, and the epoch is as long as the longest row; the other rows end
          in padding.

    Raises:
        DataError: no sequences, NaN, ragged features, labels that do not match the
            sequences, or fewer non-empty sequences than `batch_size` (a row would be all
            padding: use a smaller batch_size).
    """
    seqs = as_sequences(sequences)
    check_sizes(batch_size, time_steps)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    nonempty = int(np.count_nonzero(lengths))
    if nonempty == 0:
        raise DataError("every sequence is empty; give at least one sequence with a step.")
    if batch_size > nonempty:
        raise DataError(
            f"batch_size {batch_size} is larger than the {nonempty} non-empty sequences, so a "
            f"row would hold only padding; use batch_size at most {nonempty}."
        )
    targets = None if labels is None else as_labels(labels, len(seqs))
    features = seqs[0].shape[1]
    outputs = features if targets is None else targets.shape[1]

    rows, starts = packed_positions(lengths, batch_size)
    n_batches = packed_batches(lengths, rows, starts, time_steps)
    span = n_batches * time_steps
    x = np.zeros((batch_size, span, features), np.float32)
    y = np.zeros((batch_size, span, outputs), np.float32)
    reset = np.zeros((batch_size, span), bool)
    weight = np.zeros((batch_size, span), np.float32)
    known = np.zeros((batch_size, span), bool)
    for n, seq in enumerate(seqs):
        if len(seq) == 0:
            continue
        r, s, end = rows[n], starts[n], starts[n] + len(seq)
        x[r, s:end] = seq
        reset[r, s] = True
        if targets is None:
            y[r, s : end - 1] = seq[1:]
            weight[r, s : end - 1] = 1.0
        else:
            y[r, end - 1] = targets[n]
            weight[r, end - 1] = 1.0
            known[r, end - 1] = True
    return Batches(
        x=to_batch_order(x, time_steps),
        y=to_batch_order(y, time_steps),
        reset=to_batch_order(reset, time_steps),
        weight=to_batch_order(weight, time_steps),
        known=to_batch_order(known, time_steps),
    )


def packed_positions(lengths: ArrayLike, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where `pack` puts each sequence: its row and its first step within that row's stream.

    Each sequence, in order, goes to the row with the fewest steps so far (lowest row on a
    tie). A zero-length sequence gets row -1 and start -1: it is skipped.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    filled = [(0, row) for row in range(batch_size)]  # (steps so far, row): a min-heap
    rows = np.full(len(lengths), -1, np.int64)
    starts = np.full(len(lengths), -1, np.int64)
    for n, length in enumerate(lengths):
        if length == 0:
            continue
        steps, row = heapq.heappop(filled)
        rows[n], starts[n] = row, steps
        heapq.heappush(filled, (steps + int(length), row))
    return rows, starts


def packed_batches(
    lengths: np.ndarray, rows: np.ndarray, starts: np.ndarray, time_steps: int
) -> int:
    """Batches needed to hold the longest row."""
    longest = int(np.max(np.where(rows >= 0, starts + lengths, 0)))
    return -(-longest // time_steps)
