"""Process start to exit: `statecarry --help`, one `statecarry run`, and PyTorch's same run.

Every contender is a fresh process, and the rounds interleave them, so a busy machine slows
all of them alike; each row reports the median of its rounds and its ratio to the reference
measured beside it (issue 10's targets):

- `statecarry --help` (module and, if installed, the entry point) against `python -c pass`;
- `import jax` against `python -c pass`, with ml_dtypes' share of it;
- `statecarry run first-step --seeds 1` cold (empty caches) and warm (the same caches again)
  against PyTorch's script for the same run (benchmarks/peers.py's `torch_run`), whole
  process, import included.

    PYTHONPATH=src python benchmarks/startup.py --rounds 5
    PYTHONPATH=src python benchmarks/startup.py --json      # one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable


def timed(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def ml_dtypes_share() -> float:
    code = ("import time; t = time.perf_counter(); import ml_dtypes; "
            "print(time.perf_counter() - t)")  # fmt: skip
    return float(subprocess.run([PY, "-c", code], capture_output=True, text=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", action="store_true", help="one JSON line")
    args = parser.parse_args()

    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    entry = Path(PY).parent / "statecarry"
    run = [PY, "-m", "statecarry", "run", "first-step", "--mode", "stateful", "--seeds", "1",
           "-q", "--no-store"]  # fmt: skip
    torch = [PY, "-c", f"import sys; sys.path.insert(0, {str(HERE)!r}); import peers; "
             "peers.torch_run(1)"]  # fmt: skip
    times: dict[str, list[float]] = {}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        tmp = tempfile.mkdtemp()
        cache_env = dict(env, XDG_CACHE_HOME=tmp)
        rows = {
            "python -c pass": lambda: timed([PY, "-c", "pass"]),
            "statecarry --help (python -m)": lambda: timed([PY, "-m", "statecarry", "--help"]),
            "import jax": lambda: timed([PY, "-c", "import jax"]),
            "ml_dtypes import (in-process)": ml_dtypes_share,
            "statecarry run, cold": lambda e=cache_env: timed(run, e),
            "statecarry run, warm": lambda e=cache_env: timed(run, e),
        }
        if entry.exists():
            rows["statecarry --help (entry point)"] = lambda: timed([str(entry), "--help"])
        if not args.no_torch:
            rows["PyTorch script, whole process"] = lambda: timed(torch, env)
        for name, measure in rows.items():
            times.setdefault(name, []).append(measure())
        shutil.rmtree(tmp, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    ref = {"statecarry --help (python -m)": "python -c pass",
           "statecarry --help (entry point)": "python -c pass", "import jax": "python -c pass",
           "statecarry run, cold": "PyTorch script, whole process",
           "statecarry run, warm": "PyTorch script, whole process"}  # fmt: skip
    load = f"{load_before[0]:.1f} → {os.getloadavg()[0]:.1f} (1-min load average, {os.cpu_count()} cores)"
    if args.json:
        out = {k: {"median_s": median[k], "ratio": median[k] / median[ref[k]] if ref.get(k) in median else None,
                   "to": ref.get(k)} for k in median}  # fmt: skip
        print(json.dumps({"rows": out, "rounds": args.rounds, "load": load}))
        return 0
    print(f"| process | median s ({args.rounds} rounds) | × reference | reference |")
    print("|---|---:|---:|---|")
    for name, seconds in median.items():
        r = ref.get(name)
        ratio = f"{seconds / median[r]:.2f}×" if r in median else ""
        print(f"| {name} | {seconds:.3f} | {ratio} | {r or ''} |")
    print(f"\nload: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
