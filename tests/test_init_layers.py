"""A stack of layers initialises its seeds one at a time (`engine.init_carry_seeds`): the same
carry as initialising them together (`vmap`), and no hang where two layers' batched QR
factorisations once took both of XLA:CPU's pool threads (LSTM(256) x 2, 2 seeds, 2 devices)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

from statecarry.core import engine
from statecarry.core.spec import Model, Train

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_one_seed_at_a_time_equals_all_seeds_together():
    model, train = Model(cell="gru", units=16, layers=3, features=2, outputs=1), Train()
    keys = jax.vmap(jax.random.key)(np.arange(5))
    mapped = engine.init_carry_seeds(keys, model, train, 4, 6)
    together = jax.vmap(lambda k: engine.init_carry(k, model, train, 4, 6))(keys)
    for a, b in zip(jax.tree.leaves(mapped), jax.tree.leaves(together)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


HANG = """
import numpy as np, statecarry as sc
s = np.sin(np.arange(2000) / 10).astype(np.float32)
fit = sc.fit(sc.from_series(s, batch_size=16, time_steps=16), sc.Model(units=256, layers=2, head="linear"),
             sc.Train(epochs=1), seeds=2)
print("ok", fit.metrics["train_rmse"].shape)
"""


def test_two_big_layers_at_two_seeds_train_to_the_end():
    """Hung in 15 runs of 17 before (a helper's count); seconds now. A fresh process: XLA's
    pool and device count are the ones a user gets."""
    env = dict(os.environ, PYTHONPATH=SRC)
    env.pop("XLA_FLAGS", None)
    out = subprocess.run([sys.executable, "-c", HANG], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok (1, 2)" in out.stdout
