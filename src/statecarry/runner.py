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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .config import Config
from .data.layout import Batches, from_samples
from .data.tasks import make_samples
from .errors import ConfigError

METRICS = ("train_loss", "train_acc", "train_known_acc", "test_loss", "test_acc", "test_known_acc")
SEEDS_PER_DEVICE = 64
# Seeds are split over host devices only for small LSTMs. With 2 XLA:CPU host devices, jaxlib
# 0.10.2 deadlocks executing the epoch for LSTM(32) and up (both devices' programs wait on
# the shared intra-op thread pool; seen with batch 32); LSTM(16) and below run fine, and that
# is where the split pays off anyway (large per-step ops already use both cores).
SPLIT_MAX_UNITS = 16  # measured best on a 2-core CPU: bigger calls stop paying off
# LLVM's -O1 compiles in about half the time of XLA's default and runs as fast (measured in
# benchmarks/engine.py, variant xla-O); the numbers agree to 1e-8.
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def use_cpu_cores(n: int | None = None) -> None:
    """Expose `n` CPU cores (default: all) as XLA host devices, so seed chunks run in parallel,
    and set XLA's CPU backend up for this program's many tiny loops (`xla_cpu_flags`).

    Must run before JAX is first imported; afterwards it does nothing.
    """
    if "jax" in sys.modules:
        return
    n = n or os.cpu_count() or 1
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        flags = f"{flags} --xla_force_host_platform_device_count={n}"
    for flag in xla_cpu_flags():
        if flag.split("=")[0] not in flags:  # a flag the user set wins
            flags = f"{flags} {flag}"
    os.environ["XLA_FLAGS"] = flags.strip()


def xla_cpu_flags() -> list[str]:
    """XLA settings that make an epoch several times faster and quicker to compile.

    An epoch is a loop of a few hundred tiny steps. By default XLA:CPU runs each fused op of a
    loop body as a separate task ("thunk"), and for arrays this small the dispatch costs more
    than the arithmetic. Raising the byte limit of its small-while-loop pass compiles a whole
    loop into one kernel instead (which needs loops free of `dot`s, see `model.matvec`), and
    turning off YNNPACK fusions keeps them from splitting the loop again (with them on, the
    epoch runs 3x slower). Measured in benchmarks/engine.py.
    """
    flags = ["--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1000000000"]
    # XLA aborts on a flag it does not know; this one is verified on jaxlib 0.10.
    if _jaxlib_version() >= (0, 10):
        flags.append("--xla_cpu_experimental_ynn_fusion_type=")
    return flags


def _jaxlib_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(p) for p in version("jaxlib").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return (0, 0)


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


# -- compiled programs, kept for the rest of the process --------------------------------------

_EXECUTABLES: dict[tuple, Any] = {}  # (name, key, JAX settings) -> compiled program
# Settings that change what a traced program computes; all of them go into the key.
_JAX_SETTINGS = (
    "jax_enable_x64",
    "jax_default_prng_impl",
    "jax_threefry_partitionable",
    "jax_default_matmul_precision",
    "jax_numpy_dtype_promotion",
    "jax_use_shardy_partitioner",
)


def _executable(name: str, key: tuple, lower: Callable[[], Any]) -> Any:
    """The compiled program for `key`, compiled once per process (a second run of the same
    config and shapes, as in a sweep or `reproduce`, neither traces nor compiles again).

    Across processes JAX's persistent cache skips the compile, not the tracing. Caching the
    executable on disk ourselves would skip that too, but XLA:CPU (jaxlib 0.10) serialises a
    loaded program without the kernels it shares with programs compiled before it in the
    same process, so the copy fails to run ("Function ... not found").
    """
    import jax

    full_key = (name, key, tuple(getattr(jax.config, s, None) for s in _JAX_SETTINGS))
    if full_key not in _EXECUTABLES:
        _EXECUTABLES[full_key] = lower().compile(COMPILER_OPTIONS)
    return _EXECUTABLES[full_key]


