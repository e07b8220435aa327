"""Run every blog config a command needs up front, as tasks of (config, chunk of seeds), on an
executor; then answer the command's `run(config, seeds)` calls from the results.

`sweep` and `reproduce` ask for their runs one at a time; on Ray they should all be in flight
at once. `prefetch` splits each (config, seeds) job into chunks of seeds, skips the chunks the
store already holds (`find`, for `--resume`), submits the rest, stores each result the moment
it arrives (`keep`; the driver is the only writer), and joins the chunks of each job back in
seed order. A chunk's numbers do not depend on which chunk or machine ran it (`fit` is the same
program over any chunk of seeds), so the results equal the local executor's seed by seed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np

from ..experiments.blog import History
from ..experiments.config import Config
from .executor import Chunk, Task, train_chunk

CHUNK_SEEDS = 64  # seeds per task: one worker's vectorised fit (runtime.SEEDS_PER_DEVICE)

Job = tuple[Config, Sequence[int]]


def key(task: Task) -> tuple[str, tuple[int, ...]]:
    """A task as a dict key (its config is a dict)."""
    return json.dumps(task.config, sort_keys=True), task.seeds


def tasks_of(jobs: Sequence[Job], chunk_seeds: int = CHUNK_SEEDS) -> list[Task]:
    """Every job as tasks of at most `chunk_seeds` seeds, each (config, chunk) once."""
    out: dict[tuple, Task] = {}
    for config, seeds in jobs:
        seeds = [int(s) for s in seeds]
        for i in range(0, len(seeds), chunk_seeds):
            task = Task(config.to_dict(), tuple(seeds[i : i + chunk_seeds]))
            out.setdefault(key(task), task)
    return list(out.values())


def prefetch(
    jobs: Sequence[Job],
    executor,
    *,
    keep: Callable[[Task, Chunk], None] | None = None,
    find: Callable[[Task], Chunk | None] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    chunk_seeds: int = CHUNK_SEEDS,
    work: Callable[[Task], Chunk] = train_chunk,
) -> dict[tuple[Config, tuple[int, ...]], History]:
    """Every job's History, keyed by (config, seeds); see the module docstring. `executor` may
    be a function that makes one, called only if some task is not stored already (so a
    resumed command that has everything starts no cluster)."""
    tasks = tasks_of(jobs, chunk_seeds)
    done: dict[tuple, Chunk] = {}
    for task in tasks:
        stored = find(task) if find else None
        if stored is not None:
            done[key(task)] = stored
    todo = [t for t in tasks if key(t) not in done]
    if on_progress:
        on_progress("tasks", len(done), len(tasks))
    if todo and not hasattr(executor, "map"):
        executor = executor()
    for task, chunk in executor.map(work, todo) if todo else ():
        if keep:
            keep(task, chunk)
        done[key(task)] = chunk
        if on_progress:
            on_progress("tasks", len(done), len(tasks))
    return {
        (config, tuple(int(s) for s in seeds)): join(config, seeds, done, chunk_seeds)
        for config, seeds in jobs
    }


def join(config: Config, seeds: Sequence[int], done: dict[tuple, Chunk], chunk_seeds: int) -> History:
    """The job's History from its chunks, seeds in the order given."""
    seeds = [int(s) for s in seeds]
    parts = [
        done[key(Task(config.to_dict(), tuple(seeds[i : i + chunk_seeds])))]
        for i in range(0, len(seeds), chunk_seeds)
    ]
    metrics = {
        name: np.concatenate([np.asarray(p.metrics[name], np.float32) for p in parts], axis=1)
        for name in parts[0].metrics
    }
    total = {k: sum(p.timings.get(k, 0.0) for p in parts) for k in ("compile_seconds", "run_seconds")}
    return History(config, seeds, metrics, total["compile_seconds"], total["run_seconds"])


class Prefetched:
    """`run(config, seeds, **kwargs)` answered from `results` where it can (a shorter run of a
    prefetched config is its first epochs); anything else (custom data, kept carries) goes to
    `fallback`, as before."""

    def __init__(self, results: dict, fallback: Callable):
        self.results = results
        self.fallback = fallback

    def __call__(self, config: Config, seeds: Sequence[int], **kwargs):
        if not kwargs:
            key = (config, tuple(int(s) for s in seeds))
            if key in self.results:
                return self.results[key]
            for (have, have_seeds), history in self.results.items():
                same = have.replace(epochs=1) == config.replace(epochs=1)
                if same and have_seeds == key[1] and have.epochs >= config.epochs:
                    return history.upto(config.epochs)
        return self.fallback(config, seeds, **kwargs)
