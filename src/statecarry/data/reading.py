"""Reading a table file (CSV, TSV or Parquet, by pandas with pyarrow) into a frame of cells as
they are written, or one sentence that says what is wrong with the file and how to fix it.
What the cells mean (columns, numbers, sequences) is `tables`' work."""

from __future__ import annotations

import io
import itertools
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from .. import budget
from ..errors import DataError

SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
READ_COPIES = 10  # resident bytes per file byte while a table is read: 4.7-7.6 measured (cells as
# text, CSV and Parquet, 1 to 8 columns), then the numbers; tests/test_cli_owndata.py refuses


def check_fits(path: Path) -> None:
    """Refuse, before reading, a table whose reading would not fit in memory (`budget`)."""
    need = path.stat().st_size * READ_COPIES
    have, where = budget.budget()
    if need > have:
        raise DataError(
            f"{path.name} is {budget.size(path.stat().st_size)}; reading it needs about "
            f"{budget.size(need)}, more than {where}; give a smaller table (fewer rows, or "
            "only the columns you use) or run on a machine with more memory."
        )


def table_kind(path: Path) -> str:
    """"csv", "tsv" or "parquet" for a table file that is there and fits in memory, or the
    sentence every command that reads a table says (train, compare, predict, forecast)."""
    kind = SUFFIXES.get(path.suffix.lower())
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a .csv, .tsv or .parquet file in it.")
    if kind is None:
        raise DataError(
            f"{path.name} is neither CSV nor Parquet; give a .csv, .tsv or .parquet file."
        )
    if not path.is_file():
        raise DataError(f"there is no file at {path}; check the path.")
    check_fits(path)
    return kind


def read_table(path: str | Path) -> pd.DataFrame:
    """The whole table, every cell as read (nothing converted yet); one sentence if unreadable."""
    path = Path(path).expanduser()
    kind = table_kind(path)
    sep = "\t" if kind == "tsv" else ","
    skip = 0 if kind == "parquet" else _preamble(path, sep)
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path, engine="pyarrow")
        else:
            with warnings.catch_warnings():  # a row wider than the header: pandas warns and drops cells
                warnings.simplefilter("error", pd.errors.ParserWarning)
                try:  # index_col=False: never take the first column as an index (rows one field wider)
                    frame = pd.read_csv(path, sep=sep, dtype=str, skiprows=skip, index_col=False,
                                        skip_blank_lines=False, keep_default_na=False, na_values=[])  # fmt: skip
                except pd.errors.ParserWarning:
                    with path.open(encoding="utf-8", newline="") as f:
                        wide = _wide_row(f, skip, sep)
                    raise DataError(f"{path.name} is not a readable {kind} table ({wide}).") from None
    except DataError:  # ours, said already (a DataError is a ValueError: not wrapped again below)
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty; give a table with a header row and data rows.") from None
    except UnicodeDecodeError:
        raise DataError(f"{path.name} is not text in UTF-8, so not a readable {kind} table (a binary or "
                        "compressed file, or another encoding); save it as a UTF-8 CSV, or as Parquet.") from None
    except pd.errors.ParserError as e:
        # pandas counts the lines skiprows skipped in its "line L": already the file's own line
        raise DataError(f"{path.name} is not a readable {kind} table ({_parser_error(str(e), 0)}).") from None
    except (OSError, ValueError) as e:  # pyarrow's errors are ValueError/OSError subclasses
        raise DataError(f"{path.name} is not a readable {kind} table ({e}).") from None
    if kind != "parquet":
        frame = _drop_blank_lines(frame, path.name, skip)
    try:
        _check_header(frame, path.name)
    except DataError as e:
        if skip and "looks headerless" in str(e):  # np.savetxt writes its header as "# a,b"
            raise DataError(f"{str(e)[:-1]}; a header written as a '#' line (as np.savetxt writes it) is "
                            "skipped as a comment: write it without the '#'.") from None
        raise
    if frame.empty:
        raise DataError(f"{path.name} has a header ({', '.join(map(str, frame.columns))}) but no "
                        "data rows under it; give at least one row.")  # fmt: skip
    frame.attrs["source"] = path.name
    frame.attrs["line_offset"] = 2 + skip if kind != "parquet" else 1  # comments, header; 1-based lines
    return frame


