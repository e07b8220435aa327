"""A learning-rate sweep as a new user runs it: points per second, this tree against another.

`statecarry sweep first-step --grid "lr=…" --seeds S` with P learning rates spaced evenly
in log space, process start to exit, empty compile caches, nothing stored. With Adam's
hyperparameters as data (core/optim.py) every point runs the one compiled program; a tree
without that (`--before`, e.g. a checkout of main) compiles a program per point. The two run
alternately in the same script, so the machine's load falls on both.

    PYTHONPATH=src python benchmarks/sweep_lr.py --points 64 --seeds 64 --before /work/main/src
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def sweep_seconds(src: str, points: int, seeds: int) -> float:
    grid = ",".join(f"{lr:.3g}" for lr in np.geomspace(1e-4, 1e-1, points))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)  # src first
        env = dict(os.environ, PYTHONPATH=path, XDG_CACHE_HOME=tmp, STATECARRY_HOME=tmp)
        env.pop("XLA_FLAGS", None)
        cmd = [sys.executable, "-m", "statecarry", "sweep", "first-step", "--grid", f"lr={grid}",
               "--seeds", str(seeds), "--no-store", "-q", "--json"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--before", help="another tree's src/ to compare with")
    args = parser.parse_args()
    trees = {"this tree": str(HERE.parent / "src")}
    if args.before:
        trees["before"] = args.before
    load = os.getloadavg()[0]
    print(f"| tree | s for {args.points} points × {args.seeds} seeds | points/s | seed runs/s |")
    print("|---|---:|---:|---:|")
    for name, src in trees.items():
        s = sweep_seconds(src, args.points, args.seeds)
        print(f"| {name} | {s:.1f} | {args.points / s:.2f} | {args.points * args.seeds / s:.0f} |",
              flush=True)  # fmt: skip
    print(f"\nload {load:.1f} → {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
