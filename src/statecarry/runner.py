"""Run a config over many seeds: data per seed, chunks of seeds per compiled call, devices.

`run(config, seeds)` is the pure function `(config, seed) -> history` of DESIGN.md, for many
seeds at once. Seeds are processed in chunks (bounded memory), each chunk split over the CPU's
XLA host devices (one per core when `use_cpu_cores()` ran before JAX was imported). The
compiled epoch is built once per shape, ahead of time, and reused for every epoch and chunk.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .config import Config
from .data.layout import Batches, from_samples
from .data.tasks import make_samples
from .errors import ConfigError

METRICS = ("train_loss", "train_acc", "train_known_acc", "test_loss", "test_acc", "test_known_acc")
SEEDS_PER_DEVICE = 64  # measured best on a 2-core CPU: bigger calls stop paying off


def use_cpu_cores(n: int | None = None) -> None:
    """Expose `n` CPU cores (default: all) as XLA host devices, so seed chunks run in parallel.

    Must run before JAX is first imported; afterwards it does nothing.
    """
    if "jax" in sys.modules:
        return
    n = n or os.cpu_count() or 1
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "statecarry" / "jax"


def enable_compile_cache(path: Path | None = None) -> None:
    """JAX's persistent compilation cache, so a second invocation does not recompile."""
    import jax

    path = path or cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a read-only home: run without the cache rather than fail
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@dataclass
class History:
    """Per-epoch metrics for every seed: `metrics[name]` has shape (epochs, seeds)."""

    config: Config
    seeds: list[int]
    metrics: dict[str, np.ndarray]
    compile_seconds: float = 0.0
    run_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return self.metrics["test_acc"].shape[0]

    def final(self, name: str) -> np.ndarray:
        return self.metrics[name][-1]

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
        }


def seed_batches(config: Config, seed: int) -> tuple[Batches, Batches]:
    train, test = make_samples(config, seed)
    return (
        from_samples(train.x, train.y, config.batch_size, train.known),
        from_samples(test.x, test.y, config.batch_size, test.known),
    )


def _stack(items: Sequence[Batches]) -> Batches:
    return Batches(*(np.stack(parts) for parts in zip(*items)))


EpochCallback = Callable[[int, dict[str, np.ndarray]], None]


def run(
    config: Config,
    seeds: Sequence[int],
    *,
    chunk_size: int | None = None,
    on_epoch: EpochCallback | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> History:
    """Train and evaluate `config` for every seed; seeds are independent runs.

    Data and initialisation both come from the seed (data from `config.data_seed` when
    pinned). `on_epoch(epoch, metrics)` is called after every epoch with that epoch's metrics
    for all seeds; `on_progress(stage, done, total)` reports compile and epoch progress.
    """
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from . import engine, rtrl

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("no seeds to run; give --seeds 1 or more.")
    devices = jax.local_devices()
    n_dev = len(devices)
    if chunk_size is None:
        chunk_size = SEEDS_PER_DEVICE * n_dev
    if config.mode == "rtrl":
        chunk_size = min(chunk_size, rtrl.seeds_that_fit(config))
    chunk_size = max(1, min(chunk_size, len(seeds)))
    # Every chunk has the same shape (the last is padded), so one compiled program serves all;
    # a chunk that divides over the devices runs on all cores at once.
    if chunk_size >= n_dev:
        chunk_size -= chunk_size % n_dev
        mesh = Mesh(np.array(devices), ("seeds",))
        split, whole = NamedSharding(mesh, PartitionSpec("seeds")), NamedSharding(mesh, PartitionSpec())
    else:
        split = whole = None

    def put(tree, sharding):
        return jax.device_put(tree, sharding) if sharding is not None else jax.device_put(tree)

    shared = config.data_seed is not None
    # epochs and data_seed do not change the program: one compile serves them all
    epoch_fn = _compiled_epoch(config.replace(epochs=1, data_seed=None), shared, split, whole)
    chunks = [seeds[i : i + chunk_size] for i in range(0, len(seeds), chunk_size)]
    t0 = time.perf_counter()
    states = []
    for chunk in chunks:
        padded = chunk + [chunk[-1]] * (chunk_size - len(chunk))
        if shared:
            train, test = put(seed_batches(config, padded[0]), whole)
        else:
            train, test = put(_stack_pairs([seed_batches(config, s) for s in padded]), split)
        keys = put(jax.vmap(jax.random.key)(np.array(padded)), split)
        carry = put(engine.init_carry_seeds(keys, config, config.batch_size), split)
        states.append([carry, train, test, keys])
    data_seconds = time.perf_counter() - t0

    if on_progress:
        on_progress("compile", 0, 1)
    t0 = time.perf_counter()
    epoch0 = np.int32(0)
    carry, train, test, keys = states[0]
    compiled = epoch_fn.lower(carry, train, test, keys, epoch0).compile()
    compile_seconds = time.perf_counter() - t0

    out = {m: np.zeros((config.epochs, len(seeds)), np.float32) for m in engine.EpochMetrics._fields}
    t0 = time.perf_counter()
    total = config.epochs * len(chunks)
    for epoch in range(config.epochs):
        for i, st in enumerate(states):
            st[0], metrics = compiled(st[0], st[1], st[2], st[3], np.int32(epoch))
            lo = i * chunk_size
            n = len(chunks[i])
            for name, values in zip(engine.EpochMetrics._fields, metrics):
                out[name][epoch, lo : lo + n] = np.asarray(values)[:n]
            if on_progress:
                on_progress("train", epoch * len(chunks) + i + 1, total)
        if on_epoch:
            on_epoch(epoch, {m: out[m][epoch] for m in out})
    run_seconds = time.perf_counter() - t0
    return History(
        config,
        seeds,
        out,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        timings={"data_seconds": data_seconds},
    )


@functools.lru_cache(maxsize=32)
def _compiled_epoch(config: Config, shared: bool, split, whole):
    """One jitted epoch per (config, data sharing, devices): built once, reused by every run."""
    import jax

    from . import engine

    fn = functools.partial(engine.run_epoch_seeds, config=config, shared_data=shared)
    if split is None:
        return jax.jit(fn, donate_argnums=(0,))
    data = whole if shared else split
    return jax.jit(
        fn,
        in_shardings=(split, data, data, split, whole),
        out_shardings=(split, split),
        donate_argnums=(0,),
    )


def _stack_pairs(pairs: list[tuple[Batches, Batches]]) -> tuple[Batches, Batches]:
    return _stack([p[0] for p in pairs]), _stack([p[1] for p in pairs])