def _preamble(path: Path, sep: str) -> int:
    """How many lines above a CSV's header are comments ('#') or blank (skipped), its header
    checked for a name given twice."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:  # a byte-order mark before a '#' is no header
            skip, header = _header_at(f)
    except UnicodeDecodeError:  # pandas reads it next and says so
        return 0
    _check_header_names(header, sep, path.name)
    return skip


def _header_at(lines: Iterable[str]) -> tuple[int, str]:
    """(lines before the header: comments '#' and blank ones, the header line or "" if none);
    a '#' below the header is data (a character, say)."""
    skip = 0
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            return skip, line
        skip += 1
    return skip, ""


def _check_header_names(header: str, sep: str, source: str) -> None:
    """Refuse a header that names a column twice (pandas would read the second as `x.1`)."""
    import csv

    try:
        names = [name.strip() for name in next(csv.reader([header], delimiter=sep), [])]
    except csv.Error:  # pandas reads it next and says so
        return
    twice = sorted({name for name in names if names.count(name) > 1 and name})
    if twice:
        raise DataError(f"{source} has two columns named {twice[0]!r} in its header; give each column its own name.")


def _parser_error(text: str, skip: int) -> str:
    """pandas' parser error in the file's own terms: a row with more fields than the header."""
    found = re.search(r"Expected (\d+) fields? in line (\d+), saw (\d+)", text)
    if not found:
        return text.strip()
    fields, line, saw = (int(g) for g in found.groups())
    return _wide(line + skip, saw, fields)


def _wide_row(lines: Iterable[str], skip: int, sep: str) -> str:
    """The first row with more fields than the header, said as `_wide` says it."""
    import csv

    rows = csv.reader(itertools.islice(lines, skip, None), delimiter=sep)
    width = len(next(rows, []))
    for row in rows:
        if len(row) > width:
            return _wide(rows.line_num + skip, len(row), width)
    return "a row has more fields than the header"  # pandas saw one the csv module did not


def _wide(line: int, fields: int, header: int) -> str:
    return (f"line {line} has {fields} fields where the header has {header}: a text file that is not a table, "
            "a separator at the end of a line, or a value that holds one (quote it)")


def blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows with no cell filled (a blank line of a CSV; spaces alone fill no cell)."""
    return frame.apply(lambda col: col.isna() | (col.astype(str).str.strip() == "")).all(axis=1).to_numpy()


def _drop_blank_lines(frame: pd.DataFrame, source: str, skip: int = 0) -> pd.DataFrame:
    blank = blank_rows(frame)
    if not blank.any():
        return frame
    last = len(blank) - np.argmax(~blank[::-1]) if (~blank).any() else 0
    inside = np.flatnonzero(blank[:last])
    if len(inside):  # a blank line at the end is layout; in the middle it would hide a step
        raise DataError(
            f"{source} has a blank line at line {inside[0] + 2 + skip}; remove it, or fill in that "
            "row, so that no step goes missing silently."
        )
    return frame.iloc[:last]


def _check_header(frame: pd.DataFrame, source: str) -> None:
    names = [str(c) for c in frame.columns]
    marks = {";": "semicolons", "|": "bars", "\t": "tabs"}
    row = str(frame.iloc[0, 0]) if len(frame) and len(names) == 1 else ""  # the header and a row alike
    if len(names) == 1 and (mark := next((m for m in marks if m in names[0] and m in row), None)):
        raise DataError(f"{source} reads as one column, {names[0]!r}: its fields are separated by {marks[mark]}, "
                        "and a .csv is read comma-separated (a .tsv tab-separated); save it with commas.")  # fmt: skip
    if names and all(_is_number(n.split(".")[0] if n.count(".") > 1 else n) for n in names):
        raise DataError(
            f"{source} looks headerless: its first row ({', '.join(names[:4])}"
            f"{', …' if len(names) > 4 else ''}) is numbers; add a header row naming the columns."
        )
    unnamed = [n for n in names if n.startswith("Unnamed: ") or not n.strip()]
    if unnamed:
        raise DataError(f"{source} has a column without a name (column {names.index(unnamed[0]) + 1}); "
                        "name every column in the header row.")  # fmt: skip


def read_csv_lines(lines: Iterable[str], source: str) -> pd.DataFrame:
    """CSV text (an open file or a list of lines) with every cell as text. Comment lines
    ('#') and blank lines before the header are skipped; blank rows after it are kept, so
    the caller says what a blank line means. `attrs["lines"]` holds each row's line number."""
    text = list(lines)
    skip, header = _header_at(text)
    body = "".join(line if line.endswith("\n") else line + "\n" for line in text[skip:])
    if not body.strip():
        raise DataError(f"{source} is empty; give a CSV with a header row and one value per row.")
    _check_header_names(header, ",", source)
    with warnings.catch_warnings():  # as read_table: a row wider than the header is refused
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(io.StringIO(body), dtype=str, skip_blank_lines=False, index_col=False,
                                keep_default_na=False, na_values=[])  # fmt: skip
        except pd.errors.ParserWarning:
            raise DataError(f"{source} is not a readable CSV table ({_wide_row(text, skip, ',')}).") from None
        except pd.errors.ParserError as e:
            raise DataError(f"{source} is not a readable CSV table ({_parser_error(str(e), skip)}).") from None
    _check_header(frame, source)
    frame.attrs["source"] = source
    frame.attrs["lines"] = np.arange(len(frame)) + skip + 2  # 1-based, after the header
    return frame


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
