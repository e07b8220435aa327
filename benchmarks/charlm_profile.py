"""Where one gradient of the char model spends its time, op by op, and what else was tried.

Times one `batch_loss` gradient (or forward pass) of `benchmarks/charlm.py`'s model on one
batch (32 x 64 characters, as ids unless `--inputs one-hot`), compiled as `fit` compiles it,
then records a few calls with JAX's profiler and lists XLA:CPU's tasks ("thunks") by total
time: per step, the
recurrent product, the products for the weight gradients, the adds that accumulate those
gradients, the gates' elementwise work.

`--variants` also times, side by side and interleaved, plain JAX versions of one LSTM(256)
layer's gradient (not statecarry's code; the same shapes), each checked against autodiff:

- `autodiff`: a scan of `x @ Wx + h @ Wh + b`, differentiated by JAX (statecarry's form);
- `hoisted-input`: the input product for all 64 steps as one product before the loop;
- `hoisted-split`: the same, split into the four gates' inputs before the loop
  (`slice_codegen.py`: slicing a per-step input inside the loop leaves it unvectorised);
- `joint-product`: `[x, h] @ [Wx; Wh]`, one product per step;
- `weights-after`: a hand-written backward (`custom_vjp`) whose weight gradients are products
  over all steps after the loop, `Wh`'s transpose laid out once;
- `weights-per-8`: the same, weight gradients once per block of 8 steps.

    PYTHONPATH=src python benchmarks/charlm_profile.py                 # LSTM(256), gradient
    PYTHONPATH=src python benchmarks/charlm_profile.py --cell gru --forward
    PYTHONPATH=src python benchmarks/charlm_profile.py --variants
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import charlm

from statecarry.core import runtime

runtime.use_cpu_cores(big_steps=True)  # before JAX starts: the host devices and XLA flags fit uses

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import lstm_variants  # noqa: E402
import numpy as np  # noqa: E402

import statecarry as sc  # noqa: E402
from statecarry.core import cells  # noqa: E402
from statecarry.core.batch import batch_loss  # noqa: E402
from statecarry.data.layout import Batches  # noqa: E402


def best_ms(fn, args, calls: int = 8) -> float:
    """The fastest of `calls` calls, in ms."""
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def thunks(fn, args, calls: int = 5) -> list[tuple[str, float, int]]:
    """(task, ms per call, runs per call) from a profiler trace, largest first."""
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder, create_perfetto_trace=True)
        for _ in range(calls):
            jax.block_until_ready(fn(*args))
        jax.profiler.stop_trace()
        with gzip.open(sorted(glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True))[-1]) as file:
            trace = json.load(file)
    total, count = collections.Counter(), collections.Counter()
    for event in trace["traceEvents"] if isinstance(trace, dict) else trace:
        name = event.get("name", "")
        enclosing = name.startswith(("$", "while")) or "Execute" in name or "Pjit" in name
        if event.get("ph") == "X" and not enclosing:  # the tasks themselves, not what holds them
            total[name] += event["dur"]
            count[name] += 1
    return [(name, us / calls / 1e3, count[name] // calls) for name, us in total.most_common()]


def profile(cell: str, forward: bool, top: int, inputs: str = "tokens") -> None:
    tokens = inputs == "tokens"
    train, _, vocab = charlm.data(2, 1, tokens)
    model = sc.Model(cell=cell, units=charlm.UNITS, layers=1, head="softmax", outputs=vocab, features=vocab,
                     inputs="tokens" if tokens else "values")  # fmt: skip
    spec = sc.Train(mode="stateful", horizon=1, epochs=1)
    params = cells.init(jax.random.key(0), model)
    batch = Batches(*(jnp.asarray(np.asarray(a)[0]) for a in train))
    batch = batch._replace(reset=batch.reset[..., :1])  # as fit passes a stream's batches
    state = cells.zeros_state(model, charlm.BATCH)

    def loss(p):
        return batch_loss(p, state, batch, model, spec)[0]

    fn = jax.jit(loss if forward else jax.grad(loss)).lower(params).compile(compiler_options=runtime.dot_options(model))
    jax.block_until_ready(fn(params))
    what = "forward" if forward else "gradient"
    print(f"{cell.upper()}({charlm.UNITS}) {what} on {inputs}, batch {charlm.BATCH} x {charlm.STEPS} steps: "
          f"{best_ms(fn, (params,)):.1f} ms (best of 8); by task (profiled, so slower):")  # fmt: skip
    print(f"{'ms per call':>11}  {'runs':>4}  {'us per run':>10}  task")
    for name, ms, runs in thunks(fn, (params,))[:top]:
        print(f"{ms:11.2f}  {runs:4d}  {ms * 1e3 / max(runs, 1):10.1f}  {name[:70]}")


def variants(rounds: int) -> None:
    fns, args = lstm_variants.compiled(runtime.BIG_DOT_OPTIONS)
    reference = jax.tree.leaves(fns["autodiff"](*args))
    for name, fn in fns.items():
        got = jax.tree.leaves(fn(*args))
        err = max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))) for a, b in zip(got, reference))
        print(f"{name:14s} gradient vs autodiff: max relative difference {err:.1e}")
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):  # interleaved: this VM's speed wanders within minutes
        for name, fn in fns.items():
            best[name] = min(best[name], best_ms(fn, args, calls=6))
    print(f"one LSTM(256) layer's gradient, best of {rounds} interleaved rounds of 6 calls (ms):")
    for name, ms in best.items():
        print(f"  {name:14s} {ms:6.1f}  ({best['autodiff'] / ms:.2f}x autodiff)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--forward", action="store_true", help="the forward pass instead of the gradient")
    parser.add_argument("--inputs", choices=("tokens", "one-hot"), default="tokens",
                        help="characters as ids (charlm.py's default) or one-hot vectors")
    parser.add_argument("--top", type=int, default=16, help="how many tasks to list")
    parser.add_argument("--variants", action="store_true", help="time the plain-JAX variants instead")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.variants:
        variants(args.rounds)
    else:
        profile(args.cell, args.forward, args.top, args.inputs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
