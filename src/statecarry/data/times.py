"""A table's time column checked as a grid: no time twice within a sequence, and no gap where
the times are regular (most steps equal), unless the user says to take rows as consecutive."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

REGULAR = 0.9  # a time column whose steps are this often the same is a regular grid: gaps count


def check_times(times, ids, starts, ends, lines, name: str, source: str, allow_gaps: bool) -> None:
    steps = []
    for s, e in zip(starts, ends):
        diff = np.diff(times[s:e])
        same = np.flatnonzero(diff == diff.dtype.type(0))
        if len(same):
            k = s + same[0]
            who = f" for id {_plain(ids[k])!r}" if ids is not None else ""
            raise DataError(
                f"{source} has the time {_show(times[k])} twice{who} (lines {min(lines[k], lines[k + 1])} "
                f"and {max(lines[k], lines[k + 1])}); keep one row per time (e.g. average them)."
            )
        steps.append(diff)
    every = np.concatenate(steps) if steps else np.array([])
    if allow_gaps or len(every) < 2:
        return
    values, counts = np.unique(every, return_counts=True)
    step = values[np.argmax(counts)]
    if counts.max() < REGULAR * len(every):
        return  # irregular times (events): nothing to call a gap
    for s, diff in zip(starts, steps):
        late = np.flatnonzero(diff > step * 1.5)
        if len(late):
            k = s + late[0]
            raise DataError(
                f"{source} jumps from time {_show(times[k])} to {_show(times[k + 1])} (line {lines[k + 1]}) "
                f"where the other rows are {_show(step)} apart; fill the missing steps (e.g. "
                "interpolate), or pass --allow-gaps to take the rows as consecutive steps."
            )


def _show(value) -> str:
    """A time or a step as a person writes it: 2024-01-31 (a clock time only if not midnight),
    1 day, 01:30:00, 1 day 06:00:00, or the number as it is (20240131, not 2.02401e+07)."""
    if isinstance(value, np.datetime64):
        stamp = pd.Timestamp(value)
        return str(stamp.date()) if stamp == stamp.normalize() else str(stamp)
    if isinstance(value, np.timedelta64):
        text = str(pd.Timedelta(value)).removeprefix("0 days ").replace(" 00:00:00", "")
        return text.replace("1 days", "1 day") if text.startswith("1 days") else text
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _plain(value):
    """A NumPy scalar as the Python value it holds (its repr is 0, not np.int64(0))."""
    return value.item() if isinstance(value, np.generic) else value
