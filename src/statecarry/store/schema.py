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

# The way past a store that cannot be written: every command that records takes --no-store
# (tests/test_cli_ux.py checks this list against the CLI).
NO_STORE = "--no-store to the command (run, sweep, varlen, reproduce, forecast, train or compare)"


class UnknownRun(StoreError, LookupError):
    """No run with that id in the store."""


class RunInUse(StoreError):
    """The run is still being written by a live process."""


class RunVanished(StoreError):
    """The run this process was writing was deleted from the store under it."""


class DamagedRow(StoreError):
    """One run's row (or one of its epochs) cannot be read back; the other runs can."""

    def __init__(self, run_id: int, table: str, where: str, path: object):
        self.run_id = run_id
        super().__init__(
            f"run {run_id} in {path} is damaged (table {table}, {where}: not valid JSON); "
            f"the other runs are readable, and 'statecarry runs delete {run_id}' removes it."
        )


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


@migration
def m004_ids_never_reused(db: sqlite3.Connection) -> None:
    """AUTOINCREMENT: a deleted run's id is never lent again, so a writer still holding it
    cannot pour epochs into a newer run. SQLite cannot add AUTOINCREMENT in place, so the table
    is rebuilt with the same columns and ids; ids that epochs still name (a deleted run whose
    writer went on writing) count as lent too."""
    db.execute(
        """create table runs_v4 (
            id integer primary key autoincrement,
            kind text not null, task text, config text not null, config_hash text not null,
            seeds text not null, status text not null, started text not null, finished text,
            timings text, versions text, machine text, result text,
            parent integer references runs(id), pid integer, host text, error text
        )"""
    )
    columns = (
        "id, kind, task, config, config_hash, seeds, status, started, finished, timings, "
        "versions, machine, result, parent, pid, host, error"
    )
    db.execute(f"insert into runs_v4 ({columns}) select {columns} from runs")
    db.execute("drop table runs")  # and its indexes, made again below
    db.execute("alter table runs_v4 rename to runs")
    db.execute("create index runs_by_config on runs (kind, config_hash, status)")
    db.execute("create index runs_by_parent on runs (parent)")
    lent = db.execute(
        "select max(id) from (select max(id) as id from runs union all "
        "select max(run_id) from epochs)"
    ).fetchone()[0]
    if lent is not None:
        db.execute("delete from sqlite_sequence where name = 'runs'")
        db.execute("insert into sqlite_sequence (name, seq) values ('runs', ?)", (lent,))


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
