"""statecarry against Keras 3 and PyTorch on the blog's experiment, timed in one script.

The experiment: first-step, stateful, 5 epochs, LSTM(3) + Dense(1, sigmoid), batch 4, 1024
training and 256 test samples, Adam (lr 1e-3, epsilon 1e-7), MSE; the state is reset at the
start of every epoch and of every evaluation pass. Every contender runs in its own fresh
process, so none of them inherits another's threads, XLA flags or caches:

- statecarry, one seed, end to end (`statecarry run first-step --seeds 1`): cold (an empty
  compile cache) and warm (the same cache again);
- statecarry, 64 and N seeds in one `statecarry.experiments.blog.run` call (compile cache empty);
- Keras 3 on JAX (`LSTM(stateful=True)`, `fit` one epoch at a time with `shuffle=False`,
  then `evaluate`, states reset every epoch), as its user would write it;
- PyTorch (`nn.LSTM`, the hidden state carried between batches with `.detach()`).

Each peer runs twice in its process (`--keras-runs`, `--torch-runs`): the first run pays for
warming up (Keras traces and compiles), the second shows its steady pace. Ratios are taken
against the faster run, the peer's best case.

    python benchmarks/peers.py                       # N = 1024, writes benchmarks/RESULTS.md
    python benchmarks/peers.py --seeds 256 --quick   # a smaller, faster look
    make bench                                       # installs the peers, then the first line

Runs per second are wall clock, so other work on the machine lowers every number; the
script prints the load average next to the results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EPOCHS, UNITS, BATCH, N_TRAIN, N_TEST, LR, EPS = 5, 3, 4, 1024, 256, 1e-3, 1e-7


# -- the contenders, each run by a child process --------------------------------------------


def blog_data(seed: int = 0):
    """The experiment's data from statecarry's own generator, so every peer sees the same."""
    from statecarry.experiments.config import Config
    from statecarry.experiments.tasks import make_samples

    train, test = make_samples(Config(task="first-step", n_train=N_TRAIN, n_test=N_TEST), seed)
    return train.x, train.y, test.x, test.y


def statecarry_seeds(n: int) -> dict:
    from statecarry.experiments import blog
    from statecarry.experiments.config import Config

    config = Config(task="first-step", mode="stateful", epochs=EPOCHS)
    blog.use_cpu_cores(**blog.step_sizes([config], n))  # as `statecarry run` sets XLA up
    blog.enable_compile_cache()  # an empty temp dir: the parent points XDG_CACHE_HOME there
    t0 = time.perf_counter()
    history = blog.run(config, list(range(n)))
    total = time.perf_counter() - t0
    return {
        "seconds": total,
        "compile_seconds": history.compile_seconds,
        "run_seconds": history.run_seconds,
        "data_seconds": history.timings.get("data_seconds", 0.0),
        "final_test_acc": float(history.final("test_acc").mean()),
    }


def keras_run(runs: int) -> dict:
    os.environ["KERAS_BACKEND"] = "jax"
    import keras
    import numpy as np

    x, y, xt, yt = blog_data()
    seconds, acc = [], []
    for run in range(runs):
        keras.utils.set_random_seed(run)
        t0 = time.perf_counter()
        model = keras.Sequential(
            [
                keras.Input(batch_shape=(BATCH, x.shape[1], x.shape[2])),
                keras.layers.LSTM(UNITS, stateful=True),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        adam = keras.optimizers.Adam(LR, epsilon=EPS)
        model.compile(optimizer=adam, loss="mse", metrics=["accuracy"])
        for _ in range(EPOCHS):
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            model.layers[0].reset_state()
            _, test_acc = model.evaluate(xt, yt, batch_size=BATCH, verbose=0)
            model.layers[0].reset_state()
        seconds.append(time.perf_counter() - t0)
        acc.append(float(test_acc))
    return {"seconds": seconds, "final_test_acc": float(np.mean(acc)), "version": keras.__version__}


def torch_run(runs: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    x, y, xt, yt = (torch.from_numpy(np.asarray(a, np.float32)) for a in blog_data())

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(x.shape[2], UNITS, batch_first=True)
            self.dense = nn.Linear(UNITS, 1)

        def forward(self, xb, hidden):
            out, hidden = self.lstm(xb, hidden)
            return torch.sigmoid(self.dense(out[:, -1])), hidden

    seconds, acc = [], []
    for run in range(runs):
        torch.manual_seed(run)
        t0 = time.perf_counter()
        net = Net()
        opt = torch.optim.Adam(net.parameters(), lr=LR, eps=EPS)
        for _ in range(EPOCHS):
            hidden = None  # reset at the start of every epoch
            for b in range(0, len(x), BATCH):
                pred, hidden = net(x[b : b + BATCH], hidden)
                hidden = tuple(h.detach() for h in hidden)  # carry the state, not the graph
                loss = nn.functional.mse_loss(pred, y[b : b + BATCH])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                hidden, correct = None, 0
                for b in range(0, len(xt), BATCH):
                    pred, hidden = net(xt[b : b + BATCH], hidden)
                    correct += int(((pred > 0.5) == (yt[b : b + BATCH] > 0.5)).sum())
        seconds.append(time.perf_counter() - t0)
        acc.append(correct / len(xt))
    return {"seconds": seconds, "final_test_acc": float(np.mean(acc)), "version": torch.__version__,
            "threads": torch.get_num_threads()}


# -- the parent: run each contender in a fresh process, tabulate, write RESULTS.md -----------


def child(task: str, arg: int, env: dict | None = None) -> dict:
    """Run `task` in a fresh interpreter and return its JSON result (and its wall time)."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import peers; "
        f"print('RESULT ' + json.dumps(peers.{task}({arg})))"
    )
    if not task.startswith("statecarry"):  # a peer imports statecarry only for the data: XLA as Keras has it
        env = {**(os.environ if env is None else env), "STATECARRY_XLA": "defaults"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{task} failed:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :]) | {"process_seconds": wall}


