"""How an experiment hands its runs to whoever records them, without knowing the store.

An experiment describes each unit of work by a kind, a JSON-able config and its seeds, and
gives a `compute(on_epoch)` that does the work; the recorder decides whether to run it (and
store every epoch as it comes) or to answer from a finished run of the same config and seeds
(`--resume`). `unrecorded` simply runs it. The CLI injects a recorder backed by the run store
(`cli/_record.py`), so the experiments stay free of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EpochCallback = Callable[[int, dict[str, np.ndarray]], None]


@dataclass
class Measured:
    """A unit of work's numbers: per-epoch metrics (epochs, seeds), a JSON-able result (what
    is measured once at the end), and timings."""

    metrics: dict[str, np.ndarray]
    result: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    resumed: bool = False


Compute = Callable[[EpochCallback | None], Measured]
Record = Callable[[str, dict, Sequence[int], Compute], Measured]


def unrecorded(kind: str, config: dict, seeds: Sequence[int], compute: Compute) -> Measured:
    """Run the work, store nothing."""
    return compute(None)
