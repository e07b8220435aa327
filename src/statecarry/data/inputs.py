"""Input checks for the layouts: one sentence, with a way out (NumPy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ..errors import DataError
from .sizes import MAX_SIZE as MAX_SIZE
from .sizes import whole_size as whole_size


def check_sizes(batch_size: int, time_steps: int) -> None:
    for name, value in (("batch_size", batch_size), ("time_steps", time_steps)):
        whole_size(value, name)


def check_tail(tail: str) -> None:
    if tail not in ("pad", "drop"):
        raise DataError(
            f"unknown tail {tail!r}; choose 'pad' (keep the short last window) or 'drop'."
        )


def target_columns(target: Literal["next"] | int, features: int) -> list[int]:
    if isinstance(target, str) and target == "next":
        return list(range(features))
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise DataError(f"target must be 'next', a column index, or a DataFrame's column name, got {target!r}.")
    if not -features <= target < features:
        raise DataError(
            f"target column {target} does not exist: the series has {features} feature "
            f"column(s); use an index from 0 to {features - 1}, or target='next'."
        )
    return [int(target) % features]


def _name_column(data: Any, what: str) -> None:
    """For a DataFrame that is not numbers, name the first column that is not."""
    for name in getattr(data, "columns", ()):
        column = data[name]
        try:
            if getattr(column.dtype, "kind", "O") in "Mm":  # dates and durations: not numbers here
                raise TypeError(column.dtype)
            np.asarray(column, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError(f"column {str(name)!r} of {what} is not numeric ({column.dtype}); "
                            "convert it to numbers or leave it out.") from None  # fmt: skip


def column_index(series: Any, target: Any) -> Any:
    """A DataFrame's column named as the target -> its index (the CLI's --target takes names)."""
    if not (isinstance(target, str) and target != "next"):
        return target
    if not hasattr(series, "columns"):  # a named Series is one column: its name means column 0
        return 0 if target == str(getattr(series, "name", None)) and getattr(series, "ndim", 0) == 1 else target
    names = [str(c) for c in series.columns]
    if target not in names:
        raise DataError(f"target {target!r} is not a column of the series; its columns are {', '.join(names)}.")
    return names.index(target)


def numeric(data: ArrayLike, what: str) -> np.ndarray:
    try:
        array = np.asarray(data, dtype=np.float32)
    except ValueError as e:
        if "inhomogeneous" in str(e) or "sequence" in str(e):
            raise DataError(
                f"{what} has ragged features (rows of different lengths); give every step the "
                "same number of features."
            ) from None
        _name_column(data, what)
        raise DataError(f"{what} is not numeric ({e}); convert it to numbers first.") from None
    except TypeError as e:
        _name_column(data, what)
        raise DataError(f"{what} is not numeric ({e}); convert it to numbers first.") from None
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        where = tuple(int(i) for i in bad[0])
        raise DataError(
            f"{what} has a NaN or infinite value at index {where[0] if len(where) == 1 else where}; "
            "fill or drop such values first (e.g. interpolate the gaps)."
        )
    return array


def as_series(series: ArrayLike) -> np.ndarray:
    """A series as (length, features) float32, or a DataError saying what is wrong."""
    values = numeric(series, "the series")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DataError(
            f"a series must be (length,) or (length, features), got shape {values.shape}; "
            "for many sequences use pack()."
        )
    if values.size == 0:
        raise DataError("the series is empty; give at least one window of values.")
    return values


def as_sequences(sequences: Sequence[ArrayLike]) -> list[np.ndarray]:
    """Sequences as a list of (length, features) float32 arrays with one number of features."""
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__iter__"):
        raise DataError(
            f"sequences must be a list of arrays, got {type(sequences).__name__}; "
            "for one long series use from_series()."
        )
    seqs = []
    for n, seq in enumerate(sequences):
        array = numeric(seq, f"sequence {n}")
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2:
            single = " (a number: pack takes a list of sequences; for one series use from_series)" if not array.ndim else ""
            raise DataError(
                f"sequence {n} must be (length,) or (length, features), got shape {array.shape}{single}."
            )
        seqs.append(array)
    if not seqs:
        raise DataError("there are no sequences; give at least batch_size of them.")
    widths = [(n, s.shape[1]) for n, s in enumerate(seqs) if len(s)]
    first, features = widths[0] if widths else (0, 1)
    for n, s in enumerate(seqs):
        if len(s) and s.shape[1] != features:
            raise DataError(
                f"sequence {n} has {s.shape[1]} features but sequence {first} has {features}; "
                "give every sequence the same number of features."
            )
    return [s if len(s) else np.zeros((0, features), np.float32) for s in seqs]


def as_labels(labels: ArrayLike, n: int) -> np.ndarray:
    targets = numeric(labels, "labels")
    if targets.ndim == 1:
        targets = targets[:, None]
    if targets.ndim != 2 or len(targets) != n:
        raise DataError(
            f"labels must be (sequences,) or (sequences, outputs) with {n} rows, one per "
            f"sequence, got shape {targets.shape}."
        )
    return targets
