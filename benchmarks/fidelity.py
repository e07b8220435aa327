"""How close each mode's gradient is to the exact one, against the dependency distance.

For fixed parameters on `prev-batch --distance d --marker` (the label of a sample is step 0 of
the collocated sample d batches back), every mode computes the gradient of each batch's loss
with the parameters held fixed, and we compare it with the exact gradient through the whole
history since the start of the pass (RTRL, which `tests/test_core_gradients.py` checks against
`jax.grad` through the unrolled history): cosine similarity and relative error
|g - g_exact| / |g_exact|, averaged over batches 16..47 of the pass and over `--draws` sign
draws for UORO (whose single-draw numbers are what one update sees; the spread across draws
is its variance). The parameters: LSTM(units) trained on the task at distance 1 (marker,
horizon 2), so the state does carry the bit across batches.

    PYTHONPATH=src python benchmarks/fidelity.py [--units 3] [--distances 1,2,4,8,16] [--draws 8]

writes benchmarks/fidelity.md (the table) and benchmarks/fidelity.png (the figure).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from statecarry.experiments.blog import use_cpu_cores

HERE = Path(__file__).parent
MODES = ["horizon 1", "horizon 2", "horizon 4", "horizon 16", "snap1", "uoro"]
N_BATCHES, FIRST = 48, 16  # the pass, and the first batch compared (a history behind it)


def trains(mode: str):
    from statecarry.core.spec import Train

    if mode.startswith("horizon"):
        return Train(mode="stateful", horizon=int(mode.split()[1]))
    return Train(mode=mode)


def trained_params(units: int, seed: int = 0):
    """LSTM(units) after 30 epochs of marker + horizon 2 on distance 1: a state that carries."""
    from statecarry import fit
    from statecarry.experiments.config import Config

    config = Config(task="prev-batch", marker=True, horizon=2, units=units, epochs=30)
    data = task_data(config)
    result = fit(data, config.model_spec(), config.train_spec(), seeds=[seed])
    return result.params_of(seed), result.model


def task_data(config, seed: int = 0):
    from statecarry.data.layout import from_samples
    from statecarry.experiments.tasks import make_samples

    s, _ = make_samples(config, seed)
    return from_samples(s.x, s.y, config.batch_size, s.known)


def gradients(params, model, train, data, key_seed: int = 0):
    """Every batch's gradient (flattened) with the parameters fixed, from a reset at the start."""
    import jax

    from statecarry.core import cells, engine, modes
    from statecarry.core.runtime import COMPILER_OPTIONS

    data = engine.with_mode_resets(data, train, start_of_pass=True)
    batch_size, time_steps = data.x.shape[1:3]
    grad_fn = modes.grad_fn(train)

    def run(key):
        extra = modes.init_extra(train, model, params, batch_size, time_steps, key)

        def step(carry, batch):
            state, extra = carry
            g, state, extra, _ = grad_fn(params, state, extra, batch, model, train)
            return (state, extra), jax.flatten_util.ravel_pytree(g)[0]

        return jax.lax.scan(step, (cells.zeros_state(model, batch_size), extra), data)[1]

    return np.asarray(jax.jit(run, compiler_options=COMPILER_OPTIONS)(jax.random.key(key_seed)))


def compare(g: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    g, exact = g[FIRST:], exact[FIRST:]
    cos = np.sum(g * exact, 1) / (np.linalg.norm(g, axis=1) * np.linalg.norm(exact, axis=1))
    rel = np.linalg.norm(g - exact, axis=1) / np.linalg.norm(exact, axis=1)
    return float(cos.mean()), float(rel.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=3)
    parser.add_argument("--distances", default="1,2,3,4,6,8,12,16")
    parser.add_argument("--draws", type=int, default=8)
    args = parser.parse_args()
    use_cpu_cores(1)
    from statecarry.experiments.config import Config

    t0 = time.perf_counter()
    params, model = trained_params(args.units)
    distances = [int(d) for d in args.distances.split(",")]
    rows = {}  # (mode, d) -> (cos, rel, cos spread over draws)
    for d in distances:
        config = Config(task="prev-batch", marker=True, distance=d, units=args.units,
                        n_train=4 * N_BATCHES)
        data = task_data(config, seed=1)
        exact = gradients(params, model, trains("rtrl"), data)
        for mode in MODES:
            draws = args.draws if mode == "uoro" else 1
            results = [compare(gradients(params, model, trains(mode), data, k), exact)
                       for k in range(draws)]
            cos = [r[0] for r in results]
            rows[mode, d] = (np.mean(cos), np.mean([r[1] for r in results]), np.std(cos))
        print(f"d={d} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    write(rows, distances, args, time.perf_counter() - t0)


def write(rows, distances, args, seconds: float) -> None:
    lines = [
        "# Gradient fidelity against the dependency distance",
        "",
        f"`PYTHONPATH=src python benchmarks/fidelity.py --units {args.units} "
        f"--distances {args.distances} --draws {args.draws}` ({seconds:.0f} s; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores shared, load "
        f"{os.getloadavg()[0]:.1f})",
        "",
        f"LSTM({args.units}) trained on prev-batch (marker, horizon 2, 30 epochs), then held "
        f"fixed; prev-batch --distance d --marker; batches {FIRST}..{N_BATCHES - 1} of a pass "
        "from a reset; exact = RTRL. Cosine similarity (relative error) of each mode's gradient "
        f"with the exact one; UORO: mean over {args.draws} sign draws of the single-draw "
        "numbers, ± the spread (std) of the cosine across draws.",
        "",
        "| d | " + " | ".join(MODES) + " |",
        "|---:|" + "---:|" * len(MODES),
    ]
    for d in distances:
        cells = []
        for mode in MODES:
            cos, rel, spread = rows[mode, d]
            extra = f" ± {spread:.2f}" if mode == "uoro" else ""
            cells.append(f"{cos:.3f}{extra} ({rel:.2f})")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    (HERE / "fidelity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for mode in MODES:
        a.plot(distances, [rows[mode, d][0] for d in distances], marker="o", label=mode)
        b.plot(distances, [rows[mode, d][1] for d in distances], marker="o", label=mode)
    a.set(xlabel="dependency distance d (batches)", ylabel="cosine with exact gradient")
    b.set(xlabel="dependency distance d (batches)", ylabel="relative error", yscale="log")
    a.legend(fontsize=8)
    fig.suptitle(f"LSTM({args.units}), prev-batch --distance d --marker, parameters fixed")
    fig.tight_layout()
    fig.savefig(HERE / "fidelity.png", dpi=110)


if __name__ == "__main__":
    main()