def seed_devices(config: Config) -> list:
    """The XLA devices to split `config`'s seeds over: all of them, or one for an LSTM too
    large to split safely (see SPLIT_MAX_UNITS). Every many-seed loop must ask here."""
    import jax

    devices = jax.local_devices()
    return devices if config.units <= SPLIT_MAX_UNITS else devices[:1]


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
    make_data: Callable[[Config, int], tuple[Batches, Batches]] | None = None,
    keep_final: bool = False,
) -> History:
    """Train and evaluate `config` for every seed; seeds are independent runs.

    Data and initialisation both come from the seed (data from `config.data_seed` when
    pinned). `make_data(config, seed) -> (train, test)` replaces the sample tasks with any
    `Batches` (equal shapes for every seed); with `keep_final`, `History.final_carry` holds
    each seed's trained parameters and last training state. `on_epoch(epoch, metrics)` is called after every epoch with that epoch's metrics
    for all seeds; `on_progress(stage, done, total)` reports compile and epoch progress.
    """
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from . import engine, rtrl

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("no seeds to run; give --seeds 1 or more.")
    devices = seed_devices(config)
    n_dev = len(devices)
    if chunk_size is None:
        chunk_size = SEEDS_PER_DEVICE * n_dev
    if config.mode == "rtrl":
        # every chunk's carry stays resident for the whole run, so all seeds must fit at once
        fit = rtrl.seeds_that_fit(config)
        if len(seeds) > fit:
            raise rtrl.TooLargeForRTRL(
                f"rtrl needs about {rtrl.bytes_per_seed(config) / 2**30:.2f} GiB per seed here, so "
                f"at most {fit} seeds fit in memory at once, not {len(seeds)}; use --seeds {fit} "
                "or fewer, fewer units, or --mode stateful --horizon K."
            )
        chunk_size = min(chunk_size, fit)
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

    make_data = make_data or seed_batches
    shared = config.data_seed is not None
    # epochs and data_seed do not change the program: one compile serves them all
    program = config.replace(epochs=1, data_seed=None)
    epoch_fn = _compiled_epoch(program, shared, split, whole)
    chunks = [seeds[i : i + chunk_size] for i in range(0, len(seeds), chunk_size)]
    t0 = time.perf_counter()
    init_fn = _compiled_init(program, chunk_size, split)
    init_seconds = time.perf_counter() - t0
    states = []
    for chunk in chunks:
        padded = chunk + [chunk[-1]] * (chunk_size - len(chunk))
        if shared:
            train, test = put(make_data(config, padded[0]), whole)
        else:
            train, test = put(_stack_pairs([make_data(config, s) for s in padded]), split)
        carry, keys = init_fn(np.asarray(padded).astype(np.int32))
        states.append([carry, train, test, keys])
    data_seconds = time.perf_counter() - t0 - init_seconds

    if on_progress:
        on_progress("compile", 0, 1)
    t0 = time.perf_counter()
    epoch0 = np.int32(0)
    carry, train, test, keys = states[0]
    args = (carry, train, test, keys, epoch0)
    shapes = tuple((a.shape, str(a.dtype)) for a in jax.tree.leaves(args))
    placement = (split is not None, n_dev, shared, str(jax.tree.structure(args)), shapes)
    compiled = _executable("epoch", (program, placement), lambda: epoch_fn.lower(*args))
    compile_seconds = time.perf_counter() - t0 + init_seconds  # both programs

    out = {m: np.zeros((config.epochs, len(seeds)), np.float32) for m in engine.EpochMetrics._fields}
    t0 = time.perf_counter()
    total = config.epochs * len(chunks)
    for epoch in range(config.epochs):
        pending = []  # dispatch every chunk first (XLA runs them in order), then wait once
        for st in states:
            st[0], metrics = compiled(st[0], st[1], st[2], st[3], np.int32(epoch))
            pending.append(metrics)
        for i, metrics in enumerate(pending):
            lo = i * chunk_size
            n = len(chunks[i])
            for name, values in zip(engine.EpochMetrics._fields, metrics):
                out[name][epoch, lo : lo + n] = np.asarray(values)[:n]
            if on_progress:
                on_progress("train", epoch * len(chunks) + i + 1, total)
        if on_epoch:
            on_epoch(epoch, {m: out[m][epoch] for m in out})
    run_seconds = time.perf_counter() - t0
    final_carry = None
    if keep_final:
        import jax

        final_carry = jax.tree.map(
            lambda *parts: np.concatenate([np.asarray(p) for p in parts])[: len(seeds)],
            *[(st[0].params, st[0].state) for st in states],
        )
    return History(
        config,
        seeds,
        out,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        timings={"data_seconds": data_seconds, "init_compile_seconds": init_seconds},
        final_carry=final_carry,
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


def _compiled_init(config: Config, chunk_size: int, split):
    """Seeds -> (initial carry, PRNG keys) as one compiled program: one compile, not two."""
    import jax

    from . import engine

    def init(seeds):
        keys = jax.vmap(jax.random.key)(seeds)
        return engine.init_carry_seeds(keys, config, config.batch_size), keys

    seeds = jax.ShapeDtypeStruct((chunk_size,), np.dtype(np.int32))
    placed = {} if split is None else {"in_shardings": split, "out_shardings": split}
    jitted = jax.jit(init, **placed)
    key = (config, chunk_size, split is not None and len(split.mesh.devices.flat))
    return _executable("init", key, lambda: jitted.lower(seeds))


def _stack_pairs(pairs: list[tuple[Batches, Batches]]) -> tuple[Batches, Batches]:
    return _stack([p[0] for p in pairs]), _stack([p[1] for p in pairs])
