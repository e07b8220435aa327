"""The store's schema: its constants and the append-only list of migrations.

`pragma user_version` counts the migrations applied; `pragma application_id` marks the file as
ours, so `opening` can refuse a SQLite file that some other program wrote.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ..errors import StoreError

KINDS = ("run", "sweep", "reproduce", "forecast", "varlen", "train", "compare")  # train/compare: own tables
STATUSES = ("running", "done", "failed", "interrupted")
APPLICATION_ID = 0x53434152  # "SCAR": marks the file as ours in SQLite's header


class UnknownRun(StoreError, LookupError):
    """No run with that id in the store."""


# -- migrations: append only; never edit one that has shipped -------------------------------
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []
migration = MIGRATIONS.append


@migration
def m001_runs(db: sqlite3.Connection) -> None:
    db.execute(f"pragma application_id = {APPLICATION_ID}")
    db.execute(
        """create table runs (
            id integer primary key,
            kind text not null,
            task text,
            config text not null,       -- JSON, sorted keys
            config_hash text not null,  -- sha256 of the config JSON
            seeds text not null,        -- JSON list of ints
            status text not null,
            started text not null,      -- ISO 8601, UTC
            finished text,
            timings text,               -- JSON object, seconds
            versions text,              -- JSON object
            machine text,               -- JSON object
            result text,                -- JSON object or null
            parent integer references runs(id)
        )"""
    )
    # One row per (run, epoch, metric): `value` is a JSON list over the run's seeds.
    db.execute(
        """create table epochs (
            run_id integer not null references runs(id),
            epoch integer not null,
            metric text not null,
            value text not null,
            primary key (run_id, epoch, metric)
        )"""
    )


@migration
def m002_liveness(db: sqlite3.Connection) -> None:
    """Who is writing a run, so a run whose process died can be told from a live one."""
    db.execute("alter table runs add column pid integer")
    db.execute("alter table runs add column host text")
    db.execute("alter table runs add column error text")


@migration
def m003_lookup_indexes(db: sqlite3.Connection) -> None:
    """`reproduce --resume` looks runs up by config; reports list a run's children."""
    db.execute("create index runs_by_config on runs (kind, config_hash, status)")
    db.execute("create index runs_by_parent on runs (parent)")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`begin immediate`: take the write lock up front, so a busy store waits, never deadlocks."""
    db.execute("begin immediate")
    try:
        yield db
    except BaseException:
        db.execute("rollback")
        raise
    db.execute("commit")


def migrate(db: sqlite3.Connection, migrations: Sequence[Callable] = MIGRATIONS) -> None:
    """Apply the migrations not yet applied, each in its own transaction.

    `user_version` is re-read inside the write lock, so two processes opening a new store at
    once apply each migration exactly once.
    """
    while True:
        with transaction(db):
            done = db.execute("pragma user_version").fetchone()[0]
            if done >= len(migrations):
                return
            migrations[done](db)
            db.execute(f"pragma user_version = {done + 1}")
