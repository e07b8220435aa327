"""Bits per character of a 256-unit character model: horizons against UORO and SnAp-1.

The model and text are `charlm.py`'s (the language reference shipped in `pydoc_data`, one-hot
characters -> LSTM(256) -> softmax, batch 32, 64 steps per batch, the state carried from batch to
batch). Every mode trains from the same initial weights on the same batches for the same number
of updates, over `--seeds` seeds at once; reported: bits per character on the held-out tail of
the text (mean and 95% interval over seeds), seconds per update, and peak resident memory,
each mode in a fresh process. RTRL is not trained: the engine's memory estimate refuses it
before any work, and its sentence is printed.

    PYTHONPATH=src python benchmarks/charlm_online.py                    # every mode, a table
    PYTHONPATH=src python benchmarks/charlm_online.py --modes h1,uoro --batches 8 --epochs 1

Equal updates, not equal compute: the seconds column says what each update cost.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = {"h1": ("stateful", 1), "h4": ("stateful", 4), "h16": ("stateful", 16),
         "uoro": ("uoro", 1), "snap1": ("snap1", 1), "rtrl": ("rtrl", 1)}  # fmt: skip


def train(name: str, batches: int, test_batches: int, epochs: int, seeds: int) -> dict:
    """One mode in this process: bits per character per seed, seconds, peak RSS."""
    import statecarry as sc
    from statecarry.core import runtime
    from statecarry.errors import StatecarryError

    sys.path.insert(0, str(HERE))
    import charlm

    train_b, test_b, vocab = charlm.data(batches, test_batches)
    mode, horizon = MODES[name]
    model = sc.Model(cell="lstm", units=charlm.UNITS, head="softmax", outputs=vocab)
    spec = sc.Train(mode=mode, horizon=horizon, epochs=epochs, learning_rate=2e-3)
    runtime.use_cpu_cores(big_steps=runtime.big_steps(model, spec))  # as `statecarry train` would
    import numpy as np
    try:
        result = sc.fit(train_b, model, spec, seeds=list(range(seeds)), test=test_b)
    except StatecarryError as e:
        return {"refused": str(e)}
    bpc = np.asarray(result.metrics["test_loss"])[-1] / math.log(2)
    return {"bpc": [float(b) for b in bpc], "train_s": result.run_seconds,
            "compile_s": result.compile_seconds, "updates": epochs * train_b.x.shape[0],
            "peak_rss_mb": charlm.peak_rss_mb()}


def interval(values: list[float]) -> str:
    from statecarry.stats import mean_ci

    return str(mean_ci(values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    parser.add_argument("--batches", type=int, default=48, help="updates per epoch")
    parser.add_argument("--test-batches", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="one JSON line per mode")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import charlm

    names = args.modes.split(",")
    unknown = [n for n in names if n not in MODES]
    if unknown:
        parser.error(f"unknown mode {unknown[0]!r}; choose from {', '.join(MODES)}")
    load_before = os.getloadavg()[0]
    rows = {}
    for name in names:
        rows[name] = charlm.child("train", name, args.batches, args.test_batches, args.epochs,
                                  args.seeds, module="charlm_online")
        if args.json:
            print(json.dumps({"mode": name, **rows[name]}), flush=True)
    if args.json:
        return 0
    print(f"| mode | bits per character ({args.seeds} seeds, 95% CI) | s per update | "
          "peak RSS MB | compile s |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        if "refused" in r:
            print(f"| {name} | refused: {r['refused']} | | | |")
            continue
        print(f"| {name} | {interval(r['bpc'])} | {r['train_s'] / r['updates']:.3f} | "
              f"{r['peak_rss_mb']:.0f} | {r['compile_s']:.1f} |")
    print(f"\n{args.batches * args.epochs} updates of batch 32 x 64 steps; load {load_before:.1f} → "
          f"{os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
