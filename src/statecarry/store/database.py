"""`Store`: one open connection to the run store, for writing runs and reading them back."""

from __future__ import annotations

import collections
import json
import math
import os
import socket
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from ..errors import StoreError
from .records import (
    RUN_COLUMNS,
    BadValue,
    Run,
    _as_dict,
    _floats,
    _now,
    _nulls,
    _run_from_row,
    canonical_json,
    config_hash,
    machine,
    versions,
    writer_may_live,
)
from .schema import (
    KINDS,
    NO_STORE,
    STATUSES,
    DamagedRow,
    RunInUse,
    RunVanished,
    UnknownRun,
    transaction,
)

SQLITE_IDS = range(-(2**63), 2**63)  # an INTEGER PRIMARY KEY outside this is no run at all

# Stores open in this process, by resolved path. Closing *any* file descriptor on a SQLite file
# drops every POSIX lock this process holds on it (fcntl semantics); another process may then
# think it is the last connection, checkpoint and delete the WAL under us and lose our next
# commits. So we read the header ourselves only when this process has no connection to it.
_open_paths: collections.Counter[Path] = collections.Counter()


class Store:
    """One open connection to the store. Close it (or use `with`) when done."""

    def __init__(
        self, db: sqlite3.Connection, path: Path, read_only: bool = False, missing: Sequence[str] = ()
    ):
        self.db = db
        self.path = path
        self.read_only = read_only  # the file or its directory is not writable, or damaged
        self.missing = tuple(missing)  # tables lost from a damaged store (only ever "epochs")
        self.damaged: list[str] = [  # one sentence per thing reads skipped as unreadable
            f"{path} is damaged (its {t} table is missing): runs are shown without their "
            "epochs, and nothing can be recorded in it; move it aside to start a new store."
            for t in self.missing
        ]
        self._key = path.resolve()
        self._open = True
        _open_paths[self._key] += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; a store we cannot write (locked too long, read-only, disk
        full) is one sentence, not a traceback."""
        if self.missing:
            raise StoreError(
                f"cannot write the run store {self.path}: it is damaged (its {self.missing[0]} "
                "table is missing); move it aside, point STATECARRY_HOME elsewhere, or add "
                f"{NO_STORE}."
            )
        try:
            with transaction(self.db):
                yield self.db
        except sqlite3.OperationalError as e:
            raise StoreError(
                f"cannot write the run store {self.path} ({e}); free some space or make it "
                f"writable, point STATECARRY_HOME elsewhere, or add {NO_STORE}."
            ) from None

    def close(self) -> None:
        if self._open:
            self.db.close()
            self._open = False
            _open_paths[self._key] -= 1

    # -- writing ---------------------------------------------------------------------------
    def start_run(
        self, kind: str, config: Mapping[str, Any], seeds: Sequence[int], parent: int | None = None
    ) -> int:
        """Record a new run as "running" and return its id."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        config = _as_dict(config)
        with self._writing():
            if parent is not None:
                self._still_there(parent)
            cursor = self.db.execute(
                "insert into runs (kind, task, config, config_hash, seeds, status, started, "
                "versions, machine, parent, pid, host) values (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    kind,
                    config.get("task"),
                    canonical_json(config),
                    config_hash(config),
                    json.dumps([int(s) for s in seeds]),
                    "running",
                    _now(),
                    json.dumps(versions()),
                    json.dumps(machine()),
                    parent,
                    os.getpid(),
                    socket.gethostname(),
                ),
            )
        return int(cursor.lastrowid)

    def record_epoch(self, run_id: int, epoch: int, metrics: Mapping[str, Sequence[float]]) -> None:
        """Store one epoch's metrics (each a list over the run's seeds) in one transaction."""
        rows = [
            (run_id, int(epoch), name, json.dumps(_nulls([float(v) for v in values])))
            for name, values in metrics.items()
        ]
        with self._writing():
            self._still_there(run_id)
            (seeds,) = self.db.execute("select seeds from runs where id = ?", (run_id,)).fetchone()
            n = len(json.loads(seeds))
            wrong = next(((name, len(v)) for name, v in metrics.items() if len(v) != n), None)
            if wrong:  # read back, it would be a damaged row
                raise ValueError(f"run {run_id} has {n} seed(s), but its {wrong[0]} has {wrong[1]} value(s).")
            self.db.executemany(
                "insert or replace into epochs (run_id, epoch, metric, value) values (?,?,?,?)",
                rows,
            )

    def finish(
        self,
        run_id: int,
        status: str = "done",
        timings: Mapping[str, float] | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        if status not in STATUSES[1:]:
            raise ValueError(f"a finished run's status is one of {STATUSES[1:]}, got {status!r}")
        with self._writing():
            if status == "done":  # a failed or interrupted end of a vanished run: nothing to say
                self._still_there(run_id)
            self.db.execute(
                "update runs set status=?, finished=?, timings=?, result=?, error=? where id=?",
                (
                    status,
                    _now(),
                    canonical_json(dict(timings or {})),
                    canonical_json(dict(result)) if result is not None else None,
                    error,
                    run_id,
                ),
            )

    def _still_there(self, run_id: int) -> None:
        """Inside a write transaction: stop a writer whose run was deleted under it."""
        if self.db.execute("select 1 from runs where id = ?", (run_id,)).fetchone() is None:
            raise RunVanished(
                f"run {run_id} was deleted from {self.path} while this process was still "
                "writing it, so it stopped and recorded nothing more; run the command again."
            )

    def delete_run(self, run_id: int, force: bool = False) -> list[int]:
        """Delete a run, its epochs and (recursively) its child runs; returns the ids deleted.

        A run still being written (its process alive, or on another host) is refused with
        RunInUse unless `force`; its writer then stops at its next epoch (RunVanished)."""
        if run_id not in SQLITE_IDS or not self.db.execute(
            "select 1 from runs where id = ?", (run_id,)
        ).fetchone():  # a damaged row can still be deleted: it is not decoded
            raise UnknownRun(f"no run {run_id} in {self.path}; see 'statecarry runs list'.")
        with self._writing():
            ids = [
                r[0]
                for r in self.db.execute(
                    "with recursive tree(id) as (select ? union all "
                    "select runs.id from runs join tree on runs.parent = tree.id) "
                    "select id from tree",
                    (run_id,),
                )
            ]
            marks = ",".join("?" * len(ids))
            live = [
                (i, pid, host)
                for i, pid, host in self.db.execute(
                    f"select id, pid, host from runs where id in ({marks}) and status = 'running'",
                    ids,
                )
                if writer_may_live(pid, host)
            ]
            if live and not force:
                raise RunInUse(_in_use(run_id, *live[0]))
            self.db.execute(f"delete from epochs where run_id in ({marks})", ids)
            self.db.execute(f"delete from runs where id in ({marks})", ids)
        return ids

    # -- reading ---------------------------------------------------------------------------
    def get_run(self, run_id: int, metrics: bool = True) -> Run:
        """The run `run_id` (UnknownRun if absent, DamagedRow if it cannot be read back)."""
        row = None
        if run_id in SQLITE_IDS:  # a bigger int would overflow the binding, not miss
            row = self.db.execute(f"select {RUN_COLUMNS} from runs where id = ?", (run_id,)).fetchone()
        if row is None:
            raise UnknownRun(f"no run {run_id} in {self.path}; see 'statecarry runs list'.")
        run = self._run(row)
        self._fill(run, metrics)
        return run

    def _run(self, row: tuple) -> Run:
        try:
            return _run_from_row(row)
        except BadValue as e:
            raise DamagedRow(row[0], "runs", str(e), self.path) from None

    def list_runs(self, kind: str | None = None, parent: int | None = None) -> list[Run]:
        """Runs, oldest first, with `epochs` and `final` filled but not `metrics`."""
        where, args = [], []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if parent is not None:
            if parent not in SQLITE_IDS:
                return []
            where.append("parent = ?")
            args.append(parent)
        sql = f"select {RUN_COLUMNS} from runs"
        if where:
            sql += " where " + " and ".join(where)
        runs = []
        for row in self.db.execute(sql + " order by id", args).fetchall():
            try:  # one damaged run is named and skipped; the others stay listable
                run = self._run(row)
                self._fill(run, metrics=False)
            except DamagedRow as e:
                if str(e) not in self.damaged:
                    self.damaged.append(str(e))
                continue
            runs.append(run)
        return runs

    def children(self, run_id: int) -> list[Run]:
        return self.list_runs(parent=run_id)

    def find_done(self, kind: str, config: Mapping[str, Any], seeds: Sequence[int]) -> int | None:
        """The newest run of `kind` that finished ("done") with this exact config and seeds."""
        row = self.db.execute(
            "select id from runs where kind=? and config_hash=? and seeds=? and status='done' "
            "order by id desc limit 1",
            (kind, config_hash(_as_dict(config)), json.dumps([int(s) for s in seeds])),
        ).fetchone()
        return None if row is None else int(row[0])

    def _fill(self, run: Run, metrics: bool) -> None:
        if "epochs" in self.missing:
            return
        # One statement, one snapshot: a process still writing the run may add an epoch
        # between two reads (the table would be sized for fewer epochs than its rows).
        rows = self.db.execute(
            "select epoch, metric, value from epochs where run_id = ?"
            + ("" if metrics else " and epoch = (select max(epoch) from epochs where run_id = ?)"),
            (run.id,) if metrics else (run.id, run.id),
        ).fetchall()
        last = max((epoch for epoch, _, _ in rows), default=None)
        run.epochs = 0 if last is None else last + 1
        if last is None:
            return
        nan = [math.nan] * len(run.seeds)
        names = sorted({m for _, m, _ in rows})
        table = {m: [nan] * run.epochs for m in names} if metrics else {}
        for epoch, name, value in rows:
            try:
                values = _floats(value)
                if len(values) != len(run.seeds):  # one value per seed, or the tables shift
                    raise BadValue
            except BadValue:
                raise DamagedRow(run.id, "epochs", f"epoch {epoch}, {name}", self.path) from None
            if metrics:
                table[name][epoch] = values
            if epoch == last:
                run.final[name] = values
        run.metrics = table


def _in_use(run_id: int, live_id: int, pid: int | None, host: str | None) -> str:
    where = f"process {pid}" + (f" on {host}" if host else "")
    which = f"run {run_id}" if live_id == run_id else f"run {live_id} (inside run {run_id})"
    return (
        f"{which} is still being written by {where}; stop it first (Ctrl-C, or kill "
        f"{pid}) and delete it then, or add --force to delete it now (its writer stops)."
    )
