"""Runs per second against the number of seeds: statecarry's vectorised fit and the PyTorch loop.

The experiment is `peers.py`'s (the blog's first-step task, stateful, 5 epochs, LSTM(3), batch 4,
1024 training and 256 test samples). statecarry trains all N seeds of a point in one
`blog.run` call, in a fresh process per point (no cache shared between points: compile time is
reported apart from run time), `--repeat` times, keeping the fastest; PyTorch trains one seed at a time, so its runs/s is its one-run
pace whatever N is, measured once in its own process (`peers.torch_run`, the faster of two
runs, as many threads as cores).

    PYTHONPATH=src python benchmarks/seeds_curve.py                 # 1 ... 4096, PNG + table
    PYTHONPATH=src python benchmarks/seeds_curve.py --seeds 1,16,256 --png /tmp/curve.png

Writes a PNG (runs/s on log axes: statecarry counting run time only, statecarry counting
compile too, PyTorch) and prints a Markdown table. Wall clock: other work on the machine lowers
every number, so the load average is printed beside the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(task: str, arg: int) -> dict:
    """`peers.task(arg)` in a fresh process with an empty compile cache of its own."""
    sys.path.insert(0, str(HERE))
    import peers

    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    with tempfile.TemporaryDirectory() as cache:
        env["XDG_CACHE_HOME"] = cache  # every point compiles from scratch
        return peers.child(task, arg, env)


def plot(rows: list[dict], torch_rate: float, path: str, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = [r["seeds"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(seeds, [r["runs_per_s"] for r in rows], "o-", label="statecarry (run time)")
    ax.plot(seeds, [r["runs_per_s_with_compile"] for r in rows], "s--",
            label="statecarry (compile included)")
    ax.plot(seeds, [torch_rate] * len(seeds), "k:", label="PyTorch loop (one seed at a time)")
    ax.set(xscale="log", yscale="log", xlabel="seeds trained together",
           ylabel="training runs per second", title="The blog's run: runs/s against seeds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.text(0.01, 0.01, note, fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,4,16,64,256,1024,4096", help="comma-separated")
    parser.add_argument("--png", default=str(HERE.parent / "docs" / "seeds_curve.png"))
    parser.add_argument("--no-torch", action="store_true", help="leave the PyTorch line out")
    parser.add_argument("--repeat", type=int, default=3,
                        help="fresh processes a point; each keeps its fastest (as peers.py's rows)")
    args = parser.parse_args()
    try:
        counts = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds takes comma-separated whole numbers, not {args.seeds!r}")
    load_before = os.getloadavg()[0]
    torch_rate = float("nan")
    if not args.no_torch:
        t = child("torch_run", 2)
        torch_rate = 1 / min(t["seconds"])
    if args.repeat < 1:
        parser.error("--repeat takes a whole number of at least 1")
    rows = []
    for n in counts:
        r = min((child("statecarry_seeds", n) for _ in range(args.repeat)), key=lambda r: r["run_seconds"])
        rows.append({"seeds": n, "runs_per_s": n / r["run_seconds"],
                     "runs_per_s_with_compile": n / r["seconds"],
                     "compile_s": r["compile_seconds"], "run_s": r["run_seconds"]})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    load = f"load {load_before:.1f} → {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} cores)"
    print("| seeds | compile s | run s | runs/s (run) | runs/s (with compile) | × PyTorch (run) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['seeds']:,} | {r['compile_s']:.1f} | {r['run_s']:.2f} | {r['runs_per_s']:,.1f} | "
              f"{r['runs_per_s_with_compile']:,.1f} | {r['runs_per_s'] / torch_rate:,.0f}× |")
    print(f"\nPyTorch loop: {torch_rate:.3f} runs/s; {load}")
    plot(rows, torch_rate, args.png, load)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
