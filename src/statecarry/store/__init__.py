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
    Store.get_run(run_id) -> Run             # UnknownRun (a StoreError) if absent or past
                                             # SQLite's int64; DamagedRow if it cannot be read
    Store.children(run_id) -> list[Run]      # runs whose parent is run_id, oldest first
    Store.delete_run(run_id, force=False) -> list[int]   # the run and its children; ids deleted.
                                             # RunInUse while its writer lives, unless force
    Store.damaged: list[str]                 # sentences for the runs list_runs skipped
    Store.read_only: bool                    # the file or its directory is not writable
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
        KeyboardInterrupt (Ctrl-C, and SIGTERM under the CLI) marks it "interrupted" and re-raises; any other exception marks it
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

    to_csv(runs) -> str     one row per (run, epoch, seed), one column per metric
    compare_runs(runs) -> dict   final test accuracy mean ± 95% CI per run, config differences
    metric_bounds(metric) -> (low, high) | None   what a metric can take, to clip its interval
    KINDS, STATUSES, store_path() -> Path

Guarantees. Ids are never reused (AUTOINCREMENT, since migration 4), and a writer whose run
was deleted under it stops at its next write with RunVanished, so no run inherits another's
epochs. A store we cannot write is opened read-only. One row that does not decode is named
(DamagedRow: run id, table, column or epoch) and the other runs stay listable. Each epoch is one transaction, so Ctrl-C or a crash leaves every finished epoch
readable. WAL mode plus a busy timeout lets several processes write at once. A process killed
outright (SIGKILL, power loss) cannot mark its run, so the run stays "running"; we record the
writer's pid and host, and `shown_status` reports "stale" when that process no longer exists
(on the same host; a run from another host is shown as recorded). Migrations are an
append-only list applied on open; `pragma user_version` counts how many ran. A file that is
not SQLite, a SQLite file that is not ours, a damaged file and a file from a newer statecarry
each raise StoreError with one sentence, and the file is never written to.

Do not open runs.sqlite with `open()` in a process that holds a Store: closing any descriptor
on a SQLite file drops the process's locks on it (POSIX fcntl semantics), and another writer
may then delete the WAL under us (see `database._open_paths`). Read it through this package.

Layout (imports flow down this list, never up):

    schema.py     constants, the migrations and `migrate`
    records.py    `Run` as read back, and the JSON and provenance helpers
    database.py   `Store`: one connection, writing and reading runs
    opening.py    where the file lives, and opening it without harming a file that is not ours
    recording.py  `recording`/`Recorder`: what a command holds while it runs
    export.py     `to_csv` and `compare_runs`
"""

from ..errors import StoreError
from .database import Store
from .export import compare_runs, metric_bounds, to_csv
from .opening import BUSY_TIMEOUT_SECONDS, FILENAME, SQLITE_MAGIC, open_store, store_path
from .recording import Recorder, recording
from .records import Run, canonical_json, config_hash, machine, versions
from .schema import (
    APPLICATION_ID,
    KINDS,
    MIGRATIONS,
    STATUSES,
    DamagedRow,
    RunInUse,
    RunVanished,
    UnknownRun,
    migrate,
    migration,
    transaction,
)

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_SECONDS",
    "DamagedRow",
    "FILENAME",
    "KINDS",
    "MIGRATIONS",
    "SQLITE_MAGIC",
    "STATUSES",
    "Recorder",
    "RunInUse",
    "RunVanished",
    "Run",
    "Store",
    "StoreError",
    "UnknownRun",
    "canonical_json",
    "compare_runs",
    "config_hash",
    "machine",
    "metric_bounds",
    "migrate",
    "migration",
    "open_store",
    "recording",
    "store_path",
    "to_csv",
    "transaction",
    "versions",
]