def cli_single_seed(cache: str, home: str) -> dict:
    """`statecarry run first-step --seeds 1` end to end, from process start to exit."""
    env = dict(os.environ, XDG_CACHE_HOME=cache, STATECARRY_HOME=home)
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, "-m", "statecarry", "run", "first-step", "--mode", "stateful",
           "--seeds", "1", "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"statecarry run failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    return {"seconds": wall, "compile_seconds": out["compile_seconds"],
            "run_seconds": out["run_seconds"], "final_test_acc": out["epochs"][-1]["test_acc"][0]}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def load() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def measure(args: argparse.Namespace) -> tuple[list[tuple], dict[str, float]]:
    """One round of every contender: rows (name, s per run, compile s or None, note) and each
    peer's fastest run in seconds."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache, home = f"{tmp}/cache", f"{tmp}/home"
        cold = cli_single_seed(cache, home)
        warm = cli_single_seed(cache, home)
        for name, r in (("statecarry, 1 seed, cold", cold), ("statecarry, 1 seed, warm", warm)):
            rows.append((name, r["seconds"], r["compile_seconds"],
                         f"`statecarry run`, process start to exit; train+eval "
                         f"{r['run_seconds']:.3f} s"))
        sizes = [args.seeds] if args.quick or args.seeds == 64 else [64, args.seeds]
        for n in sizes:
            env = dict(os.environ, XDG_CACHE_HOME=f"{tmp}/cache-{n}")
            env.pop("XLA_FLAGS", None)
            r = child("statecarry_seeds", n, env)
            rows.append((f"statecarry, {n} seeds", r["run_seconds"] / n, r["compile_seconds"],
                         f"train+eval only; data {r['data_seconds']:.2f} s; with compile and "
                         f"data {n / r['seconds']:,.0f} runs/s"))
    peers = {}
    for name, task, runs, skip, env in (
        ("Keras", "keras_run", args.keras_runs, args.no_keras, {"KERAS_BACKEND": "jax"}),
        ("PyTorch", "torch_run", args.torch_runs, args.no_torch, {}),
    ):
        if skip:
            continue
        env = dict(os.environ, **env)
        env.pop("XLA_FLAGS", None)
        r = child(task, 1 if args.quick else runs, env)
        label = f"{name} {r['version']}" + (" (JAX backend)" if name == "Keras" else "")
        how = ("stateful LSTM, fit + evaluate per epoch" if name == "Keras"
               else f"nn.LSTM + .detach(), {r['threads']} threads")
        startup = r["process_seconds"] - sum(r["seconds"])
        for i, seconds in enumerate(r["seconds"]):
            nth = (f"first run in a fresh process (+{startup:.1f} s to start and import)"
                   if i == 0 else f"run {i + 1} in the same process")
            rows.append((f"{label}, run {i + 1}", seconds, None, f"{how}; {nth}"))
        peers[name] = min(r["seconds"])  # ratios against the peer's fastest run
    return rows, peers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1024, help="the large statecarry run")
    parser.add_argument("--quick", action="store_true",
                        help="no 64-seed run, one run per peer, one round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each row keeps its best")
    parser.add_argument("--keras-runs", type=int, default=2, help="in one process")
    parser.add_argument("--torch-runs", type=int, default=2, help="in one process")
    parser.add_argument("--no-keras", action="store_true")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"), help="'' to not write")
    args = parser.parse_args()

    load_before = load()
    rounds = [measure(args) for _ in range(1 if args.quick else args.repeat)]
    best: dict[str, tuple] = {}  # row name -> the round's row with the fewest seconds
    spread: dict[str, list[float]] = {}
    for rows, _ in rounds:
        for row in rows:
            spread.setdefault(row[0], []).append(row[1])
            if row[0] not in best or row[1] < best[row[0]][1]:
                best[row[0]] = row
    peers = [(name, min(r[1][name] for r in rounds)) for name in rounds[0][1]]
    rows = []
    for name, (_, seconds, compile_s, note) in best.items():
        if len(spread[name]) > 1:
            worst = max(spread[name]) / seconds - 1
            note += f"; best of {len(spread[name])}, worst {worst:.0%} slower"
        rows.append((name, seconds, 1 / seconds, compile_s, note))

    ratio_heads = "".join(f" × {p[0]} |" for p in peers)
    table = [f"| contender | s per run | runs/s | compile s |{ratio_heads} notes |",
             "|---|---:|---:|---:|" + "---:|" * len(peers) + "---|"]
    for name, spr, rps, compile_s, note in rows:
        ratios = "".join(f" {_ratio(rps * p[1])} |" if name.startswith("statecarry") else " |"
                         for p in peers)
        comp = f"{compile_s:.2f}" if compile_s is not None else "in run"
        table.append(f"| {name} | {spr:.4g} | {rps:,.2f} | {comp} |{ratios} {note} |")
    command = "python benchmarks/peers.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = "\n".join(table)
    print(report)
    print(f"\nload average before / after: {load_before} → {load()}")
    if args.results:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        versions = _versions()
        entry = (f"## {stamp}\n\n- machine: {machine()}\n- command: `{command.strip()}`\n"
                 f"- versions: {versions}\n- load average before / after: {load_before} → "
                 f"{load()}\n\n{report}\n\n")
        path = Path(args.results)
        head = ("# Benchmark results\n\nWritten by `benchmarks/peers.py`, newest first. "
                "× peer = statecarry's runs/s divided by the peer's (its faster run).\n\n")
        old = path.read_text().split("\n## ", 1) if path.exists() else ["", ""]
        rest = "## " + old[1] if len(old) > 1 and old[1] else ""
        path.write_text(head + entry + rest)
        print(f"wrote {path}")
    return 0


def _ratio(r: float) -> str:
    return f"{r:.1f}×" if r < 10 else f"{r:,.0f}×"


def _versions() -> str:
    from contextlib import suppress
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("statecarry", "jax", "jaxlib", "keras", "torch"):
        with suppress(PackageNotFoundError):  # a missing peer is left out of the list
            out.append(f"{pkg} {version(pkg)}")
    return ", ".join(out)


if __name__ == "__main__":
    sys.exit(main())
