"""`check_layout`: rebuild the streams from `Batches` and prove they equal the source (NumPy
only). Used by the tests and by anyone who lays out data by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ..errors import DataError
from .inputs import as_labels, as_sequences, as_series, column_index, target_columns
from .layout import Batches, batchify, packed_batches, packed_positions, series_batches, to_streams


def check_layout(
    batches: Batches,
    source: ArrayLike | Sequence[ArrayLike],
    *,
    target: Literal["next"] | int | str = "next",
    labels: ArrayLike | None = None,
) -> None:
    """Prove that `batches` lay out `source` correctly, or raise a DataError naming the first
    place where they do not.

    The streams are rebuilt from the batches (row i across consecutive batches) and compared,
    step by step, with the source:

    - a series (an array, 1-D or (length, features)), laid out by `from_series`: every row is
      its trimmed stream (`batchify`), every real step has weight 1 and the next value (or
      column `target` of it) as its target, no step resets, and whatever follows the last
      real step (the padded tail) has weight 0. `tail="pad"` and `"drop"` are both accepted.
    - sequences (a list or tuple of arrays), laid out by `pack`: each non-empty sequence, in
      order, sits whole in the row and at the step `packed_positions` gives, a reset at its
      first step and at no other step of any row; targets and weights as `pack` documents
      (pass the same `labels`); padding only after a row's last sequence, with weight 0.
    """
    if _is_sequences(source):
        _check_packed(batches, as_sequences(source), labels)
    else:
        _check_series(batches, as_series(source), column_index(source, target))


def _is_sequences(source: object) -> bool:
    return isinstance(source, (list, tuple)) and any(np.ndim(s) > 0 for s in source)


def _where(step: int, time_steps: int) -> str:
    return f"batch {step // time_steps}, step {step % time_steps}"


def _first_difference(found: np.ndarray, expected: np.ndarray) -> int | None:
    """The first step (axis 0) where two per-step arrays differ, or None."""
    differ = found != expected
    if differ.ndim > 1:
        differ = differ.any(axis=tuple(range(1, differ.ndim)))
    hits = np.flatnonzero(differ)
    return int(hits[0]) if len(hits) else None


class _Rows(NamedTuple):
    """The batches read back as streams: each field (batch, n_batches * time, ...)."""

    x: np.ndarray
    y: np.ndarray
    reset: np.ndarray
    weight: np.ndarray
    time_steps: int


NAMES = {"x": "x", "y": "the target", "reset": "reset", "weight": "the weight"}


def _rows(batches: Batches) -> _Rows:
    fields = (to_streams(getattr(batches, f)) for f in ("x", "y", "reset", "weight"))
    return _Rows(*fields, time_steps=batches.x.shape[2])


def _expect(
    rows: _Rows,
    field: str,
    row: int,
    start: int,
    expected: np.ndarray,
    what: str,
    only: np.ndarray | None = None,
) -> None:
    """Stream `row` of `field` from step `start` on must equal `expected` (at the steps
    `only` marks, if given); else a DataError naming the first step that differs."""
    found = getattr(rows, field)[row, start : start + len(expected)]
    if only is not None:
        found = np.where(only.reshape((-1,) + (1,) * (found.ndim - 1)), found, expected)
    step = _first_difference(found, expected)
    if step is not None:
        raise DataError(
            f"row {row}, {_where(start + step, rows.time_steps)}: {NAMES[field]} is "
            f"{_show(found[step])} but {what} has {_show(expected[step])} there."
        )


def _show(value: np.ndarray) -> str:
    value = np.asarray(value)
    return str(value.item()) if value.size == 1 else np.array2string(value, precision=6)


def _check_shapes(batches: Batches, features: int) -> tuple[int, int]:
    if batches.x.ndim != 4:
        raise DataError(
            f"batches.x must be (n_batches, batch, time, features), got shape {batches.x.shape}."
        )
    n_batches, batch_size, time_steps, width = batches.x.shape
    if width != features:
        raise DataError(
            f"the batches have {width} features but the source has {features}; "
            "check them against the source they were made from."
        )
    for name in ("reset", "weight"):
        shape = np.shape(getattr(batches, name))
        if shape != (n_batches, batch_size, time_steps):
            raise DataError(
                f"batches.{name} must be per step, {(n_batches, batch_size, time_steps)}, "
                f"got {shape}."
            )
    return batch_size, time_steps


def _check_series(batches: Batches, values: np.ndarray, target: Literal["next"] | int) -> None:
    batch_size, time_steps = _check_shapes(batches, values.shape[1])
    columns = target_columns(target, values.shape[1])
    rows = _rows(batches)
    span = rows.x.shape[1]
    if len(values) // batch_size < 2:
        raise DataError(
            f"a series of {len(values)} values has no step with a target in {batch_size} streams."
        )
    streams = batchify(values, batch_size)
    steps = streams.shape[1] - 1
    if span // time_steps not in {series_batches(steps, time_steps, t) for t in ("pad", "drop")}:
        raise DataError(
            f"the batches hold {span // time_steps} windows per row, but {batch_size} streams of "
            f"this series give {steps} steps, {-(-steps // time_steps)} windows of "
            f"{time_steps} (or {steps // time_steps} without the partial last one)."
        )
    if rows.y.shape[-1] != len(columns):
        raise DataError(
            f"the batches have {rows.y.shape[-1]} target(s) per step but target={target!r} gives "
            f"{len(columns)}; pass the target the batches were made with."
        )
    real = min(steps, span)
    for row in range(batch_size):
        stream = streams[row]
        source = f"stream {row} of the series (values from {row * len(stream)})"
        _expect(rows, "x", row, 0, stream[:real], source)
        _expect(rows, "y", row, 0, stream[1 : real + 1][:, columns], source)
        _expect(rows, "weight", row, 0, np.ones(real, np.float32), "a real step")
        _expect(rows, "reset", row, 0, np.zeros(span, bool), "a series (no resets)")
        _expect(rows, "weight", row, real, np.zeros(span - real, np.float32), "the padded tail")


def _check_packed(batches: Batches, seqs: list[np.ndarray], labels: ArrayLike | None) -> None:
    batch_size, time_steps = _check_shapes(batches, seqs[0].shape[1])
    targets = None if labels is None else as_labels(labels, len(seqs))
    rows = _rows(batches)
    span = rows.x.shape[1]
    outputs = seqs[0].shape[1] if targets is None else targets.shape[1]
    if rows.y.shape[-1] != outputs:
        raise DataError(
            f"the batches have {rows.y.shape[-1]} target(s) per step but the "
            f"{'labels' if targets is not None else 'next values'} have {outputs}; pass the "
            "labels the batches were made with."
        )
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    where, starts = packed_positions(lengths, batch_size)
    need = packed_batches(lengths, where, starts, time_steps)
    if span // time_steps != need:
        raise DataError(
            f"the batches hold {span // time_steps} batches but these sequences pack into "
            f"{need}; they were packed with other sizes or other sequences."
        )
    ends = np.zeros(batch_size, np.int64)
    for n, seq in enumerate(seqs):
        if len(seq) == 0:
            continue
        row, start, steps = int(where[n]), int(starts[n]), np.arange(len(seq))
        ends[row] = start + len(seq)
        what = f"sequence {n}"
        _expect(rows, "x", row, start, seq, what)
        _expect(rows, "reset", row, start, steps == 0, f"{what} (a reset at its first step only)")
        if targets is None:  # the next value, at every step but the last
            labelled = steps < len(seq) - 1
            y = np.concatenate([seq[1:], np.zeros_like(seq[:1])])
        else:  # the label, at the last step
            labelled = steps == len(seq) - 1
            y = np.zeros((len(seq), outputs), np.float32)
            y[-1] = targets[n]
        _expect(rows, "weight", row, start, labelled.astype(np.float32), what)
        _expect(rows, "y", row, start, y, what, only=labelled)
    for row, end in enumerate(ends):
        tail = span - int(end)
        _expect(rows, "reset", row, int(end), np.zeros(tail, bool), "the padded tail")
        _expect(rows, "weight", row, int(end), np.zeros(tail, np.float32), "the padded tail")

