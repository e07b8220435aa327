"""The `--no-store` flag, shared by every command that records runs (run, sweep, reproduce…).

Usage in a command:

    @store_option
    def run(..., no_store: bool):
        with store.recording("run", config.to_dict(), seeds, enabled=not no_store) as rec:
            ...
"""

from __future__ import annotations

from collections.abc import Callable

import click


def store_option(fn: Callable) -> Callable:
    """Add `--no-store` (keyword `no_store`): run without writing to the run store."""
    return click.option(
        "no_store",
        "--no-store",
        is_flag=True,
        help="Do not record this run in the run store (see 'statecarry runs').",
    )(fn)


def stored_runner(rec, resume: bool, progress):
    """blog.run that records every run as a child of `rec`'s run (one transaction per epoch)
    and, with `resume`, reuses a finished run of the same config and seeds."""
    import numpy as np

    from ..experiments import blog

    def run(config, seeds, on_epoch=None, **kwargs):
        custom = "make_data" in kwargs
        config_dict = config.to_dict() | ({"data": kwargs["make_data"].__name__} if custom else {})
        # a stored run has metrics only: no final carries, no epoch timings to call back with
        if rec.store is not None and resume and not kwargs and on_epoch is None:
            found = rec.store.find_done("run", config_dict, seeds)
            if found is not None:
                stored = rec.copy_child(found)
                metrics = {m: np.asarray(v, dtype=np.float32) for m, v in stored.metrics.items()}
                return blog.History(config, list(seeds), metrics)
        if rec.store is None:
            return blog.run(config, seeds, on_progress=progress, on_epoch=on_epoch, **kwargs)
        with rec.child("run", config_dict, seeds) as child:

            def record(epoch, metrics):
                child.epoch(epoch, {k: v.tolist() for k, v in metrics.items()})
                if on_epoch:
                    on_epoch(epoch, metrics)

            history = blog.run(config, seeds, on_progress=progress, on_epoch=record, **kwargs)
            child.finish(timings={"compile_seconds": history.compile_seconds, "run_seconds": history.run_seconds})
        return history

    return run
