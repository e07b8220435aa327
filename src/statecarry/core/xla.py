"""XLA's CPU settings for the engine, set in XLA_FLAGS before JAX starts.

Only `os` and `sys` here, so `import statecarry` can set them (`use_cpu_cores`) at the cost of a
few microseconds: the Python API then trains as fast as the CLI, whatever the user imports next.
`STATECARRY_XLA=defaults` leaves XLA at its defaults; a flag already in XLA_FLAGS wins.
"""

from __future__ import annotations

import os
import sys

# Bytes one loop iteration touches (XLA's cost analysis) below which the loop becomes one
# kernel. Measured side by side (2 shared cores): the blog's LSTM(3), 128 seeds, ran no slower
# with 1e6 than with 1e9; char-LM LSTM(256), batch 32 ran 40x faster (1e7 was still slow; since
# then its dots are YNNPACK custom fusions, which the pass skips whatever the limit). No single
# limit serves every model (benchmarks/RESULTS.md, 2026-12-04 18:10): the blog's whole epoch
# (a loop of batches holding the time loops, 1.2-1.5e6 bytes at 64 lanes) would run 10-14%
# faster as one kernel and RTRL's 1.6x, but LSTM(8) at batch 256 has a backward time loop of
# 1.0-1.05e6 bytes that runs 1.44x slower as one kernel, and LSTM(3) in the lanes at batch 64
# 1.40x slower with the limit at 1e8. XLA reads the limit once per process (a per-compile
# override of this map-valued option is refused), and its pass skips any loop holding a sort,
# scatter or custom call; a two-element sort per step to keep big steps out costs more than it
# saves (LSTM(8), batch 256: 2.1x slower than today).
SMALL_LOOP_BYTES = 1_000_000
# The limit for a process whose models all take small steps (`runtime.small_steps`: the blog's
# runs, sweeps and claims): every loop free of dots becomes one kernel, whole epochs included.
# The blog's run at 1,024 seeds 10-14% faster, the same bits (RESULTS.md 2026-12-04; RTRL would
# run 1.6x faster but not to the bit, so `small_steps` leaves seeds-first programs out).
EPOCH_LOOP_BYTES = 100_000_000
# For a process whose models all take big steps (`runtime.big_steps`: matrix products, the
# gradient of `kernel_grads`): XLA's multi-output fusion, which computes sibling elementwise
# fusions that read the same arrays (an LSTM's gates, their gradients) as one task. The char
# model's fit 1.02-1.12x faster, LSTM(32) 1.1x, the same losses to the printed digits; off for
# everyone else, because it keeps loops out of the small-loop pass (the blog's LSTM(3) in the
# lanes ran 30x slower with it, UORO's LSTM(64) 1.45x). Process-wide like the limit above.
MULTI_OUTPUT_FUSION = "xla_cpu_use_multi_output_fusion=true"

_OWN: list[str] = []  # the flags use_cpu_cores put in XLA_FLAGS; a later call replaces them
OWN_FLAGS = "STATECARRY_XLA_OWN"  # the same, for child processes, which inherit XLA_FLAGS
_WARNED = False  # about a STATECARRY_XLA that is not a setting
SET_UP = False  # whether use_cpu_cores set XLA up before JAX started (runtime.warn_if_set_up_late)


def use_cpu_cores(n: int | None = None, small_steps: bool = False, big_steps: bool = False) -> None:
    """Expose `n` CPU cores (default: all) as XLA host devices, so seed chunks run in parallel,
    and set XLA's CPU backend up for this program's many tiny loops (`xla_cpu_flags`;
    `small_steps`: every model this process will train takes small steps, `runtime.small_steps`;
    `big_steps`: every one takes big steps, `runtime.big_steps`).

    Importing the engine (`statecarry.core`, which `fit` and the CLI do) calls it with all
    cores; call it again before JAX starts to choose another count. A flag already in XLA_FLAGS
    that this call did not put there wins. Once JAX has started a backend (which `import jax`
    alone does not: XLA reads its flags then) it does nothing.
    """
    global SET_UP, _WARNED
    choice = os.environ.get("STATECARRY_XLA", "")
    if jax_started() or choice == "defaults":
        return
    if choice and not _WARNED:
        import warnings

        _WARNED = True
        warnings.warn(f"STATECARRY_XLA={choice!r} is not a setting: only 'defaults' (leave XLA as it is); "
                      "XLA is set up for statecarry as usual.", RuntimeWarning, stacklevel=2)  # fmt: skip
    # ours: what this process put there, or its parent's statecarry (XLA_FLAGS is inherited)
    own = set(_OWN) | set(os.environ.get(OWN_FLAGS, "").split())
    words = [w for w in os.environ.get("XLA_FLAGS", "").split() if w not in own]
    given = " ".join(words)
    flags = xla_cpu_flags(small_steps, big_steps)
    mine = [f"--xla_force_host_platform_device_count={n or os.cpu_count() or 1}", *flags]
    _OWN[:] = [flag for flag in mine if flag.split("=")[0] not in given]
    os.environ["XLA_FLAGS"] = " ".join(words + _OWN)
    os.environ[OWN_FLAGS] = " ".join(_OWN)
    SET_UP = True


