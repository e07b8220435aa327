"""The runtime: XLA's CPU settings, JAX's persistent compile cache, the process's one cache of
compiled programs, and the devices seeds are split over.

Everything here must be usable before JAX is imported (`use_cpu_cores`), so JAX is imported
inside the functions that need it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import xla
from .spec import GATES, Model, Train
from .xla import (  # noqa: F401
    EPOCH_LOOP_BYTES,
    SMALL_LOOP_BYTES,
    jax_started,
    jaxlib_version,
    use_cpu_cores,
    xla_cpu_flags,
)

SEEDS_PER_DEVICE = 64  # measured best on a 2-core CPU: bigger calls stop paying off
# Seeds per vector register when they are the lanes (engine.run_epoch_lanes): 16 float32 in
# AVX-512 (a multiple of AVX2's 8). Seeds are padded to a multiple of it per device.
LANE_WIDTH = 16
# A vector-matrix product of at most this many multiply-adds (inputs x outputs) is written as
# multiply-and-sum (cells.matvec): a `dot` keeps XLA from compiling the loop around it into one
# kernel, and for LSTM(3) the products are far too small for a matmul routine to pay off. Past
# it the `dot` wins. Measured (fit, 256 seeds, 2 idle cores; benchmarks/RESULTS.md 2026-12-02
# 20:30): LSTM(8) (8 x 32 = 256) at batch 8 ran 4.5x faster written out; LSTM(16) at batch 32
# 3.5x faster with dots, LSTM(32) 5.8x. (The limit was 64 inputs, whatever the outputs.)
SMALL_PRODUCT = 256
# LLVM's -O1 compiles in about half the time of XLA's default and runs as fast (measured in
# benchmarks/engine.py, variant xla-O); the numbers agree to 1e-8.
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
# XLA's YNNPACK fusions are off process-wide (`xla_cpu_flags`: they split tiny models' loops).
# A model whose recurrent product is a matrix product (a `dot`, cells.matvec) gets them back
# for its dots alone: XLA's own matmul for (32, 256) @ (256, 1024) ran 2x slower.
BIG_DOT_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


# The modes whose gradient is the forward pass's own (no online sensitivities): the lanes and
# `kernel_grads` serve them.
CARRY_MODES = ("stateless", "stateful")


def lane_width(model: Model, train: Train) -> int:
    """The multiple a device's seeds are padded to when they may run in the vector lanes
    (`engine.uses_lanes`, which also needs a CPU): LANE_WIDTH for the modes whose gradient is
    the forward pass's own, on models whose gates do not fill a vector register; else 1.
    Without JAX, so memory checks can ask it before the runtime is set up.

    Seeds first (`vmap`), a step's arrays are (seeds, batch, gates x units) and XLA vectorises
    the last axis: LSTM(3)'s 12 gates leave a quarter of a 16-float register empty, the lanes
    fill it. From LSTM(4) on the gates fill it themselves and the lanes only add work (measured,
    256 seeds, batch 8: LSTM(3) 1.2x faster in the lanes, LSTM(4) even, LSTM(8) 2x slower;
    the blog's batch 4 LSTM(3) 2.4x faster)."""
    gates = GATES[model.cell] * model.units
    small = gates < LANE_WIDTH and (model.features or 0) * gates <= SMALL_PRODUCT
    return LANE_WIDTH if small and train.mode in CARRY_MODES else 1


# The most gate values a time step computes on one device (seeds there x batch x gates x units
# x layers) for which loops run faster as one kernel than as XLA's separate tasks, so that a
# process of such models compiles whole epochs so (`small_steps`). Measured one core each, the
# two settings side by side (benchmarks/RESULTS.md 2026-12-04): faster or even at <= 4,096 (the
# blog's 64 lanes x 4 rows x 12 gates = 3,072: 1.10-1.14x; LSTM(4), batch 256: 1.27x); slower
# from 8,192 (LSTM(8), batch 256: 1.44x slower; LSTM(3) in the lanes at batch 64: 1.40x).
SMALL_STEP_FLOATS = 4096


def small_steps(model: Model, train: Train, batch_size: int, seeds: int) -> bool:
    """Whether training `model` on batches of `batch_size` rows, `seeds` at once, takes small
    steps (SMALL_STEP_FLOATS, with the seeds in the lanes), or never compiles a loop whole (its
    products are dots: XLA's pass skips loops holding their YNNPACK fusions), so a process
    running only such models may use `use_cpu_cores(small_steps=True)` and gets the same bits.
    Without JAX, before it starts."""
    if has_dots(model):  # safe only where its dots are YNNPACK fusions (jaxlib 0.10+), which XLA never
        return bool(dot_options(model))  # compiles whole: a plain dot in one kernel ran LSTM(256) 37x slower
    width = lane_width(model, train)
    if width == 1:  # seeds first (`vmap`): RTRL's float32 sums come out in another order as one kernel
        return False
    on_device = min(SEEDS_PER_DEVICE, -(-seeds // width) * width)
    return on_device * batch_size * GATES[model.cell] * model.units * model.layers <= SMALL_STEP_FLOATS


def big_steps(model: Model, train: Train) -> bool:
    """Whether training `model` so takes big steps: its recurrent products are matrix products
    (`has_dots`) and its gradient is `kernel_grads`' (modes stateless and stateful, any
    horizon), so a process running only such models may use `use_cpu_cores(big_steps=True)`
    (`xla.MULTI_OUTPUT_FUSION`). Without JAX, before it starts."""
    return bool(dot_options(model)) and train.mode in CARRY_MODES


_LATE_CHECKED = False  # warn_if_set_up_late has looked (it speaks once a process)
_SMALL_IN_BIG = False  # warn_small_in_big has spoken


def warn_if_set_up_late() -> None:
    """Warn, once a process, when JAX started on the CPU before `use_cpu_cores` could set XLA
    up for the engine and XLA_FLAGS holds none of its settings: XLA then runs with its defaults.
    Asked before every program is compiled (`executable`), so `fit`, `predict` and the rest."""
    import jax

    flags = os.environ.get("XLA_FLAGS", "")
    global _LATE_CHECKED
    if _LATE_CHECKED or xla.SET_UP or os.environ.get("STATECARRY_XLA") == "defaults":
        return
    _LATE_CHECKED = True  # once a process
    if jax.default_backend() != "cpu":
        return
    if "device_count" in flags or "small_while_loop" in flags:  # the user set XLA up their own way
        return
    import warnings

    warnings.warn(
        f"JAX started before statecarry could set XLA up for it, so XLA's CPU backend runs with "
        f"its defaults on {len(jax.devices())} device(s) (the blog's LSTM(3) at 256 seeds trains "
        "14x slower so); import statecarry before anything that starts JAX, or call "
        "statecarry.core.runtime.use_cpu_cores() first (STATECARRY_XLA=defaults silences this).",
        RuntimeWarning,
        stacklevel=_user_level(),
    )


def _user_level() -> int:
    """The `stacklevel` of the first caller outside statecarry, so a warning names the user's
    line whichever of `fit`, `predict`, ... compiled the program."""
    import sys

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1  # the function that warns
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def warn_small_in_big(model: Model | None, train: Train | None = None) -> None:
    """Warn, once a process, when a process set up for big steps compiles a program for a model
    that does not take them (`big_steps`; without `train`, one without matrix products): its
    loops miss XLA's small-loop pass, or its online mode's products run slower."""
    global _SMALL_IN_BIG
    if _SMALL_IN_BIG or model is None or not xla.set_up_for_big_steps():
        return
    takes_them = big_steps(model, train) if train is not None else has_dots(model)
    if takes_them:
        return
    _SMALL_IN_BIG = True
    import warnings

    what = f"{model.cell.upper()}({model.units})" + (f" in mode {train.mode!r}" if has_dots(model) and train else "")
    warnings.warn(
        f"this process set XLA up for big models (use_cpu_cores(big_steps=True)), but {what} does not "
        "take big steps (runtime.big_steps): it trains slower so, up to 30x for a small model (the "
        "blog's LSTM(3)); train it in a process set up without big_steps.",
        RuntimeWarning,
        stacklevel=_user_level(),
    )


def is_dot(inputs: int, outputs: int) -> bool:
    """Whether a vector-matrix product of this size is written as a matrix product (a `dot`)
    rather than multiply-and-sum (cells.matvec; SMALL_PRODUCT)."""
    return inputs * outputs > SMALL_PRODUCT


def has_dots(model: Model) -> bool:
    """Whether the model's recurrent product is a matrix product (cells.matvec)."""
    return is_dot(model.units, GATES[model.cell] * model.units)


def dot_options(model: Model | None) -> dict:
    """BIG_DOT_OPTIONS for a model whose recurrent product is a `dot`, else none."""
    big = model is not None and has_dots(model) and jaxlib_version() >= (0, 10)
    return dict(BIG_DOT_OPTIONS) if big else {}


def compiler_options(model: Model | None = None) -> dict:
    """XLA's options for one of fit's programs of `model` (see BIG_DOT_OPTIONS)."""
    return {**COMPILER_OPTIONS, **dot_options(model)}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "statecarry" / "jax"


_PROGRAM_DIR: Path | None = None  # where traced programs are stored (programs.py), if anywhere


def enable_compile_cache(path: Path | None = None) -> None:
    """JAX's persistent compilation cache, so a second invocation does not recompile, and
    statecarry's store of traced programs beside it, so it does not trace again either."""
    import jax

    global _PROGRAM_DIR
    path = path or cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a read-only home: run without the cache rather than fail
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _PROGRAM_DIR = path.parent / f"{path.name}-programs"


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


def executable(
    name: str, key: tuple, fn: Callable, args: tuple, model: Model | None = None, train: Train | None = None,
    **jit_options: Any,
) -> Any:
    """`jax.jit(fn, **jit_options)` compiled for `args` (arrays or shapes), once per process
    and `key` (a second run of the same config and shapes, as in a sweep or `reproduce`,
    neither traces nor compiles again). `model` picks its compiler options, and with `train`
    says whether it takes the steps this process was set up for (`warn_small_in_big`).

    With `enable_compile_cache`, later processes skip the tracing too (`programs.py`).
    Caching the compiled executable itself on disk would skip more, but XLA:CPU (jaxlib
    0.10) serialises a loaded program without the kernels it shares with programs compiled
    before it in the same process, so the copy fails to run ("Function ... not found").
    """
    import jax

    from . import programs

    warn_if_set_up_late()
    warn_small_in_big(model, train)
    options = compiler_options(model)
    full_key = (name, key, tuple(getattr(jax.config, s, None) for s in _JAX_SETTINGS), tuple(sorted(options.items())))
    if full_key not in _EXECUTABLES:
        _EXECUTABLES[full_key] = programs.compiled(full_key, fn, args, jit_options, options, _PROGRAM_DIR)
    return _EXECUTABLES[full_key]


def local_devices() -> list:
    """`jax.local_devices()`; where JAX first starts a backend, so a platform asked for
    (JAX_PLATFORMS=cuda on a machine without one) that cannot start is one sentence."""
    import jax

    try:
        return jax.local_devices()
    except (RuntimeError, AssertionError) as e:  # jax 0.10 raises a bare AssertionError
        from ..errors import ConfigError

        asked = jax.config.jax_platforms or os.environ.get("JAX_PLATFORMS") or "the default"
        raise ConfigError(
            f"JAX cannot start the platform {asked!r} asked for by JAX_PLATFORMS on this machine"
            f"{f' ({e})' if str(e) else ''}; unset JAX_PLATFORMS or set JAX_PLATFORMS=cpu."
        ) from None


_PROGRAM_CACHES: list = []  # predict's, rollout's, evaluate's jitted programs, per model


def program_cache(make: Callable) -> Callable:
    """`functools.lru_cache` for a function that builds a jitted program, registered so that
    `clear_cache` empties it too."""
    cached = functools.lru_cache(maxsize=64)(make)
    _PROGRAM_CACHES.append(cached)
    return cached


def clear_cache() -> None:
    """Forget every compiled program of this process (the next `fit` or `predict` compiles
    again): the one place statecarry keeps them."""
    _EXECUTABLES.clear()
    for cached in _PROGRAM_CACHES:
        cached.cache_clear()
