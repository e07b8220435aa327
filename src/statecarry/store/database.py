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
)
from .schema import KINDS, STATUSES, UnknownRun, transaction

# Stores open in this process, by resolved path. Closing *any* file descriptor on a SQLite file
# drops every POSIX lock this process holds on it (fcntl semantics); another process may then
# think it is the last connection, checkpoint and delete the WAL under us and lose our next
# commits. So we read the header ourselves only when this process has no connection to it.
_open_paths: collections.Counter[Path] = collections.Counter()


class Store:
    """One open connection to the store. Close it (or use `with`) when done."""

    def __init__(self, db: sqlite3.Connection, path: Path):
        self.db = db
        self.path = path
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
        try:
            with transaction(self.db):
                yield self.db
        except sqlite3.OperationalError as e:
            raise StoreError(
                f"cannot write the run store {self.path} ({e}); free some space or make it "
                "writable, point STATECARRY_HOME elsewhere, or add --no-store to run, sweep, reproduce or forecast."
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

    def delete_run(self, run_id: int) -> list[int]:
        """Delete a run, its epochs and (recursively) its child runs; returns the ids deleted."""
        self.get_run(run_id, metrics=False)  # UnknownRun if absent
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
            self.db.execute(f"delete from epochs where run_id in ({marks})", ids)
            self.db.execute(f"delete from runs where id in ({marks})", ids)
        return ids

    # -- reading ---------------------------------------------------------------------------
    def get_run(self, run_id: int, metrics: bool = True) -> Run:
        row = self.db.execute(f"select {RUN_COLUMNS} from runs where id = ?", (run_id,)).fetchone()
        if row is None:
            raise UnknownRun(f"no run {run_id} in {self.path}; see 'statecarry runs list'.")
        run = _run_from_row(row)
        self._fill(run, metrics)
        return run

    def list_runs(self, kind: str | None = None, parent: int | None = None) -> list[Run]:
        """Runs, oldest first, with `epochs` and `final` filled but not `metrics`."""
        where, args = [], []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if parent is not None:
            where.append("parent = ?")
            args.append(parent)
        sql = f"select {RUN_COLUMNS} from runs"
        if where:
            sql += " where " + " and ".join(where)
        runs = [_run_from_row(r) for r in self.db.execute(sql + " order by id", args)]
        for run in runs:
            self._fill(run, metrics=False)
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
        last = self.db.execute(
            "select max(epoch) from epochs where run_id = ?", (run.id,)
        ).fetchone()[0]
        run.epochs = 0 if last is None else last + 1
        if last is None:
            return
        rows = self.db.execute(
            "select epoch, metric, value from epochs where run_id = ?"
            + ("" if metrics else " and epoch = ?"),
            (run.id,) if metrics else (run.id, last),
        ).fetchall()
        nan = [math.nan] * len(run.seeds)
        names = sorted({m for _, m, _ in rows})
        table = {m: [nan] * run.epochs for m in names} if metrics else {}
        for epoch, name, value in rows:
            values = _floats(value)
            if metrics:
                table[name][epoch] = values
            if epoch == last:
                run.final[name] = values
        run.metrics = table
