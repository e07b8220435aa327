"""The memory estimate (`core/memory.py`) against measured peak RSS, shape by shape.

Each shape runs `blog.run` in a fresh process and measures what the run added to the peak
resident set (VmHWM after the run minus VmHWM just before it, after JAX is
imported and its CPU client made). The estimate is `memory.estimate` for the seeds the run
holds at once, plus every seed's kept results. Ratio = estimate / measured: above 1 means the
estimate errs on the safe side.

    python benchmarks/memory.py                      # the table below, printed as Markdown
    python benchmarks/memory.py --seeds-sweep        # 1,024 / 16,384 / 65,536 seeds, 1 epoch
    python benchmarks/memory.py --one '{"units": 8}' 4   # one shape, one JSON line

tests/test_memory.py runs a few small shapes the same way and checks the ratio is within 2x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

SHAPES = [  # (Config fields, seeds): each moves a different part of the estimate
    ({"epochs": 1}, 1),
    ({"epochs": 1}, 1024),
    ({"epochs": 1, "units": 2048, "n_train": 16, "n_test": 16}, 1),
    ({"epochs": 1, "n_train": 400_000, "n_test": 4}, 1),
    ({"epochs": 1, "mode": "rtrl", "units": 24, "n_train": 64, "n_test": 16}, 8),
    ({"epochs": 1, "mode": "rtrl", "units": 48, "n_train": 16, "n_test": 16}, 2),
    ({"epochs": 1, "horizon": 8, "units": 64, "batch_size": 32, "n_train": 1024, "n_test": 64}, 4),
]
SEED_SWEEP = [1024, 16_384, 65_536]


def high_water() -> int:
    """This process's peak resident set in bytes (VmHWM). Not `ru_maxrss`: Linux carries that
    over from the parent across fork and exec, so a child of a big process (pytest after some
    fits) starts with the parent's peak and a small run seems to add nothing."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def child(fields: dict, seeds: int) -> dict:
    """Runs in the measuring process: one `blog.run`, and what it added to the peak RSS."""
    from statecarry.core import memory, runtime
    from statecarry.core.runtime import lane_width

    runtime.use_cpu_cores()
    import jax

    from statecarry.experiments import blog
    from statecarry.experiments.config import Config

    config = Config(**fields)
    jax.numpy.zeros(1).block_until_ready()
    before = high_water()
    t0 = time.perf_counter()
    blog.run(config, range(seeds))
    seconds = time.perf_counter() - t0
    peak = high_water()
    need = blog.memory_needed(config)
    chunk = runtime.SEEDS_PER_DEVICE * len(runtime.local_devices())
    width = lane_width(config.model_spec(), config.train_spec())  # as fit pads the seeds
    chunk, wave = memory.plan(need, -(-seeds // width) * width, max(chunk, width))
    return {"measured": peak - before, "estimate": need.total(wave, seeds), "at_once": wave,
            "seconds": seconds, "parts": need.describe(wave, seeds)}  # fmt: skip


def measure(fields: dict, seeds: int) -> dict:
    """`child` in a fresh process (so one shape's peak does not hide the next one's)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    out = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(fields), str(seeds)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("FIELDS", "SEEDS"))
    parser.add_argument("--seeds-sweep", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(child(json.loads(args.one[0]), int(args.one[1]))))
        return
    shapes = [({"epochs": 1}, s) for s in SEED_SWEEP] if args.seeds_sweep else SHAPES
    load = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; load before {load[0]:.2f}")  # fmt: skip
    print("\n| shape | seeds | at once | measured MiB | estimate MiB | estimate / measured | s | parts |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for fields, seeds in shapes:
        r = measure(fields, seeds)
        shape = ", ".join(f"{k}={v}" for k, v in fields.items())
        print(f"| {shape} | {seeds:,} | {r['at_once']:,} | {mib(r['measured'])} | {mib(r['estimate'])} "
              f"| {r['estimate'] / r['measured']:.2f} | {r['seconds']:.1f} | {r['parts']} |", flush=True)  # fmt: skip
    print(f"\nload after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
