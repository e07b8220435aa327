"""Where the engine's time goes: runs per second against chunk size, devices and XLA settings.

Every variant runs in its own subprocess (XLA flags and the device count are fixed when JAX is
imported) on the blog's experiment (first-step, stateful, 5 epochs, LSTM(3), batch 4, 1024/256
samples). For each chunk size it calls `statecarry.experiments.blog.run` `--repeat` times and keeps the
fastest run; compile time is reported separately (the first call, an empty compile cache).

    python benchmarks/engine.py                          # tuned engine, 1 and 2 devices
    python benchmarks/engine.py --variants stock,tuned   # against XLA's defaults
    python benchmarks/engine.py --seeds 256 --chunks 16,64,256 --devices 1

Variants: `tuned` (what `statecarry` runs); `stock` (the engine before tuning: XLA's default
CPU settings and -O level, the time loop unrolled 8x, `@` for every product); and ablations of
`tuned`: `no-hoist` (XLA's default small-while-loop limit), `ynn` (YNNPACK fusions on), `dot`
(`@` instead of multiply-and-sum), `unroll5` (time loop unrolled), `xla-O` (XLA's default
LLVM -O level instead of -O1), `vec512` (512-bit vectors). Runs per second are wall clock;
`cpu s/run` (the whole `run` call's process CPU time, compile included, per run) is the figure
to trust when other jobs share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

VARIANTS = {
    # name: (flags to drop from the tuned set, flags to add, module attributes to set)
    "tuned": ((), (), {}),
    "stock": ("all", (), {"cells.TIME_UNROLL": 8, "cells.SMALL_PRODUCT": 0,
                          "runtime.COMPILER_OPTIONS": {}}),
    "no-hoist": (("--xla_backend_extra_options",), (), {}),
    "ynn": (("--xla_cpu_experimental_ynn_fusion_type",), (), {}),
    "dot": ((), (), {"cells.SMALL_PRODUCT": 0}),
    "unroll5": ((), (), {"cells.TIME_UNROLL": 5}),
    "xla-O": ((), (), {"runtime.COMPILER_OPTIONS": {}}),
    "vec512": ((), ("--xla_cpu_prefer_vector_width=512",), {}),
}


def child(spec: dict) -> None:
    """Runs inside the subprocess: set flags, import JAX, time the runs, print JSON lines."""
    import time

    from statecarry.core import runtime

    drop, add, overrides = VARIANTS[spec["variant"]]
    tuned = runtime.xla_cpu_flags()
    keep = [] if drop == "all" else [f for f in tuned if f.split("=")[0] not in drop]
    os.environ["XLA_FLAGS"] = " ".join(
        [f"--xla_force_host_platform_device_count={spec['devices']}", *keep, *add]
    )
    import jax

    from statecarry.core import cells
    from statecarry.experiments import blog as runner
    from statecarry.experiments.config import Config

    for name, value in overrides.items():
        module, attr = name.split(".")
        setattr({"cells": cells, "runtime": runtime}[module], attr, value)
    runtime.enable_compile_cache()  # pointed at an empty temp dir by the parent
    config = Config(task="first-step", mode="stateful", epochs=5)
    seeds = list(range(spec["seeds"]))
    assert jax.device_count() == spec["devices"]
    for chunk in spec["chunks"]:
        best, cpu, compile_seconds = float("inf"), float("inf"), None
        for _ in range(spec["repeat"]):
            c0 = time.process_time()
            history = runner.run(config, seeds, chunk_size=chunk)
            cpu = min(cpu, time.process_time() - c0)
            best = min(best, history.run_seconds)
            if compile_seconds is None:
                compile_seconds = history.compile_seconds
        print(
            json.dumps(
                {
                    "variant": spec["variant"],
                    "devices": spec["devices"],
                    "chunk": chunk,
                    "seeds": len(seeds),
                    "compile_s": compile_seconds,
                    "run_s": best,
                    "runs_per_s": len(seeds) / best,
                    "cpu_s_per_run": cpu / len(seeds),
                }
            ),
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1024)
    parser.add_argument("--chunks", default="32,64,128,256", help="seeds per compiled call")
    parser.add_argument("--devices", default="1,2", help="XLA host devices")
    parser.add_argument("--variants", default="tuned", help=f"any of {','.join(VARIANTS)}")
    parser.add_argument("--repeat", type=int, default=3, help="runs per point; the best is kept")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    print(f"{'variant':<9} {'dev':>3} {'chunk':>5} {'seeds':>5} {'compile s':>9} {'run s':>7} "
          f"{'runs/s':>7} {'cpu s/run':>9}")
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        for devices in map(int, args.devices.split(",")):
            chunks = [c for c in map(int, args.chunks.split(",")) if c <= args.seeds]
            spec = dict(variant=variant, devices=devices, chunks=chunks, seeds=args.seeds,
                        repeat=args.repeat)
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, XDG_CACHE_HOME=cache)
                env.pop("XLA_FLAGS", None)
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", json.dumps(spec)],
                    env=env, capture_output=True, text=True,
                )
            if proc.returncode:
                print(proc.stderr[-2000:], file=sys.stderr)
                return proc.returncode
            for line in proc.stdout.splitlines():
                r = json.loads(line)
                print(f"{r['variant']:<9} {r['devices']:>3} {r['chunk']:>5} {r['seeds']:>5} "
                      f"{r['compile_s']:>9.2f} {r['run_s']:>7.3f} {r['runs_per_s']:>7.0f} "
                      f"{r['cpu_s_per_run'] * 1e3:>7.2f}ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
