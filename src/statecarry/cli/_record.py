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
                stored = rec.store.get_run(found)
                metrics = {m: np.asarray(v, np.float32) for m, v in stored.metrics.items()}
                return Measured(metrics, dict(stored.result or {}), dict(stored.timings or {}), True)
        with rec.child(kind, config, seeds) as child:

            def on_epoch(epoch: int, metrics: dict) -> None:
                child.epoch(epoch, {k: np.asarray(v).tolist() for k, v in metrics.items()})

            measured = compute(on_epoch)
            child.finish(result=measured.result, timings=measured.timings)
        return measured

    record.reused = []  # the stored runs `--resume` answered from, for the command to say
    return record
