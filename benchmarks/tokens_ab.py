"""The char model's update on one-hot vectors against the same model on ids (`Model(inputs=
"tokens")`), interleaved in one process: this VM's speed wanders within minutes, so two separate
runs say little and alternating rounds say more.

Each round runs `fit` (24 updates of `charlm.py`'s model, 2 test batches) once per input form;
the first round compiles and is left out. Prints ms per update, best and median, and checks that
both forms give the same losses.

    PYTHONPATH=src python benchmarks/tokens_ab.py            # LSTM(256), 7 rounds
    PYTHONPATH=src python benchmarks/tokens_ab.py --cell gru --rounds 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import charlm

from statecarry.core import runtime

runtime.use_cpu_cores()  # before JAX starts, as fit's callers do

import numpy as np  # noqa: E402

import statecarry as sc  # noqa: E402

UPDATES = 24


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    spec = sc.Train(mode="stateful", horizon=1, epochs=1, learning_rate=2e-3)
    runs = {}
    for form in ("one-hot", "ids"):
        train, test, vocab = charlm.data(UPDATES, 2, tokens=form == "ids")
        model = sc.Model(cell=args.cell, units=charlm.UNITS, head="softmax", outputs=vocab, features=vocab,
                         inputs="tokens" if form == "ids" else "values")  # fmt: skip
        runs[form] = (train, test, model)
    ms: dict[str, list[float]] = {form: [] for form in runs}
    losses = {}
    for _ in range(args.rounds):
        for form, (train, test, model) in runs.items():
            fit = sc.fit(train, model, spec, seeds=[0], test=test)
            ms[form].append(fit.run_seconds / UPDATES * 1e3)
            losses[form] = float(fit.metrics["test_loss"][-1, 0])
    print(f"{args.cell.upper()}({charlm.UNITS}), batch {charlm.BATCH} x {charlm.STEPS}, {args.rounds - 1} rounds "
          f"after the compiling one; test loss one-hot {losses['one-hot']:.6f}, ids {losses['ids']:.6f}")  # fmt: skip
    for form, values in ms.items():
        kept = values[1:]
        print(f"  {form:8s} ms per update: best {min(kept):.1f}, median {np.median(kept):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
