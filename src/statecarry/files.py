"""Files the user names with -o: checked before any work, written so a failure loses nothing.

Standard library only (rank 0), so the store, the report and the CLI share one way to write.

    check_output(path, formats, flag) -> Path   before any work: a known format, a place we can
                                                 write; the file goes exactly there (no suffix added)
    write_output(path, data) -> int             the bytes written, flushed and fsync'd; on any
                                                 failure the partial file is removed, OutputError
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from .errors import OutputError

# What each suffix means, to refuse `-o page.png` for an HTML page before the work starts.
KNOWN = {".html": "HTML", ".htm": "HTML", ".png": "PNG", ".svg": "SVG", ".pdf": "PDF",
         ".csv": "CSV", ".json": "JSON", ".txt": "text"}  # fmt: skip


def check_output(path: str | Path, formats: Sequence[str], flag: str = "-o") -> Path:
    """Refuse, before any work, an output path we could not write or would write in another
    format than its suffix says. `formats` are the suffixes this output may have; a name
    without a suffix is written as given."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix and suffix not in formats:
        wanted = " or ".join(formats)
        kind = KNOWN.get(suffix, f"a {suffix} file")
        raise OutputError(
            f"{flag} {path}: its name says {kind} but this writes {KNOWN.get(formats[0], formats[0])}; "
            f"name it with {wanted}."
        )
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a directory; give a file name, e.g. {path / ('out' + formats[0])}.")
    parent = path.parent
    if not parent.exists():  # one rule for every output: a folder is the user's to make
        raise OutputError(f"{flag} {path}: the folder {parent} does not exist; create it first, "
                          "or write elsewhere.")  # fmt: skip
    target = path if path.exists() else parent
    if not parent.is_dir() or not os.access(target, os.W_OK):
        raise OutputError(f"{flag} {path}: {target} is not writable; choose another path.")
    if not (path.exists() and not stat.S_ISREG(path.stat().st_mode)):
        _try_partial(path, flag)
    return path


def _try_partial(path: Path, flag: str) -> None:
    """Create and remove the partial file `write_output` will write: permissions say yes to
    root in a folder like /sys or /proc, where no file can be made, and to a read-only mount
    on some systems."""
    partial = _partial_name(path)
    try:
        with open(partial, "xb"):
            pass
    except FileExistsError:
        return  # ours from an earlier call in this process: write_output replaces it
    except OSError as e:
        raise OutputError(f"{flag} {path}: cannot create a file in {path.parent} "
                          f"({e.strerror or e}); choose another path.") from None  # fmt: skip
    partial.unlink(missing_ok=True)


def write_output(path: str | Path, data: str | bytes) -> int:
    """Write `data` to `path` completely or not at all.

    A regular file is written beside its target, flushed, fsync'd, its size checked and then
    renamed over it, so a full disk leaves any earlier file as it was and no partial one. A
    device or pipe (`/dev/stdout`, `/dev/full`) is written directly, and its errors raised."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    special = path.exists() and not stat.S_ISREG(path.stat().st_mode)
    if special:
        try:
            with open(path, "wb") as f:
                f.write(raw)
                f.flush()
        except OSError as e:
            raise _failed(path, e, removed=False) from None
        return len(raw)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # from Python; the CLI refused it earlier
    except OSError as e:  # a folder in the way is a file, or may not be made
        raise _failed(path, e, removed=False) from None
    partial = _partial_name(path)
    try:
        with open(partial, "wb") as f:
            written = f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if written != len(raw) or partial.stat().st_size != len(raw):
            raise OSError(errno.EIO, f"wrote {partial.stat().st_size} of {len(raw)} bytes")
        os.replace(partial, path)
    except OSError as e:
        written = partial.exists()  # opening it may be what failed
        partial.unlink(missing_ok=True)
        raise _failed(path, e, removed=written) from None
    return len(raw)


def _partial_name(path: Path) -> Path:
    """Where `write_output` writes before renaming over `path` (and `check_output` tries)."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


OUT_OF_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # a write that failed for want of space


def _failed(path: Path, e: OSError, removed: bool) -> OutputError:
    """One sentence: a partial file is named only when one was written, and space only when
    space ran out (a path under /proc or a read-only folder fails otherwise)."""
    what = e.strerror or str(e)
    kept = "; the partial file was removed" if removed else ""
    fix = "free some space or choose another path" if e.errno in OUT_OF_ROOM else "choose another path"
    return OutputError(f"could not write {path} ({what}){kept}: {fix}.")