def set_up_for_big_steps() -> bool:
    """Whether `use_cpu_cores` put MULTI_OUTPUT_FUSION in XLA_FLAGS (not when the user's own
    `--xla_backend_extra_options` won)."""
    return any(MULTI_OUTPUT_FUSION in flag for flag in _OWN)


def jax_started() -> bool:
    """Whether JAX has started a backend, after which XLA's flags are fixed. `import jax` (or
    keras, optax) alone does not; `jax.devices()` or the first array does."""
    if "jax" not in sys.modules:
        return False
    bridge = sys.modules.get("jax._src.xla_bridge")
    started = getattr(bridge, "backends_are_initialized", None)
    return started() if callable(started) else True  # a JAX without it: assume started


def xla_cpu_flags(small_steps: bool = False, big_steps: bool = False) -> list[str]:
    """XLA settings that make an epoch several times faster and quicker to compile.

    An epoch is a loop of a few hundred tiny steps. By default XLA:CPU runs each fused op of a
    loop body as a separate task ("thunk"), and for arrays this small the dispatch costs more
    than the arithmetic. Raising the byte limit of its small-while-loop pass compiles a whole
    loop into one kernel instead (which needs loops free of `dot`s, see `model.matvec`), and
    turning off YNNPACK fusions keeps them from splitting the loop again (with them on, the
    epoch runs 3x slower). Measured in benchmarks/engine.py.

    Only loops that touch under SMALL_LOOP_BYTES per iteration become one kernel (a big step
    runs faster as XLA's separate tasks); with `small_steps`, loops up to EPOCH_LOOP_BYTES;
    with `big_steps`, MULTI_OUTPUT_FUSION too.
    """
    limit = EPOCH_LOOP_BYTES if small_steps else SMALL_LOOP_BYTES
    extra = f"xla_cpu_small_while_loop_byte_threshold={limit}"
    # XLA aborts on a flag it does not know; these are verified on jaxlib 0.10.
    newer = jaxlib_version() >= (0, 10)
    if big_steps and newer:
        extra += "," + MULTI_OUTPUT_FUSION
    flags = [f"--xla_backend_extra_options={extra}"]
    if newer:
        flags.append("--xla_cpu_experimental_ynn_fusion_type=")
        # 512-bit vectors where the CPU has them: with the seeds in the lanes, 16 seeds per
        # instruction; the blog's run at 1,024 seeds went from 1,610 to 2,130 runs/s.
        flags.append("--xla_cpu_prefer_vector_width=512")
    return flags


_JAXLIB: tuple[int, ...] | None = None


def jaxlib_version() -> tuple[int, ...]:
    """jaxlib's (major, minor), from its wheel's `.dist-info` folder name on `sys.path`
    (`importlib.metadata` costs 10-20 ms to import; this, a directory listing or two)."""
    global _JAXLIB
    if _JAXLIB is None:
        _JAXLIB = (0, 0)
        for folder in filter(None, sys.path):  # "" (the working directory) never holds it
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            found = [n for n in names if n.startswith("jaxlib-") and n.endswith(".dist-info")]
            if found:
                _JAXLIB = _major_minor(found[0][len("jaxlib-"):])
                break
        else:  # not a wheel (a source build): ask the slow way
            import contextlib
            from importlib.metadata import PackageNotFoundError, version

            with contextlib.suppress(PackageNotFoundError):
                _JAXLIB = _major_minor(version("jaxlib"))
    return _JAXLIB


def _major_minor(text: str) -> tuple[int, ...]:
    parts = text.split(".")[:2]
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (0, 0)
