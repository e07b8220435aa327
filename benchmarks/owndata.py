"""`statecarry train` on a user-sized table against the same model in PyTorch, in one script.

The table: one synthetic series of 100,000 rows and 8 columns (the target `y` and 7 features;
`y` follows the features through a slow hidden state, so memory matters), written as CSV and
as Parquet. The job: LSTM(32) + Dense(1), 16 seeds, 5 epochs, streams of 16 rows x 16 steps
(statecarry's defaults), the last 20% held out and scored after every epoch, Adam (lr 1e-3,
eps 1e-7), MSE, features and target standardised on the training part.

- statecarry: `statecarry train table.csv --target y --units 32 --seeds 16 --epochs 5`, a fresh
  process, start to exit (reading, compiling, training, saving included);
- PyTorch: the same layout and model (`nn.LSTM`, the state carried between batches with
  `.detach()`), one seed after another as a user would loop, in a fresh process that also
  reads the CSV with pandas;
- reading alone: `data.tables.load_table` on the CSV and on the Parquet file.

    python benchmarks/owndata.py            # appends to benchmarks/RESULTS.md
    python benchmarks/owndata.py --rows 20000 --seeds 4 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
UNITS, EPOCHS, BATCH, STEPS, LR, EPS, TEST = 32, 5, 16, 16, 1e-3, 1e-7, 0.2


def make_table(rows: int, folder: Path) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 7))
    hidden = np.zeros(rows)
    for t in range(1, rows):
        hidden[t] = 0.95 * hidden[t - 1] + 0.1 * x[t, 0]
    y = hidden + 0.5 * x[:, 1] + 0.05 * rng.normal(size=rows)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(7)]).assign(y=y)
    frame.to_csv(folder / "table.csv", index=False)
    frame.to_parquet(folder / "table.parquet")
    return folder / "table.csv", folder / "table.parquet"


def torch_job(csv: str, seeds: int) -> None:
    """Runs in its own process: the PyTorch user's script."""
    import numpy as np
    import pandas as pd
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    frame = pd.read_csv(csv)
    x, y = frame.drop(columns="y").to_numpy(np.float32), frame[["y"]].to_numpy(np.float32)
    cut = len(x) - round(len(x) * TEST)
    mx, sx, my, sy = x[:cut].mean(0), x[:cut].std(0), y[:cut].mean(0), y[:cut].std(0)
    x, y = (x - mx) / sx, (y - my) / sy

    def streams(a, rows):  # PyTorch's batchify: (rows, length, columns)
        n = len(a) // rows
        return torch.from_numpy(np.ascontiguousarray(a[: n * rows].reshape(rows, n, -1)))

    tx, ty = streams(x[:cut], BATCH), streams(y[:cut], BATCH)
    vx, vy = torch.from_numpy(x[cut:])[None], torch.from_numpy(y[cut:])[None]
    start = time.perf_counter()
    for seed in range(seeds):
        torch.manual_seed(seed)
        lstm, dense = torch.nn.LSTM(7, UNITS, batch_first=True), torch.nn.Linear(UNITS, 1)
        params = [*lstm.parameters(), *dense.parameters()]
        opt = torch.optim.Adam(params, lr=LR, eps=EPS)
        for _ in range(EPOCHS):
            state = None
            for t in range(0, tx.shape[1], STEPS):
                out, state = lstm(tx[:, t : t + STEPS], state)
                loss = torch.mean((dense(out) - ty[:, t : t + STEPS]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                state = tuple(s.detach() for s in state)
            with torch.no_grad():
                out, _ = lstm(vx)
                torch.mean((dense(out) - vy) ** 2).item()
    print(f"loop {time.perf_counter() - start}")


def timed(command: list[str]) -> tuple[float, str]:
    env = os.environ | {"PYTHONPATH": str(SRC), "STATECARRY_HOME": tempfile.mkdtemp()}
    start = time.perf_counter()
    done = subprocess.run(command, check=True, env=env, stdout=subprocess.PIPE, text=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--torch-seeds", type=int, default=2, help="seeds PyTorch runs; its time is scaled to --seeds")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--torch-job", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_job:
        torch_job(args.torch_job[0], int(args.torch_job[1]))
        return
    sys.path.insert(0, str(SRC))
    from statecarry.data.tables import load_table

    folder = Path(tempfile.mkdtemp())
    csv, parquet = make_table(args.rows, folder)
    reads = {}
    for path in (csv, parquet):
        start = time.perf_counter()
        load_table(path, ("y",))
        reads[path.suffix] = time.perf_counter() - start
    load = os.getloadavg()
    ours = timed([sys.executable, "-m", "statecarry", "train", str(csv), "--target", "y", "--units", str(UNITS),
                  "--seeds", str(args.seeds), "--epochs", str(EPOCHS), "--no-store", "-q", "-o", str(folder / "m.safetensors")])[0]  # fmt: skip
    # PyTorch's seeds are independent and identical work, one after another: time a few and
    # scale the loop (not the process start and the reading) to all of them
    measured = min(args.torch_seeds, args.seeds)
    total, out = timed([sys.executable, __file__, "--torch-job", str(csv), str(measured)])
    loop = float(out.split()[-1])
    theirs = total - loop + loop * args.seeds / measured
    after = os.getloadavg()
    rows = [
        (f"statecarry train (CLI, {args.seeds} seeds at once)", ours, ""),
        (f"PyTorch {_version('torch')}, one seed after another ({measured} timed, scaled to {args.seeds})", theirs, ""),
        ("reading the CSV (load_table)", reads[".csv"], ""),
        ("reading the Parquet file (load_table)", reads[".parquet"], ""),
    ]
    ratio = theirs / ours
    lines = [
        f"## {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} own data: `train` vs PyTorch",
        "",
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "- command: `python benchmarks/owndata.py" + ("" if (args.rows, args.seeds) == (100_000, 16) else f" --rows {args.rows} --seeds {args.seeds}") + "`",
        f"- table: {args.rows} rows x 8 columns; LSTM({UNITS}), {args.seeds} seeds, {EPOCHS} epochs, batch {BATCH} x {STEPS} steps",
        f"- load average before / after: {' / '.join(f'{v:.2f}' for v in load)} → {' / '.join(f'{v:.2f}' for v in after)}",
        "",
        "| what | seconds |",
        "|---|---:|",
        *[f"| {name} | {seconds:.2f} |" for name, seconds, _ in rows],
        "",
        f"statecarry is {ratio:.1f}× PyTorch's time-to-all-seeds (process start to exit, both); reading the CSV "
        f"is {reads['.csv'] / ours:.0%} of `train`'s time.",
        "",
    ]  # fmt: skip
    print("\n".join(lines))
    if not args.no_write:
        results = HERE / "RESULTS.md"
        text = results.read_text()
        head, _, rest = text.partition("\n## ")
        results.write_text(head + "\n" + "\n".join(lines) + "\n## " + rest)


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
