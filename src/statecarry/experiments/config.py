"""One frozen config: every default on one screen, each with the reason it has that value.

A single flat dataclass (rather than Task/Model/Train configs) because sweeps, claims and the
CLI all address fields by one name (`--grid "units=3,8 lr=1e-3"`), and a frozen dataclass is
hashable, so `jax.jit` can take it as a static argument.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..core.spec import Model, Train
from ..data.sizes import MAX_SIZE, whole_size
from ..errors import ConfigError

# What a task defines for itself, where the Config default would be refused: prev-sample's
# label is in the previous sample, which is the collocated one only at batch size 1.
TASK_DEFAULTS: dict[str, dict] = {"prev-sample": {"batch_size": 1}}


@dataclass(frozen=True)
class Config:
    # -- data: the blog's experiment ------------------------------------------------------
    task: str = "first-step"
    n_train: int = 1024  # the blog's training set
    n_test: int = 256  # the blog's test set
    time_steps: int = 5  # steps per sample
    batch_size: int = 4  # the blog's batch size; stateful needs it to divide both sets
    marker: bool = False  # add a start-of-sample feature (1 at step 0 of every sample)
    data_seed: int | None = None  # pin the data to one seed; None = each seed makes its own
    distance: int = 1  # prev-batch, copy: the label lies this many batches back (the blog's: 1)
    pattern: int = 1  # copy: bits per pattern, one sigmoid output each (the blog's tasks: 1)
    # -- model ---------------------------------------------------------------------------
    units: int = 3  # the blog's LSTM(3)
    # -- training ------------------------------------------------------------------------
    mode: Literal["stateless", "stateful", "rtrl", "uoro", "snap1"] = "stateful"
    horizon: int = 1  # batches one gradient reaches back through; 1 = Keras
    reset: Literal["epoch", "never"] = "epoch"  # when the training state is zeroed
    carry: Literal["hc", "c"] = "hc"  # what crosses a batch boundary; Keras carries h and c
    shuffle: bool = False  # reshuffle the samples every epoch (breaks streams on purpose)
    epochs: int = 5  # the blog's longest log
    learning_rate: float = 1e-3  # Keras' Adam default
    beta1: float = 0.9  # Keras' Adam default
    beta2: float = 0.999  # Keras' Adam default
    adam_eps: float = 1e-7  # Keras' default, not optax's 1e-8 (and applied Keras' way)
    loss: Literal["mse", "bce"] = "mse"  # the blog uses MSE on a sigmoid output

    def __post_init__(self) -> None:
        _check(self)

    @property
    def features(self) -> int:
        return 2 if self.marker else 1

    @property
    def state_resets_every_batch(self) -> bool:
        return self.mode == "stateless"

    def model_spec(self) -> Model:
        """The blog's model: LSTM(units), a sigmoid Dense(1) (Dense(pattern) for copy: one
        sigmoid per bit, accuracy = the fraction of bits right), the task's features."""
        return Model(cell="lstm", units=self.units, head="sigmoid", features=self.features, outputs=self.pattern)

    def train_spec(self) -> Train:
        """The training fields as the engine's `Train` (which checks them)."""
        names = [f.name for f in dataclasses.fields(Train)]
        return Train(**{name: getattr(self, name) for name in names})

    def replace(self, **changes: Any) -> Config:
        """A copy with `changes`; an unknown key is rejected by name."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(
                f"unknown config key {unknown[0]!r}; known keys: {', '.join(field_names())}."
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


def _positive(config: Config, *names: str) -> None:
    for name in names:
        whole_size(getattr(config, name), name.replace("_", "-"), ConfigError)


def _check(c: Config) -> None:
    from .tasks import BALANCED, check_task  # data sits below config's users; numpy only

    _positive(c, "n_train", "n_test", "time_steps", "batch_size", "units", "horizon", "epochs")
    _positive(c, "distance", "pattern")
    if c.distance != 1 and c.task not in ("prev-batch", "copy"):
        raise ConfigError(
            f"distance {c.distance} is prev-batch's and copy's (the label d batches back); {c.task} has "
            "no distance, so leave it at 1."
        )
    seed = c.data_seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SIZE):
        raise ConfigError(
            f"data-seed must be a whole number from 0 to {MAX_SIZE:,} (seeds are 32-bit), got {seed!r}."
        )
    if c.loss not in ("mse", "bce"):  # the blog's sigmoid head
        raise ConfigError(f"unknown loss {c.loss!r}; choose one of mse, bce.")
    c.train_spec()  # mode, reset, carry, Adam, horizon with mode: the engine's own checks
    n_batches = c.n_train // c.batch_size
    if c.horizon > max(n_batches, 1):
        raise ConfigError(
            f"horizon {c.horizon} is longer than an epoch ({n_batches} batches); "
            f"use at most {n_batches}."
        )
    # Suggest only sizes the task accepts too: the balanced tasks also need even sizes.
    step = math.lcm(c.batch_size, 2) if c.task in BALANCED else c.batch_size
    for name in ("n_train", "n_test"):
        _divisible(getattr(c, name), c.batch_size, name, step)
    check_task(c)


def _divisible(n: int, batch_size: int, name: str, step: int) -> None:
    if n % batch_size:
        lower = n - n % step
        upper = lower + step
        options = f"{lower} or {upper}" if lower else f"{upper}"
        raise ConfigError(
            f"batch-size {batch_size} does not divide {name.replace('_', '-')} {n}: a stateful LSTM "
            f"needs whole batches so every row continues its stream; use {name.replace('_', '-')} "
            f"{options}, or a batch-size that divides {n}."
        )
