"""Limits a user hits past the happy sizes: sizes and seeds outside the engine's 32-bit range,
and seeds whose loss diverges. Each is one sentence; the store holds what happened."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import statecarry as sc
from statecarry import ConfigError, DataError, stats, store
from statecarry.cli import cli, format_summary
from statecarry.experiments.blog import METRICS, History
from statecarry.experiments.config import Config

HUGE = str(10**20)


def refused(*args: str) -> str:
    out = CliRunner().invoke(cli, list(args))
    assert out.exit_code == 2, out.output
    assert out.output.startswith("Error: ") and "Traceback" not in out.output
    assert store.open_store().list_runs() == []
    return out.output


@pytest.mark.parametrize(
    "args, sentence",
    [
        (["--seeds", HUGE], "--seeds must be from 1 to 2,147,483,648 (seeds are 32-bit integers)"),
        (["--seeds", "4", "--first-seed", str(2**31 - 2)], "--first-seed must be from 0 to 2,147,483,644 with --seeds 4"),
        (["--batch-size", HUGE, "--n-train", HUGE], "must be a positive whole number up to 2,147,483,647"),
        (["--units", str(2**31)], "units must be a positive whole number up to 2,147,483,647"),
        (["--epochs", HUGE], "epochs must be a positive whole number up to 2,147,483,647"),
        (["--data-seed", str(10**23)], "data-seed must be a whole number from 0 to 2,147,483,647"),
        (["--lr", "1e39"], "--lr must be a finite number from 0 to 3.403e+38 (the engine computes in float32)"),
    ],
)
def test_sizes_and_seeds_outside_the_engines_range_state_the_range(args, sentence):
    assert sentence in refused("run", "first-step", *args)


def test_the_python_api_has_the_same_ranges():
    with pytest.raises(ConfigError, match="up to 2,147,483,647"):
        sc.Model(units=2**31)
    with pytest.raises(ConfigError, match="up to 2,147,483,647"):
        sc.Train(epochs=10**20)
    with pytest.raises(DataError, match="batch_size must be a positive whole number up to"):
        sc.from_series(np.zeros(10, np.float32), batch_size=10**20, time_steps=2)
    with pytest.raises(ConfigError, match="data-seed must be a whole number from 0"):
        Config(data_seed=2**31)
    data = sc.from_series(np.sin(np.arange(40.0)).astype(np.float32), batch_size=2, time_steps=4)
    with pytest.raises(ConfigError, match="seed count must be from 1 to 2,147,483,648"):
        sc.fit(data, sc.Model(head="linear"), sc.Train(epochs=1), seeds=10**20)
    with pytest.raises(ConfigError, match="chunk_size must be a positive whole number"):
        sc.fit(data, sc.Model(head="linear"), sc.Train(epochs=1), seeds=1, chunk_size=0)
    with pytest.raises(ConfigError, match="on_epoch must be a function"):
        sc.fit(data, sc.Model(head="linear"), sc.Train(epochs=1), seeds=1, on_epoch="print")


# -- divergence ---------------------------------------------------------------------------------


def test_a_diverged_run_says_which_seeds_and_epoch_and_stores_a_warning():
    """`--lr 3e38` is finite but every seed's loss becomes NaN in the first epoch."""
    out = CliRunner().invoke(cli, ["run", "first-step", "--lr", "3e38", "--seeds", "3", "--epochs", "2",
                                   "--n-train", "64", "--n-test", "32"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "Warning: training diverged (the loss became NaN or infinite) for seeds 0, 1, 2 in epoch 0" in out.output
    assert "try a learning rate below 1 (Adam's default is 1e-3)" in out.output
    assert "3 diverged, so each epoch's statistics are over the seeds still finite" in out.output
    assert "nan" not in out.output and "— (no finite seed)" in out.output  # the solved column too
    db = store.open_store()
    (run,) = db.list_runs()
    stored = db.get_run(run.id)
    assert stored.status == "done"
    assert stored.result["diverged"] == {"0": 0, "1": 0, "2": 0}
    assert "seeds 0, 1, 2 in epoch 0" in stored.result["warning"]
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):  # NaN is stored as null
        assert all(v is None or math.isnan(v) for epoch in stored.metrics[name] for v in epoch), name


def test_diverged_seeds_metrics_are_nan_from_their_epoch_and_the_summary_uses_the_others():
    config = Config(epochs=2)
    acc = np.array([[0.5, 0.75, 1.0], [0.6, 0.8, np.nan]], np.float32)  # seed 2 diverged in epoch 1
    metrics = {m: acc.copy() for m in METRICS}
    history = History(config, [0, 1, 2], metrics, diverged={2: 1})
    table = format_summary(history, stats)
    assert "1 diverged, so each epoch's statistics are over the seeds still finite" in table
    epoch1 = table.splitlines()[-1]
    assert str(stats.mean_ci([0.6, 0.8], bounds=stats.ACCURACY)) in epoch1  # the two finite seeds
    assert json.loads(json.dumps(history.to_json()))["diverged"] == {"2": 1}


def test_fit_marks_every_metric_of_a_diverged_seed_nan_from_that_epoch():
    series = np.sin(np.arange(80.0) / 3).astype(np.float32)
    data = sc.from_series(series, batch_size=2, time_steps=4)
    result = sc.fit(data, sc.Model(units=3), sc.Train(epochs=2, learning_rate=3e38, loss="mse"),
                    seeds=[5, 6], test=data)  # fmt: skip
    assert result.diverged == {5: 0, 6: 0}
    for name, values in result.metrics.items():
        assert np.isnan(values).all(), name  # an accuracy of NaN parameters means nothing
    assert "seeds 5, 6 in epoch 0" in result.divergence_message()
    assert "a learning rate below 1 (Adam's default is 1e-3)" in result.divergence_message()


def test_seeds_of_any_model_split_over_two_host_devices_with_the_numbers_of_one():
    """jaxlib 0.10.2 hangs running a batch of QR factorisations (the orthogonal recurrent
    kernels) split over 2 host devices on 2 cores: 128 seeds of LSTM(8) did, 32 of LSTM(32)
    too (benchmarks/deadlock.py). `fit` initialises on one device and splits the result. In a
    time-limited process: those models, one in the vector lanes and one whose products are
    dots, train split over both devices, seed for seed equal to the same seeds run a chunk at
    a time on one (exactly in the lanes; seeds first, to rounding: XLA may vectorise a
    64-seed call otherwise than a 1-seed one)."""
    import os
    import subprocess
    import sys

    code = """
from statecarry.core import runtime
runtime.use_cpu_cores(2)
import numpy as np, statecarry as sc
data = sc.from_series(np.sin(np.arange(4000.0) / 7).astype(np.float32), batch_size=4, time_steps=16)
for units, seeds, alone in ((3, 64, 16), (8, 128, 1), (32, 32, 1), (72, 2, 1)):
    model, train = sc.Model(units=units, head="linear"), sc.Train(epochs=2)
    split = sc.fit(data, model, train, seeds=range(seeds))
    one = sc.fit(data, model, train, seeds=range(seeds), chunk_size=alone)
    diff = max(float(np.abs(split.metrics[k] - one.metrics[k]).max()) for k in split.metrics)
    print(units, split.timings["devices"], one.timings["devices"], diff, flush=True)
"""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert [r[:3] for r in rows] == [["3", "2", "1"], ["8", "2", "1"], ["32", "2", "1"], ["72", "2", "1"]]
    assert float(rows[0][3]) == 0.0  # the lanes: the same bits in any company
    assert max(float(r[3]) for r in rows) < 1e-6
