"""The blog's experiments on the public API: a `Config` becomes a `Model`, a `Train` and one
data set per seed, and `core.fit` runs them. `run(config, seeds) -> History` is the pure
function `(config, seed) -> history` of DESIGN.md, for many seeds at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..core import memory, runtime
from ..core.fit import fit
from ..core.runtime import enable_compile_cache, lane_width, use_cpu_cores  # noqa: F401  (the CLI's setup)
from ..core.spec import SIDE_BY_SIDE_FIELDS
from ..data.layout import Batches, from_samples
from ..errors import ConfigError
from .config import Config
from .tasks import make_samples

METRICS = ("train_loss", "train_acc", "train_known_acc", "test_loss", "test_acc", "test_known_acc")


@dataclass
class History:
    """Per-epoch metrics for every seed: `metrics[name]` has shape (epochs, seeds)."""

    config: Config
    seeds: list[int]
    metrics: dict[str, np.ndarray]
    compile_seconds: float = 0.0
    run_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    final_carry: tuple | None = None  # (params, state), seed axis first, when kept
    diverged: dict[int, int] = field(default_factory=dict)  # seed -> epoch

    def upto(self, epochs: int) -> History:
        """The first `epochs` epochs (a longer run of the same config contains a shorter one)."""
        return replace(
            self,
            config=self.config.replace(epochs=epochs),
            metrics={k: v[:epochs] for k, v in self.metrics.items()},
        )

    @property
    def epochs(self) -> int:
        return self.metrics["test_acc"].shape[0]

    def final(self, name: str) -> np.ndarray:
        return self.metrics[name][-1]

    def seconds(self, wall: float) -> float:
        """The time this run trained: its compile + run seconds, or `wall` for one answered
        from the store (no timings). A run trained elsewhere (Ray) or side by side with others
        took no wall time where it was asked for, or all of theirs."""
        trained = self.compile_seconds + self.run_seconds
        return trained if trained > 0 else wall

    def to_json(self) -> dict:
        return {
            "task": self.config.task,
            "config": self.config.to_dict(),
            "seeds": list(self.seeds),
            "epochs": [
                {"epoch": e} | {m: self.metrics[m][e].tolist() for m in METRICS}
                for e in range(self.epochs)
            ],
            "compile_seconds": self.compile_seconds,
            "run_seconds": self.run_seconds,
            "diverged": {str(seed): epoch for seed, epoch in self.diverged.items()},
        }


def seed_batches(config: Config, seed: int) -> tuple[Batches, Batches]:
    train, test = make_samples(config, seed)
    return (
        from_samples(train.x, train.y, config.batch_size, train.known),
        from_samples(test.x, test.y, config.batch_size, test.known),
    )


EpochCallback = Callable[[int, dict[str, np.ndarray]], None]


def small_steps(configs: Sequence[Config], seeds: int) -> bool:
    """Whether every config takes small steps at `seeds` seeds (`runtime.small_steps`): a
    process that runs only these may compile whole epochs as one kernel (`use_cpu_cores`)."""
    return bool(configs) and all(
        runtime.small_steps(c.model_spec(), c.train_spec(), c.batch_size, seeds) for c in configs
    )


def step_sizes(configs: Sequence[Config], seeds: int) -> dict[str, bool]:
    """`use_cpu_cores`' `small_steps` and `big_steps` for a process that runs only these configs
    at `seeds` seeds (`runtime.small_steps`, `runtime.big_steps`)."""
    big = bool(configs) and all(runtime.big_steps(c.model_spec(), c.train_spec()) for c in configs)
    return {"small_steps": small_steps(configs, seeds), "big_steps": big}


def memory_needed(config: Config) -> memory.Estimate:
    """The estimate of `core.memory` for this config, from its sizes alone (no data made)."""
    b = config.batch_size
    return memory.estimate(config.model_spec(), config.train_spec(), b, config.time_steps,
                           config.n_train // b, config.n_test // b, shared_data=config.data_seed is not None,
                           making=True)  # fmt: skip


def check_memory(config: Config, seeds: int) -> None:
    """Refuse, before any data is made or a run stored, what cannot fit one seed at a time
    (more seeds than fit at once stream through `fit` in waves)."""

    def need(units: int) -> memory.Estimate:
        return memory_needed(config.replace(units=units))

    # one seed at a time must fit; `fit` leaves the vector lanes (16 seeds' work) when they do not
    memory.plan(need(config.units), seeds, 1, lambda have: memory.units_that_fit(need, config.units, have))


def run(
    config: Config,
    seeds: Sequence[int],
    *,
    chunk_size: int | None = None,
    on_epoch: EpochCallback | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    make_data: Callable[[Config, int], tuple[Batches, Batches]] | None = None,
    keep_final: bool = False,
    vector_lanes: bool = True,
) -> History:
    """Train and evaluate `config` for every seed with `core.fit`; seeds are independent runs.

    Data and initialisation both come from the seed (data from `config.data_seed` when
    pinned, then shared by every seed). `make_data(config, seed) -> (train, test)` replaces
    the sample tasks with any `Batches` (equal shapes for every seed); with `keep_final`,
    `History.final_carry` holds each seed's trained parameters and last training state;
    `vector_lanes=False` as in `fit` (timing one run).
    """
    if make_data is None:
        check_memory(config, len(seeds))
    result = fit(model=config.model_spec(), train=config.train_spec(), seeds=seeds, on_epoch=on_epoch,
                 on_progress=on_progress, chunk_size=chunk_size, vector_lanes=vector_lanes,
                 **_data(config, make_data or seed_batches))  # fmt: skip
    return _history(config, result, keep_final=keep_final)


def _data(config: Config, make_data: Callable[[Config, int], tuple[Batches, Batches]]) -> dict:
    """`fit`'s data arguments: one data set shared by every seed when `config.data_seed` pins
    it, else a function of the seed."""
    if config.data_seed is not None:
        train, test = make_data(config, config.data_seed)
        return {"data": train, "test": test}
    return {"data": lambda seed: make_data(config, seed)}


def _history(config: Config, result, share: float = 1.0, keep_final: bool = False) -> History:
    """A `Fit` as the experiments' History (every metric of METRICS, NaN where the head has
    none), with `share` of its time."""
    metrics = {m: result.metrics.get(m, np.full_like(result.metrics["train_loss"], np.nan)) for m in METRICS}
    return History(
        config,
        result.seeds,
        metrics,
        compile_seconds=result.compile_seconds * share,
        run_seconds=result.run_seconds * share,
        timings=result.timings,
        final_carry=(result.params, result.state) if keep_final else None,
        diverged=result.diverged,
    )


def program_key(config: Config) -> Config:
    """`config` with Adam's data (learning rate, betas, epsilon) and the loss at their defaults:
    configs with the same key run as one program, side by side (`run_side_by_side`)."""
    return config.replace(**{f: getattr(Config, f) for f in SIDE_BY_SIDE_FIELDS})


def run_side_by_side(configs: Sequence[Config], seeds: Sequence[int], *,
                     on_progress: Callable[[str, int, int], None] | None = None) -> list[History]:  # fmt: skip
    """`run` for configs that differ only in Adam's data, as one `fit` of every (config, seed)
    lane: each History has exactly the numbers of its own `run`, and an equal share of the
    time they took together."""
    first = configs[0]
    if any(program_key(c) != program_key(first) for c in configs):
        raise ConfigError("run_side_by_side takes configs that differ only in learning_rate, beta1, beta2 and adam_eps.")
    check_memory(first, len(seeds) * len(configs))
    fits = fit(model=first.model_spec(), train=[c.train_spec() for c in configs], seeds=seeds,
               on_progress=on_progress, **_data(first, seed_batches))  # fmt: skip
    return [_history(c, r, share=1 / len(configs)) for c, r in zip(configs, fits, strict=True)]
