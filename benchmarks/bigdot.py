"""A/B of runtime.BIG_DOT_OPTIONS (YNNPACK for a model's dots) across model sizes: fit's run
seconds, the best of 2, with the options off (0) and on (1), side by side in one process.

    PYTHONPATH=src python benchmarks/bigdot.py
"""
import sys

import numpy as np

import statecarry as sc
from statecarry.core import runtime

runtime.use_cpu_cores()
BIG = dict(runtime.BIG_DOT_OPTIONS)
rng = np.random.default_rng(0)
series = np.cumsum(rng.normal(size=(40_000, 4)), 0).astype(np.float32) / 100
cases = [("lstm", 8, 32, 1), ("lstm", 16, 32, 1), ("lstm", 32, 32, 1), ("lstm", 64, 32, 1), ("lstm", 128, 32, 1),
         ("gru", 64, 32, 1), ("lstm", 32, 32, 16), ("lstm", 64, 8, 16), ("lstm", 32, 32, 4), ("lstm", 16, 8, 64)]
which = sys.argv[1:] or ["0", "1"]
for cell, units, batch, seeds in cases:
    data = sc.from_series(series, batch, 50, tail="drop")
    model = sc.Model(cell=cell, units=units, head="linear")
    train = sc.Train(mode="stateful", epochs=2)
    row = []
    for v in which:
        runtime.BIG_DOT_OPTIONS = BIG if v == "1" else {}
        runtime.clear_cache()
        best = 1e9
        for _ in range(2):
            f = sc.fit(data, model, train, seeds=range(seeds))
            best = min(best, f.run_seconds)
        row.append(best)
    print(cell, units, "batch", batch, "seeds", seeds, " ".join(f"{w}:{t:.3f}s" for w, t in zip(which, row)), f"ratio {row[0]/row[-1]:.2f}", flush=True)
