"""The run store as an experiment's recorder (see `statecarry/recording.py`): every unit of
work of varlen, forecast and reproduce's claims 11 and 16–18 becomes a child run, stored epoch
by epoch, and `--resume` answers from a finished child of the same config and seeds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stored_recorder(rec, resume: bool = False):
    """A `Record` that stores each unit as a child of `rec`'s run (nothing without a store)."""
    from ..experiments.recorder import Compute, Measured

    def record(kind: str, config: dict, seeds: Sequence[int], compute: Compute) -> Measured:
        if rec.store is None:
            return compute(None)
        if resume:
            found = rec.store.find_done(kind, config, seeds)
            if found is not None:
                record.reused.append(found)
                stored = rec.copy_child(found)
                metrics = {m: np.asarray(v, np.float32) for m, v in stored.metrics.items()}
                result = {k: v for k, v in (stored.result or {}).items() if k != "copied_from"}
                return Measured(metrics, result, dict(stored.timings or {}), True)
        with rec.child(kind, config, seeds) as child:

            def on_epoch(epoch: int, metrics: dict) -> None:
                child.epoch(epoch, {k: np.asarray(v).tolist() for k, v in metrics.items()})

            measured = compute(on_epoch)
            child.finish(result=measured.result, timings=measured.timings)
        return measured

    record.reused = []  # the stored runs `--resume` answered from, for the command to say
    return record


def stored_tasks(rec, resume: bool = False):
    """`(keep, find)` for `scale.prefetch`: each finished task becomes a child run of `rec`'s
    run (all its epochs at once), and with `resume` a stored task is not run again."""
    from ..scale.executor import Chunk

    def keep(task, chunk) -> None:
        _store_finished(rec, task.config, task.seeds, chunk.metrics, chunk.timings)

    def find(task):
        if rec.store is None or not resume:
            return None
        found = rec.store.find_done("run", task.config, task.seeds)
        if found is None:
            return None
        stored = rec.copy_child(found)
        metrics = {m: np.asarray(v, np.float32) for m, v in stored.metrics.items()}
        return Chunk(metrics, dict(stored.timings or {}))

    return keep, find


def executor_options(fn):
    """`--executor local|ray` and `--address` (a Ray cluster; none starts a local one)."""
    import click

    fn = click.option("--task-gpus", type=click.FloatRange(0), default=0.0, help="GPUs each Ray task asks for (e.g. 1 on a multi-GPU host).")(fn)
    fn = click.option("--address", default=None, help="Ray cluster address, e.g. ray://head:10001 (default: start a local Ray).")(fn)
    return click.option(
        "--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
        help="Where the runs go: this process, or Ray tasks of (config, 64 seeds) on a cluster.",
    )(fn)  # fmt: skip


def prefetched_runner(executor_name: str, address, jobs, rec, resume: bool, fallback, progress,
                      gpus: float = 0.0):  # fmt: skip
    """For `--executor ray`: every job run up front as tasks (stored as they finish), then a
    `run` that answers from them; for local, `fallback` itself (no Ray import)."""
    if executor_name == "local":
        if address or gpus:
            from . import UserError

            raise UserError("--address and --task-gpus are for --executor ray.")
        return side_by_side(jobs, rec, resume, fallback, progress)
    from ..scale.executor import make_executor
    from ..scale.prefetch import Prefetched, prefetch

    keep, find = stored_tasks(rec, resume)
    results = prefetch(jobs, lambda: make_executor(executor_name, address, gpus), keep=keep, find=find,
                       on_progress=progress)  # fmt: skip
    return Prefetched(results, fallback)


def side_by_side(jobs, rec, resume: bool, fallback, progress):
    """For the local executor: jobs that differ only in Adam's data (a learning-rate grid, say)
    train together as one program (`blog.run_side_by_side`), each stored as its own child run.
    The first job still to run trains alone first, so a sweep's time estimate (and its stop
    before a long sweep) comes from it; a group runs when one of its jobs is first asked for."""
    from ..experiments import blog

    groups: dict[tuple, list] = {}
    probe = True
    for config, seeds in jobs:
        seeds = tuple(int(s) for s in seeds)
        if resume and rec.store is not None and rec.store.find_done("run", config.to_dict(), seeds) is not None:
            continue  # `fallback` answers it from the store
        if probe:  # the first to train runs alone, through `fallback`
            probe = False
            continue
        group = groups.setdefault((blog.program_key(config), seeds), [])
        if config not in group:
            group.append(config)
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    if not groups:
        return fallback
    results: dict[tuple, object] = {}

    def run(config, seeds, **kwargs):
        seeds_key = tuple(int(s) for s in seeds)
        key = (blog.program_key(config), seeds_key)
        if not kwargs and config in groups.get(key, ()):
            group = groups.pop(key)
            histories = blog.run_side_by_side(group, seeds_key, on_progress=progress)
            for member, history in zip(group, histories, strict=True):
                results[(member, seeds_key)] = history
                timings = {"compile_seconds": history.compile_seconds, "run_seconds": history.run_seconds}
                _store_finished(rec, member.to_dict(), seeds_key, history.metrics, timings)
        found = results.get((config, seeds_key))
        return found if found is not None else fallback(config, seeds, **kwargs)

    return run


def _store_finished(rec, config: dict, seeds, metrics: dict, timings: dict) -> None:
    """A finished run's metrics as a child run of `rec`'s run, all its epochs at once."""
    if rec.store is None:
        return
    with rec.child("run", config, seeds) as child:
        for epoch in range(len(next(iter(metrics.values())))):
            child.epoch(epoch, {k: np.asarray(v[epoch]).tolist() for k, v in metrics.items()})
        child.finish(timings=timings)
