"""The copy task across batches, over seeds: which gradient learns to recall a pattern shown
`distance` batches back?

Every sample opens with a `pattern`-bit pattern (±1) and is blank after it; its target is the
pattern of the collocated sample `distance` batches back (`experiments/tasks.py: copy`), one
sigmoid + BCE output per bit. For each mode, the same seeds: final determined-bit accuracy on
the test set (mean, 95% t interval) and the solved fraction (bit accuracy ≥ 0.99, Wilson 95%).

    PYTHONPATH=src python benchmarks/copy_task.py [--seeds 16] [--epochs 50] [--units 8]
        [--pattern 2] [--distance 2] [--n-train 1024] [--lr 1e-2]

prints a markdown table (and the machine, load and seconds per mode).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from statecarry import stats
from statecarry.experiments.blog import run, use_cpu_cores
from statecarry.experiments.config import Config


def modes(distance: int) -> dict[str, dict]:
    """Horizon 1 (Keras), the horizon that just covers the delay (the target's batch and the
    `distance` batches before it) and four times that, and the online modes, which reach the
    whole history since the epoch's reset."""
    return {
        "horizon 1": {"mode": "stateful", "horizon": 1},
        f"horizon {distance + 1}": {"mode": "stateful", "horizon": distance + 1},
        f"horizon {4 * (distance + 1)}": {"mode": "stateful", "horizon": 4 * (distance + 1)},
        "snap1": {"mode": "snap1"},
        "uoro": {"mode": "uoro"},
        "rtrl": {"mode": "rtrl"},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--units", type=int, default=8)
    ap.add_argument("--pattern", type=int, default=2)
    ap.add_argument("--distance", type=int, default=2)
    ap.add_argument("--time-steps", type=int, default=5)
    ap.add_argument("--n-train", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--modes", default=None, help="comma-separated subset of the modes")
    a = ap.parse_args()
    use_cpu_cores()
    base = Config(task="copy", pattern=a.pattern, distance=a.distance, time_steps=a.time_steps, units=a.units,
                  loss="bce", learning_rate=a.lr, epochs=a.epochs, n_train=a.n_train, n_test=256)  # fmt: skip
    wanted = modes(a.distance)
    if a.modes:
        wanted = {k: v for k, v in wanted.items() if k in a.modes.split(",")}
    seeds = list(range(a.seeds))
    print(f"copy: pattern {a.pattern} bits, delay {a.distance} batches ({a.distance * a.time_steps} steps), "
          f"LSTM({a.units}), batch 4, {a.n_train} training samples, {a.epochs} epochs, Adam {a.lr}, "
          f"seeds 0..{a.seeds - 1}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print("| gradient | determined bit accuracy (95% CI) | solved (≥ 0.99) | seconds |")
    print("|---|---:|---:|---:|")
    for name, changes in wanted.items():
        t0 = time.perf_counter()
        history = run(base.replace(**changes), seeds)
        acc = history.final("test_known_acc")
        mean = stats.mean_ci(acc, bounds=stats.ACCURACY)
        solved = stats.solved_fraction(acc)
        print(f"| {name} | {mean} | {solved.mean:.0%} {solved.bracket('.0%')} | {time.perf_counter() - t0:.0f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
