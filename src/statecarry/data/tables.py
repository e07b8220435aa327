"""A user's table (CSV or Parquet, read by pandas with pyarrow) as sequences of numbers.

Long format: one row per step, an optional id column (one sequence per id) and an optional
time column (rows are sorted by id, then time; without a time column the file's order is the
order of the steps). The Nixtla forecasting libraries' names `unique_id`, `ds` and `y` are
recognised without flags. Every problem is one sentence that says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import DataError
from .reading import read_table
from .times import check_times

NIXTLA = {"id": "unique_id", "time": "ds", "target": "y"}  # recognised without flags
MISSING = {"", "nan", "na", "n/a", "null", "none", "?"}  # a cell that says "no value"
MOSTLY = 0.5  # a column whose filled cells are more often numbers than not is numeric, with typos


@dataclass(frozen=True)
class Columns:
    """Which columns are what. `targets` may be empty when only predicting."""

    features: tuple[str, ...]
    targets: tuple[str, ...]
    id: str | None = None
    time: str | None = None
    unread: tuple[str, ...] = ()  # columns of text left out of the default features (not saved)

    def to_json(self) -> dict:
        return {"features": list(self.features), "targets": list(self.targets),
                "id": self.id, "time": self.time}  # fmt: skip


class Sequences(NamedTuple):
    """The table as sequences, in id order (one when there is no id column)."""

    ids: list  # the id of each sequence (None without an id column)
    times: list[np.ndarray]  # each sequence's time values (row numbers without a time column)
    x: list[np.ndarray]  # (length, features) float64
    y: list[np.ndarray]  # (length, targets) float64; (length, 0) when no targets are read
    labels: list[str] | None = None  # a target of text labels: the labels sorted, y their index
    day_first: bool = False  # dates such as 13/01/2024 were read day first (a model keeps this)
    resorted: bool = False  # sorting by the time column moved rows of a sequence out of file order


def column_values(frame: pd.DataFrame, name: str, lines: np.ndarray) -> np.ndarray:
    """One column as float64, or one sentence for its first non-number, gap or infinity."""
    return _numbers(frame[name], name, frame.attrs.get("source", "the table"), pd.Series(lines))


def is_mostly_numeric(column: pd.Series) -> bool:
    """Numbers but for a few bad cells: meant as numbers (and refused at the bad cell's line)."""
    return _numeric_share(column) > MOSTLY


def choose_columns(
    frame: pd.DataFrame,
    targets: tuple[str, ...] = (),
    features: tuple[str, ...] = (),
    id: str | None = None,
    time: str | None = None,
) -> Columns:
    """Resolve the roles: the names given, else Nixtla's `unique_id`/`ds`/`y`, else (features)
    every numeric column that is not a target, the id or the time."""
    source = frame.attrs.get("source", "the table")
    names = [str(c) for c in frame.columns]
    id = id if id is not None else (NIXTLA["id"] if NIXTLA["id"] in names else None)
    time = time if time is not None else (NIXTLA["time"] if NIXTLA["time"] in names else None)
    if not targets and NIXTLA["target"] in names:
        targets = (NIXTLA["target"],)
    if not targets:
        raise DataError(f"say which column to predict with --target NAME; the columns of {source} "
                        f"are: {', '.join(names)}.")  # fmt: skip
    for role, given in [("--target", targets), ("--features", features),
                        ("--id", (id,) if id else ()), ("--time", (time,) if time else ())]:  # fmt: skip
        for name in given:
            if name not in names:
                raise DataError(f"{role} {name!r} is not a column of {source}; its columns are: "
                                f"{', '.join(names)}.")  # fmt: skip
    roles = {id, time}
    for name in targets + tuple(features):
        if name in roles:
            raise DataError(f"column {name!r} is the id or time of {source}; it cannot also be a "
                            "target or a feature.")  # fmt: skip
    unread: tuple[str, ...] = ()
    if not features:
        # a column of mostly numbers is a feature, and its bad cells are refused with their line
        others = [n for n in names if n not in roles and n not in targets]
        features = tuple(n for n in others if _numeric_share(frame[n]) > MOSTLY)
        unread = tuple(n for n in others if n not in features)
        if not features:  # only the target is numeric: forecast it from its own past
            features = tuple(targets)
    return Columns(tuple(features), tuple(targets), id, time, unread)


def _numeric_share(column: pd.Series) -> float:
    """The share of the filled cells that are numbers (1.0 for a numeric dtype)."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return 1.0
    filled = column.dropna()
    filled = filled[~filled.astype(str).str.strip().str.lower().isin(MISSING)]
    if filled.empty:
        return 1.0  # an empty column: numeric, and refused as all-missing when read
    return float(pd.to_numeric(filled, errors="coerce").notna().mean())


def to_sequences(frame: pd.DataFrame, columns: Columns, allow_gaps: bool = False, day_first: bool | None = None) -> Sequences:
    """The table's sequences, rows sorted by id then time; one sentence for the first
    non-numeric cell, missing value, all-missing column, repeated timestamp or gap.
    `day_first`: read dates such as 01/02/2024 day first (True) or not (False), as the data a
    model was trained on was; None: day first if some such date's first number passes 12."""
    source = frame.attrs.get("source", "the table")
    offset = frame.attrs.get("line_offset", 1)
    frame = frame.reset_index(drop=True)
    frame["__line"] = np.arange(len(frame)) + offset
    text = [n for n in columns.targets if n not in columns.features and _numeric_share(frame[n]) == 0.0]
    if text and len(columns.targets) > 1:
        raise DataError(f"the target {text[0]!r} of {source} holds text labels; a target of labels is read "
                        "alone, so give it as the only --target.")  # fmt: skip
    labels, codes = _text_labels(frame[text[0]], text[0], source, frame["__line"]) if text else (None, None)
    numbers = {n: codes if n in text else _numbers(frame[n], n, source, frame["__line"])
               for n in dict.fromkeys(columns.features + columns.targets)}  # fmt: skip
    if columns.id:  # numbers sort as numbers (a CSV is read as text): 9 before 10
        frame[columns.id] = _ids(frame[columns.id])
    order = frame[[columns.id]] if columns.id else pd.DataFrame(index=frame.index)
    if columns.time:
        stamps, day_first = _times(frame[columns.time], columns.time, source, day_first)
        order = order.assign(__time=stamps)
    keys = list(order.columns)
    if keys:
        order = order.sort_values(keys, kind="stable")
    index = order.index.to_numpy()
    ids = frame[columns.id].to_numpy()[index] if columns.id else np.zeros(len(frame), int)
    times = order["__time"].to_numpy() if columns.time else np.arange(len(frame))
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    lines = frame["__line"].to_numpy()[index]
    x = np.stack([numbers[n] for n in columns.features], axis=1)[index]
    y = np.stack([numbers[n] for n in columns.targets], axis=1)[index] if columns.targets else np.zeros((len(frame), 0))
    if columns.time:
        check_times(times, ids if columns.id else None, starts, ends, lines, columns.time, source, allow_gaps)
    return Sequences(
        ids=[ids[s].item() if hasattr(ids[s], "item") else ids[s] for s in starts] if columns.id else [None],
        times=[times[s:e] for s, e in zip(starts, ends)],
        x=[x[s:e] for s, e in zip(starts, ends)],
        y=[y[s:e] for s, e in zip(starts, ends)],
        labels=labels,
        day_first=bool(day_first),
        resorted=bool(columns.time) and any((np.diff(index[s:e]) < 0).any() for s, e in zip(starts, ends)),
    )  # fmt: skip


def _text_labels(column: pd.Series, name: str, source: str, lines: pd.Series) -> tuple[list[str], np.ndarray]:
    """A column of text labels: (the labels sorted, each row's index among them)."""
    text = column.astype("string").str.strip().fillna("")
    gone = np.flatnonzero(text.str.lower().isin(MISSING).to_numpy())
    if len(gone):
        raise DataError(f"column {name!r} of {source} has {len(gone)} missing label(s), the first on line "
                        f"{lines.iloc[gone[0]]}; give every row its label or drop those rows.")  # fmt: skip
    labels = sorted(text.unique().tolist())
    return labels, np.searchsorted(np.asarray(labels, dtype=object), text.to_numpy(dtype=object)).astype(np.float64)


def _numbers(column: pd.Series, name: str, source: str, lines: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column):
        column = column.astype(float)
    text = column.astype("string").str.strip() if column.dtype == object or pd.api.types.is_string_dtype(column) else None
    if text is not None:
        text = text.mask(text.fillna("").str.lower().isin(MISSING), "")
    values = pd.to_numeric(column if text is None else text.replace("", None), errors="coerce")
    values = values.to_numpy(np.float64, na_value=np.nan)
    missing = np.isnan(values)
    bad = np.array([], int)
    if text is not None:
        bad = np.flatnonzero(missing & text.fillna("").ne("").to_numpy()
                             & ~text.fillna("").str.lower().isin(MISSING).to_numpy())  # fmt: skip
    if missing.all() and len(bad):
        raise DataError(f"column {name!r} of {source} holds text, not numbers ({text.iloc[bad[0]]!r} on line "
                        f"{lines.iloc[bad[0]]}); statecarry reads numbers only: code labels as whole numbers "
                        "0, 1, 2, … (a few of them get a softmax head), or leave the column out.")  # fmt: skip
    if missing.all():
        raise DataError(f"column {name!r} of {source} has no values (every cell is missing); "
                        "drop it, or name the columns to use with --features.")  # fmt: skip
    if text is not None and len(bad):
        raise DataError(
            f"column {name!r} of {source} has a value that is not a number on line "
            f"{lines.iloc[bad[0]]}: {text.iloc[bad[0]]!r}; give numbers only (or leave "
            "that column out)."
        )
    if missing.any():
        first = np.flatnonzero(missing)[0]
        raise DataError(
            f"column {name!r} of {source} has {int(missing.sum())} missing value(s), the first "
            f"on line {lines.iloc[first]}; fill the gaps (e.g. interpolate) or drop those rows."
        )
    if not np.isfinite(values).all():
        first = np.flatnonzero(~np.isfinite(values))[0]
        raise DataError(f"column {name!r} of {source} has an infinite value on line "
                        f"{lines.iloc[first]}; give finite numbers only.")  # fmt: skip
    return values


def _ids(column: pd.Series) -> pd.Series:
    if column.isna().any() or (column.astype(str).str.strip() == "").any():
        raise DataError(f"the id column {column.name!r} has an empty cell; give every row its id.")
    if _numeric_share(column) < 1.0:
        return column
    values = pd.to_numeric(column.astype("string").str.strip()) if not pd.api.types.is_numeric_dtype(column) else column
    whole = values.to_numpy(np.float64)
    return values.astype(np.int64) if np.all(whole == np.round(whole)) else values


def _times(column: pd.Series, name: str, source: str, day_first: bool | None = None) -> tuple[pd.Series, bool]:
    """Numbers if every cell is one, else dates; one sentence if neither. With it, whether
    dates such as 01/02/2024 were read day first (see to_sequences)."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        values = column
    elif _numeric_share(column) == 1.0:
        values = pd.to_numeric(column.astype("string").str.strip(), errors="coerce")
    else:
        values = pd.to_datetime(column, errors="coerce", format="mixed")
        # 13/01/2024 (or 13-01-2024, 13.01.2024) anywhere: such dates are written day first
        first = pd.to_numeric(column.astype("string").str.extract(r"^\s*(\d{1,2})[-/.]\d{1,2}[-/.]\d{2,4}")[0])
        day_first = bool((first > 12).any()) if day_first is None else day_first
        if day_first:  # only those cells: an ISO date beside them stays year-month-day
            marked = first.notna().to_numpy()
            values[marked] = pd.to_datetime(column[marked], errors="coerce", format="mixed", dayfirst=True)
        if values.isna().any() and column.notna().any():
            bad = column[values.isna()].iloc[0]
            raise DataError(f"the time column {name!r} of {source} has {bad!r}, neither a number "
                            "nor a date; give numbers or dates such as 2024-01-31.")  # fmt: skip
    if values.isna().any():
        raise DataError(f"the time column {name!r} of {source} has a missing value; give every "
                        "row its time.")  # fmt: skip
    return values, bool(day_first)


def load_table(
    path: str | Path, targets: tuple[str, ...] = (), features: tuple[str, ...] = (),
    id: str | None = None, time: str | None = None, allow_gaps: bool = False,
) -> tuple[Columns, Sequences]:  # fmt: skip
    """Read, choose the columns, and cut into sequences: the three steps above in one call."""
    frame = read_table(path)
    columns = choose_columns(frame, tuple(targets), tuple(features), id, time)
    return columns, to_sequences(frame, columns, allow_gaps)


def write_table(columns: dict[str, np.ndarray], path: str | Path) -> None:
    """Write named columns as CSV or Parquet (by the suffix); atomic, like `save`."""
    import os
    import uuid

    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise DataError(f"the folder {path.parent} does not exist; create it first, or write elsewhere.")
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    frame = pd.DataFrame(columns)
    try:
        if path.suffix.lower() == ".parquet":
            frame.to_parquet(temporary, engine="pyarrow", index=False)
        else:
            frame.to_csv(temporary, index=False)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
