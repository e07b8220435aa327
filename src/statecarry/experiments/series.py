"""A numeric series from a CSV (or the shipped Mauna Loa CO2 series), and differencing.

One sentence per problem: a missing file or column, non-numeric cells, gaps, too few values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

DEFAULT_SERIES = "co2_monthly.csv"  # shipped in statecarry/data; provenance in its header


@dataclass(frozen=True)
class Series:
    values: np.ndarray  # (length,) float64
    name: str  # the column
    source: str  # the file, for messages and the figure


def default_series() -> Series:
    """Monthly Mauna Loa CO2, 1958-2001 (526 months), shipped with statecarry.

    From statsmodels' public-domain `co2` data set (weekly); its 59 missing weeks were filled
    by linear interpolation in time before averaging per month. See the CSV's header.
    """
    from importlib.resources import files

    path = files("statecarry.data").joinpath(DEFAULT_SERIES)
    with path.open(encoding="utf-8") as f:
        return read_csv(f, "co2", f"{DEFAULT_SERIES} (Mauna Loa CO2, ppmv, monthly)")


# Real series of other characters, shipped inside statsmodels (a dependency of `forecast`):
# name -> (data set, what it is, how to read its values)
SHIPPED = {
    "sunspots": ("sunspots", "yearly sunspot numbers 1700-2008: an ~11-year cycle, no trend"),
    "nile": ("nile", "yearly Nile flow at Aswan 1871-1970: a level shift, no trend or season"),
    "elnino": ("elnino", "monthly Pacific sea surface temperature 1950-2010: a season, no trend"),
}


def shipped(name: str) -> Series:
    """One of `SHIPPED` (or "co2", the default series)."""
    if name == "co2":
        return default_series()
    if name not in SHIPPED:
        import difflib

        close = difflib.get_close_matches(name, ["co2", *SHIPPED], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataError(f"no shipped series {name!r}{hint}; the shipped ones are: co2, "
                        f"{', '.join(SHIPPED)}; or give a .csv, .tsv or .parquet file.")  # fmt: skip
    from statsmodels import datasets

    key, what = SHIPPED[name]
    data = getattr(datasets, key).load().data
    if name == "elnino":  # a year per row, a month per column
        values = data.iloc[:, 1:].to_numpy(np.float64).ravel()
    else:
        values = data.iloc[:, -1].to_numpy(np.float64)
    return Series(values, name, f"{name} ({what}; statsmodels.datasets)")


def load_csv(path: str | Path, column: str | None = None) -> Series:
    """A numeric column of a table file, read as `train` reads it (`data.tables`: CSV, TSV or
    Parquet, the same sentence for a missing file, a folder or another suffix). In a CSV,
    lines starting with '#' before the header are comments. Without `column`, the only
    column, or the only all-numeric one."""
    from ..data import reading

    path = Path(path).expanduser()
    if reading.table_kind(path) != "csv":  # TSV and Parquet: train's reader, and its rules
        frame = reading.read_table(path)
        frame.attrs["lines"] = np.arange(len(frame)) + frame.attrs["line_offset"]
        return _series(frame, column, path.name)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return read_csv(f, column, path.name)
    except UnicodeDecodeError as e:
        raise DataError(f"{path.name} is not a readable csv table ({e}).") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}.") from None


def read_csv(lines, column: str | None, source: str) -> Series:
    """One numeric column of CSV text, read by pandas (`data.reading.read_csv_lines`)."""
    from ..data import reading  # pandas: only when a CSV is read, so `--help` stays instant

    return _series(reading.read_csv_lines(lines, source), column, source)


def _series(frame, column: str | None, source: str) -> Series:
    from ..data import tables
    from ..data.reading import blank_rows

    lines_of = frame.attrs["lines"]
    blank = blank_rows(frame)
    filled = np.flatnonzero(~blank)
    keep = np.zeros(len(frame), bool)
    if len(filled) and frame.shape[1] == 1:
        # One column: a blank line between values is a missing value (pandas writes NaN so),
        # and dropping it would shift every later value by one step.
        keep[: filled[-1] + 1] = True
    else:  # several columns: a missing value is an empty cell; a blank line is layout
        keep = ~blank
    header = [str(name).strip() for name in frame.columns]
    frame, lines_of = frame[keep], lines_of[keep]
    frame.columns = header
    if frame.empty:
        raise DataError(
            f"{source} has a header ({', '.join(header)}) but no data rows under it; "
            "give at least one value per row."
        )
    name = header[_pick_column(header, frame, column, source, tables.is_mostly_numeric)]
    values = tables.column_values(frame, name, lines_of)
    return Series(values, name, source)


def _pick_column(header: list[str], frame, column: str | None, source: str, is_numeric) -> int:
    """The one column of numbers (a column with a few bad cells counts: it is refused at its
    bad cell, not passed over for the row index beside it)."""
    if column is not None:
        if column not in header:
            raise DataError(
                f"column {column!r} is not in {source}; its columns are: {', '.join(header)}."
            )
        return header.index(column)
    if len(header) == 1:
        return 0
    numeric = [i for i, name in enumerate(header) if is_numeric(frame[name])]
    if len(numeric) == 1:
        return numeric[0]
    raise DataError(
        f"{source} has {len(header)} columns ({', '.join(header)}); choose one with --column NAME."
    )


# -- preparation: differencing and scaling ---------------------------------------------------


def difference(values: np.ndarray) -> np.ndarray:
    """d[t] = v[t+1] - v[t]: the detrended series, one shorter."""
    return np.diff(np.asarray(values, np.float64))


def undifference(start: float, steps: np.ndarray) -> np.ndarray:
    """Levels after `start` from steps: v[t+1] = v[t] + d[t] (the inverse of `difference`)."""
    return start + np.cumsum(np.asarray(steps, np.float64))
