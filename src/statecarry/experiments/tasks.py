"""The blog's tasks, generated from a seed (NumPy only).

Each task makes a `SampleSet`: samples in Keras' order with `shuffle=False`, so sample `n`
lands in batch `n // batch_size`, row `n % batch_size`. `known` marks the samples whose label
the inputs determine at all (the first batch of `prev-batch` has random labels by
construction, so even a perfect model misses about half of it).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np

from ..errors import ConfigError


class Config(Protocol):
    """What a task reads of `config.Config` (named structurally, so `config` may import this
    module and not the other way round)."""

    task: str
    n_train: int
    n_test: int
    time_steps: int
    batch_size: int
    marker: bool
    data_seed: int | None
    distance: int
    pattern: int


class SampleSet(NamedTuple):
    x: np.ndarray  # (samples, time_steps, features) float32
    y: np.ndarray  # (samples, outputs) float32: 1 output, or `pattern` bits for copy
    known: np.ndarray  # (samples,) bool: the label is determined by the inputs


def _first_step_inputs(n: int, time_steps: int, rng: np.random.Generator) -> np.ndarray:
    """The blog's generator: steps 1.. uniform 0/1; step 0 is 1 for exactly n/2 samples."""
    x = np.zeros((n, time_steps, 1), dtype=np.float32)
    x[:, 1:] = rng.integers(0, 2, (n, time_steps - 1, 1))
    ones = rng.choice(n, size=n // 2, replace=False)
    x[ones, 0] = 1
    return x


def first_step(n: int, config: Config, rng: np.random.Generator) -> SampleSet:
    """Label = first step of the same sample."""
    x = _first_step_inputs(n, config.time_steps, rng)
    return SampleSet(x, x[:, 0, :].copy(), np.ones(n, dtype=bool))


def _previous(n: int, lag: int, config: Config, rng: np.random.Generator) -> SampleSet:
    x = _first_step_inputs(n, config.time_steps, rng)
    head = min(lag, n)
    y = np.empty((n, 1), dtype=np.float32)
    y[head:] = x[: n - head, 0, :]
    y[:head] = rng.integers(0, 2, (head, 1))  # nothing came before: random labels
    known = np.arange(n) >= lag
    return SampleSet(x, y, known)


def prev_batch(n: int, config: Config, rng: np.random.Generator) -> SampleSet:
    """Label of sample n = first step of sample n - distance * batch_size: the collocated
    sample (same row) `distance` batches back; the blog's task is distance 1."""
    return _previous(n, config.distance * config.batch_size, config, rng)


def copy(n: int, config: Config, rng: np.random.Generator) -> SampleSet:
    """The copy task across batches. Every sample opens with a pattern of `pattern` random bits,
    written ±1 (so a pattern step is never mistaken for the blank delay, 0, that fills the rest
    of the sample); its target is the pattern, as 0/1 bits, of the collocated sample `distance`
    batches back: recall after a delay of `distance` batches (`distance * time_steps` steps)."""
    bits = rng.integers(0, 2, (n, config.pattern)).astype(np.float32)
    x = np.zeros((n, config.time_steps, 1), dtype=np.float32)
    x[:, : config.pattern, 0] = 2 * bits - 1
    lag = min(config.distance * config.batch_size, n)
    y = np.empty_like(bits)
    y[lag:] = bits[: n - lag]
    y[:lag] = rng.integers(0, 2, (lag, config.pattern))  # nothing came before: random targets
    return SampleSet(x, y, np.arange(n) >= lag)


def prev_sample(n: int, config: Config, rng: np.random.Generator) -> SampleSet:
    """Batch size 1; label of sample n = first step of sample n - 1."""
    return _previous(n, 1, config, rng)


def random_labels(n: int, config: Config, rng: np.random.Generator) -> SampleSet:
    """The Q&A's example: uniform random inputs, random 0/1 labels; nothing to learn."""
    x = rng.random((n, config.time_steps, 1), dtype=np.float32)
    y = rng.integers(0, 2, (n, 1)).astype(np.float32)
    return SampleSet(x, y, np.zeros(n, dtype=bool))


def variable_length_sequences(
    n: int, min_length: int, max_length: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray]:
    """`n` sequences of lengths uniform in [min_length, max_length], label = the first step.

    As in the blog's generator: step 0 is the label bit (1 in exactly n/2 sequences), every
    later step is uniform 0/1 noise. Returns the sequences, each (length, 1) float32, and the
    labels, (n, 1) float32.
    """
    lengths = rng.integers(min_length, max_length + 1, n)
    bits = np.zeros(n, dtype=np.float32)
    bits[rng.choice(n, size=n // 2, replace=False)] = 1
    sequences = []
    for length, bit in zip(lengths, bits):
        seq = rng.integers(0, 2, (int(length), 1)).astype(np.float32)
        seq[0] = bit
        sequences.append(seq)
    return sequences, bits[:, None].copy()


def variable_length_range(time_steps: int) -> tuple[int, int]:
    """Lengths of the `variable-length` task: from time_steps // 8 (at least 1) to time_steps."""
    return max(1, time_steps // 8), time_steps


def variable_length(n: int, config: Config, rng: np.random.Generator) -> SampleSet:
    """Variable-length sequences padded with zeros after their end to `time_steps`, label = first
    step, read at the last (padded) step: the Q&A's `pad_sequences(padding="post")` with no
    masking. `statecarry.varlen` compares this with masking and with packing."""
    sequences, labels = variable_length_sequences(n, *variable_length_range(config.time_steps), rng)
    x = np.zeros((n, config.time_steps, 1), dtype=np.float32)
    for i, seq in enumerate(sequences):
        x[i, : len(seq)] = seq
    return SampleSet(x, labels, np.ones(n, dtype=bool))


TASKS: dict[str, Callable[[int, Config, np.random.Generator], SampleSet]] = {
    "first-step": first_step,
    "prev-batch": prev_batch,
    "prev-sample": prev_sample,
    "copy": copy,
    "random-labels": random_labels,
    "variable-length": variable_length,
}


# Tasks that set step 0 to 1 in exactly half the samples, so their sizes must be even.
BALANCED = ("first-step", "prev-batch", "prev-sample", "variable-length")
# Tasks whose early samples have labels the inputs cannot determine (`SampleSet.known`): their
# tables add "determined acc", and "solved" counts the determined samples alone.
UNDETERMINED_START = ("prev-batch", "prev-sample", "copy")


def test_labels_determined(config: Config) -> None:
    """prev-batch and copy: a test label is set by the inputs `distance` batches earlier, so
    the test set needs more batches than that, or nothing in it can be scored as solved."""
    test_batches = config.n_test // config.batch_size
    if config.task in ("prev-batch", "copy") and config.distance >= test_batches:
        raise ConfigError(
            f"distance {config.distance} reaches past the test set's {test_batches} batch"
            f"{'es' if test_batches != 1 else ''}, so no test label is determined by the inputs (nothing "
            "could be solved); "
            + (f"use --distance up to {test_batches - 1}, or more --n-test." if test_batches > 1
               else f"give --n-test at least {(config.distance + 1) * config.batch_size}.")
        )


def check_task(config: Config) -> None:
    """Task-specific rules, raised as one sentence with a way out."""
    if config.task not in TASKS:
        close = difflib.get_close_matches(config.task, TASKS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown task {config.task!r}; choose one of {', '.join(TASKS)}.{hint}")
    if config.task == "prev-sample" and config.batch_size != 1:
        raise ConfigError(
            f"prev-sample needs batch-size 1 (its label is in the previous sample), got "
            f"{config.batch_size}; use --batch-size 1, or prev-batch for larger batches."
        )
    if config.task == "copy" and not 1 <= config.pattern <= config.time_steps:
        raise ConfigError(
            f"copy shows its {config.pattern}-bit pattern inside one sample of {config.time_steps} "
            f"steps; use --pattern from 1 to {config.time_steps}, or more --time-steps."
        )
    # (distance 1, the default, stays allowed here on a one-batch test set: the gradient tests'
    # tiny configs want no test labels; the CLI refuses it too, `test_labels_determined`)
    if config.distance > 1:
        test_labels_determined(config)
    if config.task != "copy" and config.pattern != 1:
        raise ConfigError(
            f"pattern {config.pattern} is the copy task's (bits recalled per sample); "
            f"{config.task} has one output, so leave it at 1."
        )
    if config.task in BALANCED:
        for n, name in ((config.n_train, "n-train"), (config.n_test, "n-test")):
            if n % 2:
                raise ConfigError(
                    f"{config.task} sets step 0 to 1 in exactly half the samples, so {name} "
                    f"must be even, got {n}."
                )


def add_marker(x: np.ndarray) -> np.ndarray:
    """Append a start-of-sample feature: 1 at step 0 of every sample, 0 elsewhere."""
    marker = np.zeros(x.shape[:2] + (1,), dtype=x.dtype)
    marker[:, 0] = 1
    return np.concatenate([x, marker], axis=-1)


def make_samples(config: Config, seed: int) -> tuple[SampleSet, SampleSet]:
    """Training and test sets for `seed` (or `config.data_seed` when pinned)."""
    rng = np.random.default_rng(config.data_seed if config.data_seed is not None else seed)
    make = TASKS[config.task]
    train, test = make(config.n_train, config, rng), make(config.n_test, config, rng)
    if config.marker:
        train, test = (s._replace(x=add_marker(s.x)) for s in (train, test))
    return train, test
