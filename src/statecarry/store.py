"""The run store: every run, sweep, reproduce and forecast, kept in one SQLite file.

Where: `$STATECARRY_HOME/runs.sqlite`; without STATECARRY_HOME, `$XDG_DATA_HOME/statecarry`
or `~/.local/share/statecarry`. Standard library `sqlite3` only (no JAX, no NumPy), so the
`runs` commands and the report open it instantly.

API (what commands and the report use):

    open_store(path: str | Path | None = None) -> Store          # also a context manager
    Store.path: Path
    Store.start_run(kind, config: dict, seeds: list[int], parent: int | None = None) -> int
    Store.record_epoch(run_id, epoch: int, metrics: dict[str, list[float]]) -> None
    Store.finish(run_id, status="done", timings: dict | None = None,
                 result: dict | None = None, error: str | None = None) -> None
    Store.list_runs(kind: str | None = None, parent: int | None = None) -> list[Run]
    Store.get_run(run_id) -> Run             # raises UnknownRun (a StoreError) if absent
    Store.children(run_id) -> list[Run]      # runs whose parent is run_id, oldest first
    Store.delete_run(run_id) -> list[int]    # deletes the run and its children; ids deleted
    Store.find_done(kind, config: dict, seeds) -> int | None   # newest finished twin
    Store.close() -> None

    recording(kind, config, seeds, *, enabled=True, parent=None, store=None)
        -> context manager yielding a Recorder:
           Recorder.run_id: int | None      (None when enabled=False, i.e. --no-store)
           Recorder.store: Store | None
           Recorder.epoch(epoch, metrics)    one transaction per epoch
           Recorder.finish(result=None, timings=None)   status "done"
           Recorder.child(kind, config, seeds) -> recording(...) with parent=this run
        Leaving the block normally finishes the run as "done" if finish() was not called;
        KeyboardInterrupt marks it "interrupted" and re-raises; any other exception marks it
        "failed" (with the error's text) and re-raises.

    Run (a dataclass): id, kind, task, config (dict), config_hash, seeds (list[int]),
        status, started, finished (ISO 8601 UTC strings; finished None while running),
        timings (dict), versions (dict), machine (dict), result (dict | None),
        parent (int | None), pid, host, error (str | None),
        epochs (int: epochs recorded),
        final (dict metric -> list over seeds, the last recorded epoch),
        metrics (dict metric -> list over epochs of lists over seeds; filled by get_run
                 only, {} from list_runs).  Undefined values are NaN in Python, null in JSON.
        Run.shown_status -> "stale" for a "running" run whose process is gone, else status.
        Run.to_json(include_epochs=True) -> dict, with "epochs": [{"epoch": e, metric:
        [per seed]}, ...], the shape `statecarry run --json` prints; include_epochs=False
        gives "epochs": count and "final" instead (what `runs list --json` prints).

    to_csv(run) -> str      one row per (epoch, seed), one column per metric
    compare_runs(runs) -> dict   final test accuracy mean ± 95% CI per run, config differences
    KINDS, STATUSES, store_path() -> Path

Guarantees. Each epoch is one transaction, so Ctrl-C or a crash leaves every finished epoch
readable. WAL mode plus a busy timeout lets several processes write at once. A process killed
outright (SIGKILL, power loss) cannot mark its run, so the run stays "running"; we record the
writer's pid and host, and `shown_status` reports "stale" when that process no longer exists
(on the same host; a run from another host is shown as recorded). Migrations are an
append-only list applied on open; `pragma user_version` counts how many ran. A file that is
not SQLite, a SQLite file that is not ours, a damaged file and a file from a newer statecarry
each raise StoreError with one sentence, and the file is never written to.

Do not open runs.sqlite with `open()` in a process that holds a Store: closing any descriptor
on a SQLite file drops the process's locks on it (POSIX fcntl semantics), and another writer
may then delete the WAL under us (see `_open_paths`). Read it through this module.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import functools
import hashlib
import importlib.metadata
import io
import json
import math
import os
import platform
import socket
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from .errors import StoreError

KINDS = ("run", "sweep", "reproduce", "forecast")
STATUSES = ("running", "done", "failed", "interrupted")
FILENAME = "runs.sqlite"
APPLICATION_ID = 0x53434152  # "SCAR": marks the file as ours in SQLite's header
BUSY_TIMEOUT_SECONDS = 30.0  # another process holding the write lock: wait, don't fail
SQLITE_MAGIC = b"SQLite format 3\x00"


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


# -- where the store lives, and opening it safely -------------------------------------------
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


# Stores open in this process, by resolved path. Closing *any* file descriptor on a SQLite file
# drops every POSIX lock this process holds on it (fcntl semantics); another process may then
# think it is the last connection, checkpoint and delete the WAL under us and lose our next
# commits. So we read the header ourselves only when this process has no connection to it.
_open_paths: collections.Counter[Path] = collections.Counter()


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


# -- what one run looks like when read back -------------------------------------------------
@dataclasses.dataclass
class Run:
    id: int
    kind: str
    task: str | None
    config: dict
    config_hash: str
    seeds: list[int]
    status: str
    started: str
    finished: str | None
    timings: dict
    versions: dict
    machine: dict
    result: dict | None
    parent: int | None
    pid: int | None
    host: str | None
    error: str | None
    epochs: int = 0
    final: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    metrics: dict[str, list[list[float]]] = dataclasses.field(default_factory=dict)

    @property
    def shown_status(self) -> str:
        """"stale" for a run still marked running whose writer (on this host) has gone."""
        if self.status == "running" and self.pid and self.host == socket.gethostname():
            if not _alive(self.pid):
                return "stale"
        return self.status

    @property
    def seconds(self) -> float | None:
        """Wall-clock time from start to finish (None while running)."""
        if not self.finished:
            return None
        return (_parse(self.finished) - _parse(self.started)).total_seconds()

    def to_json(self, include_epochs: bool = True) -> dict:
        """Every field; "epochs" is the per-epoch list (as `statecarry run --json` prints it),
        or with include_epochs=False the number of epochs recorded plus "final"."""
        fields = dataclasses.asdict(self)
        metrics = fields.pop("metrics")
        fields["shown_status"] = self.shown_status
        if include_epochs:
            fields.pop("final")
            fields["epochs"] = [
                {"epoch": e} | {m: values[e] for m, values in metrics.items()}
                for e in range(self.epochs)
            ]
        return _json_safe(fields)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _nulls(values: Sequence[float]) -> list[float | None]:
    return [None if (v is None or math.isnan(v)) else v for v in values]


def _json_safe(value: Any) -> Any:
    """NaN and infinities -> null, so exported JSON is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(_json_safe(value), sort_keys=True, separators=(",", ":"))


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(config)).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    """Installed versions, from package metadata (importing JAX here would cost seconds)."""
    out: dict[str, str | None] = {}
    for name in ("statecarry", "jax", "jaxlib", "optax", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


@functools.lru_cache(maxsize=1)
def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def _as_dict(config: Any) -> dict:
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


RUN_COLUMNS = (
    "id, kind, task, config, config_hash, seeds, status, started, finished, timings, "
    "versions, machine, result, parent, pid, host, error"
)


def _run_from_row(row: tuple) -> Run:
    (id_, kind, task, config, chash, seeds, status, started, finished, timings, vers, mach,
     result, parent, pid, host, error) = row  # fmt: skip
    return Run(
        id_, kind, task, json.loads(config), chash, json.loads(seeds), status, started,
        finished, json.loads(timings or "{}"), json.loads(vers or "{}"),
        json.loads(mach or "{}"), json.loads(result) if result else None, parent, pid, host,
        error,
    )  # fmt: skip


def _floats(value: str) -> list[float]:
    return [math.nan if v is None else float(v) for v in json.loads(value)]


class Store:
    """One open connection to the store. Close it (or use `with`) when done."""

    def __init__(self, db: sqlite3.Connection, path: Path):
        self.db = db
        self.path = path
        self._key = path.resolve()
        self._open = True
        _open_paths[self._key] += 1

    def __enter__(self) -> Store:
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


# -- recording a command's run --------------------------------------------------------------
class Recorder:
    """What a command holds while it runs: one `epoch(...)` per epoch, then `finish(...)`."""

    def __init__(self, store: Store | None, run_id: int | None):
        self.store = store
        self.run_id = run_id
        self.finished = False

    def epoch(self, epoch: int, metrics: Mapping[str, Sequence[float]]) -> None:
        if self.store is not None:
            self.store.record_epoch(self.run_id, epoch, metrics)

    def finish(
        self, result: Mapping[str, Any] | None = None, timings: Mapping[str, float] | None = None
    ) -> None:
        if self.store is not None and not self.finished:
            self.store.finish(self.run_id, "done", timings=timings, result=result)
        self.finished = True

    def child(self, kind: str, config: Mapping[str, Any], seeds: Sequence[int]):
        """A run inside this one (a sweep's grid point, a reproduce's claim)."""
        enabled = self.store is not None
        return recording(kind, config, seeds, enabled=enabled, parent=self.run_id, store=self.store)


@contextmanager
def recording(
    kind: str,
    config: Mapping[str, Any],
    seeds: Sequence[int],
    *,
    enabled: bool = True,
    parent: int | None = None,
    store: Store | None = None,
) -> Iterator[Recorder]:
    """Record a run for the duration of the block; see the module docstring for the outcomes."""
    if not enabled:
        yield Recorder(None, None)
        return
    own = store is None
    store = open_store() if own else store
    try:
        recorder = Recorder(store, store.start_run(kind, config, seeds, parent=parent))
        try:
            yield recorder
        except KeyboardInterrupt:
            store.finish(recorder.run_id, "interrupted")
            raise
        except Exception as e:
            store.finish(recorder.run_id, "failed", error=f"{type(e).__name__}: {e}")
            raise
        except BaseException:  # SystemExit, GeneratorExit: the process is going away
            store.finish(recorder.run_id, "interrupted")
            raise
        recorder.finish()
    finally:
        if own:
            store.close()


# -- export and comparison ------------------------------------------------------------------
def to_csv(run: Run) -> str:
    """One row per (epoch, seed), one column per metric: ready for pandas or a spreadsheet."""
    names = sorted(run.metrics)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run_id", "epoch", "seed", *names])
    for epoch in range(run.epochs):
        for k, seed in enumerate(run.seeds):
            values = [run.metrics[m][epoch][k] for m in names]
            cells = ("" if math.isnan(v) else repr(v) for v in values)
            writer.writerow([run.id, epoch, seed, *cells])
    return out.getvalue()


def compare_runs(runs: Sequence[Run]) -> dict:
    """Final test accuracy and loss (mean and 95% CI over seeds) per run, and the config keys
    whose values differ between the runs."""
    from . import stats  # NumPy: only when comparing

    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "id": run.id, "kind": run.kind, "task": run.task, "status": run.shown_status,
            "seeds": len(run.seeds), "epochs": run.epochs,
        }  # fmt: skip
        for metric in ("test_acc", "test_loss"):
            if metric in run.final:
                row[metric] = stats.mean_ci(run.final[metric])._asdict()
        if "test_acc" in run.final:
            row["solved"] = stats.solved_fraction(run.final["test_acc"])._asdict()
        rows.append(row)
    keys = sorted({k for run in runs for k in run.config})
    differences = {
        k: [run.config.get(k) for run in runs]
        for k in keys
        if len({canonical_json(run.config.get(k)) for run in runs}) > 1
    }
    return _json_safe({"runs": rows, "config_differences": differences})
