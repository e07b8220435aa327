"""The char model's `fit` with the kernels' gradients after the loop (`core/kernel_grads.py`, the
engine's path for models with dots) against plain autodiff of the loop (`cells.forward`, the
engine before it), in fresh processes alternated pair by pair: this VM's speed wanders within
minutes, so only alternating pairs say anything. `--big-steps`: instead, the engine as it is
with XLA set up as usual against set up for big steps (`use_cpu_cores(big_steps=True)`, XLA's
multi-output fusion, what `statecarry train` picks for such a model).

Each process runs `charlm.py`'s model (12 updates an epoch, 2 epochs, 4 test batches) `--fits`
times and keeps its fastest run after the compiling one. Prints each pair, the median of each
side, their ratio, and the final test loss of each (equal to float32 rounding).

    PYTHONPATH=src python benchmarks/kernel_grads_ab.py                        # LSTM(256)
    PYTHONPATH=src python benchmarks/kernel_grads_ab.py --layers 2 --pairs 3
    PYTHONPATH=src python benchmarks/kernel_grads_ab.py --cell gru --horizon 4
    PYTHONPATH=src python benchmarks/kernel_grads_ab.py --big-steps --horizon 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(side: str, cell: str, layers: int, horizon: int, fits: int) -> dict:
    sys.path.insert(0, str(HERE))
    import charlm

    import statecarry as sc
    from statecarry.core import cells, kernel_grads, runtime

    runtime.use_cpu_cores(big_steps=side == "big steps")  # before JAX starts
    if side == "plain":  # the engine before: autodiff through the loop, kernels and all
        kernel_grads.forward = lambda p, m, s, x, r, k=None: cells.forward(p, m, s, x, r, k)
    train, test, vocab = charlm.data(12, 4, True)
    model = sc.Model(cell=cell, units=charlm.UNITS, layers=layers, head="softmax", outputs=vocab,
                     features=vocab, inputs="tokens")  # fmt: skip
    spec = sc.Train(mode="stateful", horizon=horizon, epochs=2, learning_rate=2e-3)
    runs = [sc.fit(train, model, spec, seeds=[0], test=test) for _ in range(fits)]
    return {"s": min(r.run_seconds for r in runs[1:]), "loss": float(runs[-1].metrics["test_loss"][-1, 0])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--fits", type=int, default=4, help="fits per process (the first compiles)")
    parser.add_argument("--big-steps", action="store_true", help="XLA's usual set-up against big steps'")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.cell, args.layers, args.horizon, args.fits)))
        return 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")]))
    common = ["--cell", args.cell, "--layers", str(args.layers), "--horizon", str(args.horizon), "--fits", str(args.fits)]
    a, b = ("after", "big steps") if args.big_steps else ("plain", "after")
    seconds = {a: [], b: []}
    losses = {}
    print(f"{args.cell.upper()}(256) x {args.layers}, horizon {args.horizon}; fit run s, best of {args.fits - 1} "
          f"per process (load {os.getloadavg()[0]:.1f})")  # fmt: skip
    for _ in range(args.pairs):
        for side in seconds:
            out = subprocess.run([sys.executable, __file__, "--child", side, *common], env=env,
                                 capture_output=True, text=True, check=True)  # fmt: skip
            got = json.loads(out.stdout.strip().splitlines()[-1])
            seconds[side].append(got["s"])
            losses[side] = got["loss"]
        print(f"  {a} {seconds[a][-1]:.3f}  {b} {seconds[b][-1]:.3f}")
    first, second = statistics.median(seconds[a]), statistics.median(seconds[b])
    print(f"median {a} {first:.3f} s, {b} {second:.3f} s: {first / second:.2f}x; "
          f"test loss {losses[a]:.6f} / {losses[b]:.6f} (load {os.getloadavg()[0]:.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
