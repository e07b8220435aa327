"""Where a report's runs come from: the store, a `blog.History` in memory, a reproduce."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .cells import now
from .page import write_report


def load_runs(ids: Sequence[int] | None = None, store: Any = None) -> list[dict]:
    """Runs from the store as report dicts: each run given, followed by its child runs (a
    reproduce's claims, a sweep's grid points). No ids: the latest top-level run."""
    from .. import store as store_mod

    own = store is None
    store = store_mod.open_store() if own else store
    try:
        if not ids:
            tops = [r for r in store.list_runs() if r.parent is None]
            if not tops:
                raise store_mod.StoreError(
                    f"the run store {store.path} holds no runs yet; run 'statecarry run "
                    "first-step' first, or give run ids."
                )
            ids = [tops[-1].id]
        out: list[dict] = []
        seen: set[int] = set()

        def add(run_id: int) -> None:
            if run_id in seen:
                return
            seen.add(run_id)
            out.append(store.get_run(run_id).to_json())
            for child in store.children(run_id):
                add(child.id)

        for run_id in ids:
            add(int(run_id))
        return out
    finally:
        if own:
            store.close()


def history_run(history: Any, *, kind: str = "run", run_id: int | None = None, **extra) -> dict:
    """A `blog.History` (in memory, e.g. under --no-store) as a report dict."""
    from .. import store as store_mod  # versions and machine, without importing JAX

    return (
        history.to_json()
        | {
            "id": run_id,
            "kind": kind,
            "status": "done",
            "versions": store_mod.versions(),
            "machine": store_mod.machine(),
            "result": None,
        }
        | extra
    )


def write_reproduce_report(
    path: str | Path,
    result: dict,
    histories: Iterable[Any] = (),
    *,
    run_id: int | None = None,
    command: str | None = None,
) -> Path:
    """The report `statecarry reproduce` writes at its end.

    Args:
        path: where the HTML goes (parent directories are created).
        result: the reproduce result as stored, `{"claims": [{"id", "claim", "source", "setup",
            "measured", "verdict", ...}, ...], ...}`; optional keys per claim that the table
            shows: `ci` ([low, high] or {"low", "high"}), `n`/`seeds`.
        histories: the `blog.History` of every run the claims used (their learning curves
            and batch layouts go into the page). Pass `(label, history)` pairs to name them.
        run_id: the reproduce run's id in the store, if it was stored (shown in the page).
        command: the command line that produced it (shown in the provenance table).
    """
    from .. import store as store_mod

    runs = [
        {
            "id": run_id,
            "kind": "reproduce",
            "task": None,
            "config": {},
            "seeds": [],
            "status": "done",
            "versions": store_mod.versions(),
            "machine": store_mod.machine(),
            "finished": now(),
            "result": result,
            "command": command,
            "epochs": [],
        }
    ]
    for item in histories:
        label, history = item if isinstance(item, tuple) else (None, item)
        runs.append(history_run(history, kind="run", label=label))
    return write_report(runs, path)
