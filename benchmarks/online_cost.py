"""Measured cost of the gradient modes per batch: time and memory, as ratios to horizon 1.

For LSTM(u) on the blog's shapes (batch 4, 5 steps, 2 features: prev-batch with the marker),
each mode's gradient step (`modes.grad_fn`, parameters held fixed) runs over 64 batches in one
compiled scan; we report the median time per batch over `--repeats` runs and the memory XLA
plans for the compiled program (arguments + outputs + temporaries, `memory_analysis()`), plus
the mode's carried state (`extra`) on its own. rtrl is skipped where its estimate refuses it.

    PYTHONPATH=src python benchmarks/online_cost.py [--units 3,32,128] [--repeats 5]

writes benchmarks/online_cost.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from statecarry.experiments.blog import use_cpu_cores

HERE = Path(__file__).parent
MODES = ["horizon 1", "horizon 16", "rtrl", "uoro", "snap1"]
N_BATCHES = 64
RTRL_MAX_UNITS = 32


def measure(units: int, mode: str, repeats: int):
    import jax

    from statecarry.core import cells, engine, modes, rtrl
    from statecarry.core.runtime import COMPILER_OPTIONS
    from statecarry.core.spec import Model, Train
    from statecarry.errors import TooLargeForRTRL

    train = (
        Train(mode="stateful", horizon=int(mode.split()[1])) if mode.startswith("horizon")
        else Train(mode=mode)
    )
    model = Model(units=units, features=2, outputs=1)
    if mode == "rtrl":
        try:
            rtrl.seeds_that_fit(model, 4)
        except TooLargeForRTRL as e:
            return None, None, None, str(e).split(",")[0]
        if units > RTRL_MAX_UNITS:  # fits, but P JVPs per step take minutes on a shared CPU
            need = rtrl.bytes_per_seed(model, 4) / 2**30
            return None, None, None, f"not run (estimate {need:.1f} GiB, P = {model.recurrent_params()} JVPs a step)"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (N_BATCHES, 4, 5, 2)).astype(np.float32)
    y = rng.integers(0, 2, (N_BATCHES, 4, 5, 1)).astype(np.float32)
    from statecarry.data.layout import Batches

    data = Batches(
        x, y, np.zeros((N_BATCHES, 4, 5), bool), np.ones((N_BATCHES, 4, 5), np.float32),
        np.ones((N_BATCHES, 4, 5), bool),
    )
    data = engine.with_mode_resets(data, train, start_of_pass=True)
    params = cells.init(jax.random.key(0), model)
    grad_fn = modes.grad_fn(train)
    extra = modes.init_extra(train, model, params, 4, 5, jax.random.key(1))
    extra_bytes = sum(a.nbytes for a in jax.tree.leaves(extra))

    def run(params, extra, data):
        def step(carry, batch):
            state, extra = carry
            g, state, extra, _ = grad_fn(params, state, extra, batch, model, train)
            return (state, extra), jax.tree.map(lambda a: a.sum(), g)

        return jax.lax.scan(step, (cells.zeros_state(model, 4), extra), data)[1]

    compiled = jax.jit(run).lower(params, extra, data).compile(COMPILER_OPTIONS)
    mem = compiled.memory_analysis()
    total = mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(params, extra, data))
        times.append((time.perf_counter() - t0) / N_BATCHES)
    return float(np.median(times)), total, extra_bytes, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", default="3,32,128")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    use_cpu_cores(1)
    load = os.getloadavg()[0]
    lines = [
        "# Cost per batch of the gradient modes",
        "",
        f"`PYTHONPATH=src python benchmarks/online_cost.py --units {args.units} --repeats "
        f"{args.repeats}` ({platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"cores shared with other jobs, load {load:.1f} before; ms are medians of "
        f"{args.repeats}, expect 10-20% noise)",
        "",
        "LSTM(u), batch 4 x 5 steps x 2 features, one gradient per batch with the parameters "
        "fixed. Memory: what XLA plans for the compiled 64-batch program (arguments, outputs, "
        "temporaries); carried: the mode's own state across batches (window / sensitivity).",
        "",
        "| units | mode | ms / batch | × horizon 1 | memory MiB | × horizon 1 | carried KiB |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for units in (int(u) for u in args.units.split(",")):
        base = None
        for mode in MODES:
            t, mem, carried, refused = measure(units, mode, args.repeats)
            if refused:
                lines.append(f"| {units} | {mode} | refused: {refused} | | | | |")
                continue
            base = base or (t, mem)
            lines.append(
                f"| {units} | {mode} | {1e3 * t:.3f} | {t / base[0]:.1f}× | {mem / 2**20:.2f} | "
                f"{mem / base[1]:.1f}× | {carried / 2**10:.1f} |"
            )
            print(lines[-1], flush=True)
    (HERE / "online_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
