"""Where the store lives, and opening it: a file that is not ours is refused, never written."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..errors import StoreError
from .database import Store, _open_paths
from .schema import APPLICATION_ID, MIGRATIONS, migrate

FILENAME = "runs.sqlite"
BUSY_TIMEOUT_SECONDS = 30.0  # another process holding the write lock: wait, don't fail
SQLITE_MAGIC = b"SQLite format 3\x00"


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
        "at another directory, or add --no-store to run, sweep, reproduce or forecast."
    )


def _inspect(path: Path) -> None:
    """Refuse, without writing a byte, a file that is not a statecarry store we can open."""
    if not path.exists() or path.stat().st_size == 0:
        return  # a new store
    if _open_paths[path.resolve()]:
        return  # already inspected by the connection we hold (and reading it would be unsafe)
    with open(path, "rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise _refuse(path, "is not a SQLite database (so not a statecarry run store)")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise _refuse(path, f"cannot be opened ({e})") from None
    try:
        app_id = db.execute("pragma application_id").fetchone()[0]
        version = db.execute("pragma user_version").fetchone()[0]
        tables = db.execute("select count(*) from sqlite_master").fetchone()[0]
        if app_id == APPLICATION_ID:
            check = db.execute("pragma quick_check(1)").fetchone()[0]  # reads every page
            if check != "ok":
                raise sqlite3.DatabaseError(check)
    except sqlite3.DatabaseError as e:
        raise _refuse(path, f"is damaged ({e})") from None
    finally:
        db.close()
    if app_id != APPLICATION_ID and (tables or version):
        raise _refuse(path, "is a SQLite database that statecarry did not write")
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{path} was written by a newer statecarry (store schema {version}; this version "
            f"knows {len(MIGRATIONS)}); upgrade statecarry, or point STATECARRY_HOME elsewhere."
        )


def open_store(path: str | Path | None = None) -> Store:
    """Open (creating and migrating as needed) the store at `path`, default `store_path()`."""
    path = Path(path) if path is not None else store_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(
            f"cannot create the run store's directory {path.parent} ({e.strerror}); "
            "point STATECARRY_HOME at a writable directory, or add --no-store to run, sweep, reproduce or forecast."
        ) from None
    _inspect(path)
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    except sqlite3.Error as e:
        raise _refuse(path, f"cannot be opened ({e})") from None
    try:
        db.execute("pragma journal_mode = wal")
        db.execute("pragma synchronous = normal")  # WAL: a process crash loses nothing committed
        migrate(db)
    except sqlite3.Error as e:
        db.close()
        raise StoreError(
            f"cannot write the run store {path} ({e}); point STATECARRY_HOME at a writable "
            "directory, or add --no-store to run, sweep, reproduce or forecast."
        ) from None
    except BaseException:
        db.close()
        raise
    return Store(db, path)
