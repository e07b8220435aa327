"""`recording`: the run a command records while it trains, and how it ends.

Leaving the block normally finishes the run as "done"; KeyboardInterrupt (Ctrl-C, and SIGTERM,
which the CLI turns into one) marks it "interrupted"; any other exception marks it "failed".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from .database import Store
from .opening import open_store

# The top-level runs this process started (ids) and those of them that finished "done", for the
# CLI's word on an interrupt (the CLI clears both as each command starts).
STARTED: list[int] = []
DONE: set[int] = set()


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

    def copy_child(self, run_id: int):
        """The finished run `run_id` (a `--resume` answer) copied in as a child of this one, its
        result saying `copied_from`: this run then holds every unit it reports, so its export
        and report are whole, and deleting the run it came from loses nothing here. Returns the
        stored run, as read (the caller answers from it)."""
        run = self.store.get_run(run_id)
        if run.parent == self.run_id:  # a unit this run made itself, asked for again
            return run
        with self.child(run.kind, run.config, run.seeds) as child:
            for epoch in range(run.epochs):
                child.epoch(epoch, {name: values[epoch] for name, values in run.metrics.items()})
            child.finish(result=dict(run.result or {}) | {"copied_from": run.id}, timings=run.timings)
        return run


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
        if parent is None:
            STARTED.append(recorder.run_id)
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
        DONE.add(recorder.run_id)
    finally:
        if own:
            store.close()
