"""Cost of migration m004 (runs table rebuilt with AUTOINCREMENT) on a schema-3 store.

Usage: PYTHONPATH=src python benchmarks/store_migration.py 10000   (runs of 20 epochs x 32 seeds)
The time includes what every open does (quick_check reads every page), not only the rebuild.
"""

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from statecarry import store

n_runs, epochs, seeds = int(sys.argv[1]), 20, 32
path = Path(tempfile.mkdtemp()) / "runs.sqlite"
db = sqlite3.connect(path, isolation_level=None)
db.execute("pragma journal_mode=wal")
store.migrate(db, store.MIGRATIONS[:3])
cfg = store.canonical_json({"task": "first-step", "units": 3})
db.execute("begin")
for i in range(1, n_runs + 1):
    db.execute(
        "insert into runs (id, kind, task, config, config_hash, seeds, status, started) values (?,?,?,?,?,?,?,?)",
        (
            i,
            "run",
            "first-step",
            cfg,
            "h",
            json.dumps(list(range(seeds))),
            "done",
            "2026-01-01T00:00:00+00:00",
        ),
    )
    for e in range(epochs):
        for m in ("train_loss", "train_acc", "test_loss", "test_acc"):
            db.execute("insert into epochs values (?,?,?,?)", (i, e, m, json.dumps([0.5] * seeds)))
db.execute("commit")
db.close()
size = path.stat().st_size
t = time.perf_counter()
with store.open_store(path) as s:
    took = time.perf_counter() - t
    assert len(s.list_runs()) == n_runs
print(f"{n_runs} runs ({size / 1e6:.1f} MB): opening with migration m004 took {took * 1000:.0f} ms")
