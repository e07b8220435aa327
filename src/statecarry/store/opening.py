"""Where the store lives, and opening it: a file that is not ours is refused, never written."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from ..errors import StoreError
from .database import Store, _open_paths
from .schema import APPLICATION_ID, MIGRATIONS, NO_STORE, migrate

FILENAME = "runs.sqlite"
BUSY_TIMEOUT_SECONDS = 30.0  # another process holding the write lock: wait, don't fail
SQLITE_MAGIC = b"SQLite format 3\x00"
READABLE_FROM = 3  # the oldest schema a read-only store can be read at (no migration possible)
TABLES = ("runs", "epochs")


def store_path() -> Path:
    """`$STATECARRY_HOME/runs.sqlite`, else the user data dir (XDG), like llm's `user_dir()`."""
    home = os.environ.get("STATECARRY_HOME")
    if home:
        return Path(home).expanduser() / FILENAME
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "statecarry" / FILENAME


def _refuse(path: Path, problem: str) -> StoreError:
    return StoreError(
        f"{path} {problem}; statecarry left it untouched: move it aside, point STATECARRY_HOME "
        f"at another directory, or add {NO_STORE}."
    )


def _inspect(path: Path) -> list[str]:
    """Refuse, without writing a byte, a file that is not a statecarry store we can open.
    Returns the tables missing from a store that can still be read (its `epochs`)."""
    if not path.exists() or path.stat().st_size == 0:
        return []  # a new store
    if _open_paths[path.resolve()]:
        return []  # already inspected by the connection we hold (and reading it would be unsafe)
    with open(path, "rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise _refuse(path, "is not a SQLite database (so not a statecarry run store)")
    db = _read_only(path)
    try:
        app_id = db.execute("pragma application_id").fetchone()[0]
        version = db.execute("pragma user_version").fetchone()[0]
        names = {r[0] for r in db.execute("select name from sqlite_master where type = 'table'")}
        if app_id == APPLICATION_ID:
            check = db.execute("pragma quick_check(1)").fetchone()[0]  # reads every page
            if check != "ok":
                raise sqlite3.DatabaseError(check)
    except sqlite3.DatabaseError as e:
        if "locked" in str(e):  # held past the timeout: busy, not damaged
            raise _refuse(path, f"cannot be read now ({e})") from None
        raise _refuse(path, f"is damaged ({e})") from None
    finally:
        db.close()
    tables = len(names)
    missing = [t for t in TABLES if t not in names]
    if app_id == APPLICATION_ID and version >= 1 and "runs" in missing:
        raise _refuse(path, "is damaged (its runs table is missing)")
    if app_id != APPLICATION_ID and (tables or version):
        raise _refuse(path, "is a SQLite database that statecarry did not write")
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{path} was written by a newer statecarry (store schema {version}; this version "
            f"knows {len(MIGRATIONS)}); upgrade statecarry, or point STATECARRY_HOME elsewhere."
        )
    return missing if app_id == APPLICATION_ID and version >= 1 else []


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write. SQLite's read-only mode still needs the WAL's shared
    memory file; where that cannot be made (a read-only directory) and no WAL holds unsaved
    pages, the file is opened as immutable."""
    uri = path.resolve().as_uri()
    db = None
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
        db.execute("select count(*) from sqlite_master").fetchone()
        return db
    except sqlite3.Error as e:
        if db is not None:
            db.close()
        wal = path.with_name(path.name + "-wal")
        if not isinstance(e, sqlite3.OperationalError):  # malformed: not a question of access
            raise _refuse(path, f"is damaged ({e})") from None
        if "locked" in str(e) or (wal.exists() and wal.stat().st_size):
            raise _refuse(path, f"cannot be read now ({e})") from None
    return sqlite3.connect(f"{uri}?immutable=1", uri=True)


def _writable(path: Path) -> bool:
    """Can we write the file, and make its WAL beside it? (A read-only mount answers no.)"""
    exists = path.exists() and path.stat().st_size > 0
    beside = [path.with_name(path.name + end) for end in ("-wal", "-shm")]
    room = os.access(path.parent, os.W_OK) or all(os.access(p, os.W_OK) for p in beside)
    return not exists or (os.access(path, os.W_OK) and room)


def _open_read_only(path: Path, missing: list[str]) -> Store:
    db = _read_only(path)
    version = db.execute("pragma user_version").fetchone()[0]
    if version < READABLE_FROM:
        db.close()
        raise StoreError(
            f"{path} is read-only and from an older statecarry (store schema {version}); make "
            "it writable once so statecarry can upgrade it, or point STATECARRY_HOME elsewhere."
        )
    return Store(db, path, read_only=True, missing=missing)


def _wal(db: sqlite3.Connection) -> None:
    """Switch to WAL mode. The switch needs a moment's exclusive lock, and SQLite answers
    "locked" at once rather than calling the busy handler, so wait for it here."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            db.execute("pragma journal_mode = wal").fetchone()
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def open_store(path: str | Path | None = None) -> Store:
    """Open (creating and migrating as needed) the store at `path`, default `store_path()`.

    A store whose file or directory is not writable, or that lost its epochs table, is opened
    read-only: reading works, and writing is a StoreError sentence."""
    path = Path(path) if path is not None else store_path()
    writable = _writable(path)
    if writable:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot create the run store's directory {path.parent} ({e.strerror}); "
                f"point STATECARRY_HOME at a writable directory, or add {NO_STORE}."
            ) from None
    missing = _inspect(path)
    if missing or not writable:  # read what is there; writing it is one sentence
        return _open_read_only(path, missing)
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    except sqlite3.Error as e:
        raise _refuse(path, f"cannot be opened ({e})") from None
    try:
        _wal(db)
        db.execute("pragma synchronous = normal")  # WAL: a process crash loses nothing committed
        migrate(db)
    except sqlite3.Error as e:
        db.close()
        raise StoreError(
            f"cannot write the run store {path} ({e}); point STATECARRY_HOME at a writable "
            f"directory, or add {NO_STORE}."
        ) from None
    except BaseException:
        db.close()
        raise
    return Store(db, path)
