"""`statecarry sweep`: grid parsing, skipped combinations, rows equal to direct runs."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from statecarry import stats
from statecarry.cli import cli
from statecarry.errors import ConfigError
from statecarry.experiments import blog, sweep
from statecarry.experiments.config import Config

SMALL = dict(n_train=64, n_test=32, time_steps=3, epochs=2, learning_rate=0.01)
SMALL_FLAGS = ["--n-train", "64", "--n-test", "32", "--time-steps", "3", "--epochs", "2", "--lr", "0.01"]


def test_grid_values_take_the_type_of_their_config_field():
    assert sweep.parse_grid("HORIZON=1,2 Learning-Rate=0.1") == [("horizon", [1, 2]), ("learning_rate", [0.1])]
    grid = sweep.parse_grid("horizon=1,2 lr=1e-3,0.01 marker=0,true mode=stateful,rtrl")
    assert grid == [
        ("horizon", [1, 2]),
        ("learning_rate", [1e-3, 0.01]),
        ("marker", [False, True]),
        ("mode", ["stateful", "rtrl"]),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("horizn=1,2", "Did you mean 'horizon'"),
        ("units=a", "not an integer"),
        ("horizon=1,,2", "empty value"),
        ("marker=maybe", r"not a yes/no value \(1, on, true, yes or 0, false, no, off\)"),  # 0 and 1 are taken
        ("units", "KEY=V1,V2"),
        ("units=3 units=8", "appears twice"),
        ("units=3,3", "gives '3' twice; give each value once"),  # the same point trained twice
        ("lr=0.01,1e-2", "gives '1e-2' twice"),  # equal once read as numbers
        ("", "empty"),
        ("task=first-step", "unknown grid key"),
        ("seeds=2,4", "Seeds are not a grid key: every point runs the same seeds, --seeds N"),  # was "Did you mean 'steps'"
    ],
)
def test_bad_grids_are_one_sentence(text, match):
    with pytest.raises(ConfigError, match=match):
        sweep.parse_grid(text)


def test_invalid_combinations_are_kept_as_skipped_rows_with_the_reason():
    points = sweep.points(Config(task="prev-batch", **SMALL), sweep.parse_grid("mode=stateful,rtrl horizon=1,2"))
    skipped = [p for p in points if p.skipped]
    assert [p.values for p in skipped] == [{"mode": "rtrl", "horizon": 2}]
    assert "needs mode stateful" in skipped[0].skipped
    assert all(p.config is not None for p in points if not p.skipped)


@pytest.mark.parametrize("grid", ["mode=stateless,foo", "units=0,3", "lr=nan,1e-3", "batch_size=3,4"])
def test_a_value_invalid_with_everything_is_an_error_not_a_skipped_row(grid):
    with pytest.raises(ConfigError, match="is invalid"):
        sweep.points(Config(task="first-step", **SMALL), sweep.parse_grid(grid))


def test_each_point_needs_a_test_set_longer_than_the_distance_not_the_base():
    """The base config alone once decided it: a grid that gives every point a long enough test
    set was refused, and a point with a one-batch test set ran ("— (no finite seed)")."""
    base = Config(task="prev-batch", n_train=1024, batch_size=256, n_test=256)  # one test batch
    points = sweep.points(base, sweep.parse_grid("n_test=512,1024"))
    assert [p.config.n_test for p in points] == [512, 1024]
    with pytest.raises(ConfigError, match="batch_size=256 is invalid: distance 1 reaches past the test set's 1 batch"):
        sweep.points(base.replace(batch_size=4), sweep.parse_grid("batch_size=4,256"))


def test_a_sweep_row_equals_the_same_config_run_directly():
    base = Config(task="first-step", mode="stateful", **SMALL)
    rows = sweep.sweep(base, sweep.parse_grid("units=3,4"), seeds=[0, 1, 2])
    for row in rows:
        direct = blog.run(base.replace(**row.values), [0, 1, 2])
        expected = stats.mean_ci(direct.final("test_acc"))
        np.testing.assert_allclose(row.test_acc.mean, expected.mean)
        np.testing.assert_allclose(row.solved.mean, stats.solved_fraction(direct.final("test_known_acc")).mean)


def test_sweep_cli_json_has_one_point_per_combination():
    result = CliRunner().invoke(
        cli, ["sweep", "first-step", "--grid", "units=3,4 mode=stateless,stateful", "--seeds", "2", "--json", "--no-store", *SMALL_FLAGS]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [p["values"] for p in out["points"]] == [
        {"units": u, "mode": m} for u in (3, 4) for m in ("stateless", "stateful")
    ]
    assert all(0 <= p["test_acc"]["mean"] <= 1 for p in out["points"])


def test_sweep_cli_bad_grid_is_exit_code_2():
    result = CliRunner().invoke(cli, ["sweep", "first-step", "--grid", "horizn=1"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unknown grid key 'horizn'")


def test_runs_show_of_a_stored_sweep_prints_its_table():
    result = CliRunner().invoke(cli, ["sweep", "first-step", "--grid", "units=3,4", "--seeds", "2", "--json", *SMALL_FLAGS])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    shown = CliRunner().invoke(cli, ["runs", "show", str(out["run_id"])])
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.stdout.splitlines() if line.split()[:1] in (["3"], ["4"])]
    assert [r[0] for r in rows] == ["3", "4"]
    for row, point in zip(rows, out["points"]):
        assert row[1] == f"{point['test_acc']['mean']:.3f}"


def test_an_rtrl_point_that_cannot_fit_is_skipped_not_fatal():
    points = sweep.points(Config(task="prev-batch", **SMALL), sweep.parse_grid("units=3,256 mode=stateful,rtrl"))
    skipped = {tuple(p.values.values()): p.skipped for p in points if p.skipped}
    assert list(skipped) == [(256, "rtrl")]
    assert "GiB" in skipped[(256, "rtrl")]


def test_solved_falls_back_to_test_accuracy_when_no_label_is_determined():
    base = Config(task="random-labels", **SMALL)
    (row,) = sweep.sweep(base, sweep.parse_grid("units=3"), seeds=[0, 1])
    assert row.solved.n == 2 and np.isfinite(row.solved.mean)


def test_a_point_too_big_for_memory_in_any_mode_is_skipped_with_the_estimate(monkeypatch):
    """The engine's one estimate (core/memory.py) answers for every mode, not only RTRL's."""
    from statecarry.core import memory

    monkeypatch.setenv(memory.LIMIT_SETTING, "1G")
    grid = sweep.parse_grid("units=3,2800 n_train=64,2000000")  # big model or big data: fits
    points = sweep.points(Config(task="prev-batch", **SMALL), grid)
    skipped = {tuple(p.values.values()): p.skipped for p in points if p.skipped}
    assert list(skipped) == [(2800, 2000000)]  # both at once: not one seed fits in 1 GiB
    assert skipped[(2800, 2000000)].startswith("one seed needs about 1.3 GiB (parameters and Adam")


def test_a_learning_rate_grid_trains_side_by_side_with_each_points_own_numbers():
    """Learning rate and Adam's beta1 are data, so the CLI trains those points as one program
    (after the first, which runs alone); each stored point has exactly the numbers of its
    config run alone (`blog.run`)."""
    from statecarry import store

    flags = [f for f in SMALL_FLAGS if f not in ("--lr", "0.01")]
    result = CliRunner().invoke(
        cli, ["sweep", "first-step", "--grid", "lr=0.01,0.003 beta1=0.9,0.8", "--seeds", "3", "--json", *flags]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    stored = store.open_store()
    children = stored.children(out["run_id"])
    assert len(children) == 4 and all(c.status == "done" for c in children)
    finals = set()
    for child in (stored.get_run(c.id) for c in children):
        config = Config(**child.config)
        alone = blog.run(config, [0, 1, 2])
        for name, values in alone.metrics.items():
            np.testing.assert_array_equal(np.asarray(child.metrics[name], np.float32), values, err_msg=name)
        point = next(p for p in out["points"] if p["values"] == {"learning_rate": config.learning_rate, "beta1": config.beta1})
        assert point["test_acc"]["mean"] == pytest.approx(float(alone.final("test_acc").mean()))
        finals.add(float(alone.metrics["train_loss"][-1, 0]))
    assert len(finals) == 4  # four different runs, not one copied
    # the first point trains alone (the sweep's time estimate comes from it); the other three
    # in one program, each carrying an equal share of its time
    shares = [stored.get_run(c.id).timings["run_seconds"] for c in sorted(children, key=lambda c: c.id)]
    assert len(set(shares[1:])) == 1 and shares[0] != shares[1]


def test_a_loss_grid_trains_side_by_side_with_each_points_own_numbers():
    """The loss is data when points differ in it: mse and bce points after the first train as
    one program; each stored point has its config's numbers run alone, to float32 rounding."""
    from statecarry import store

    flags = [f for f in SMALL_FLAGS if f not in ("--lr", "0.01")]
    result = CliRunner().invoke(
        cli, ["sweep", "first-step", "--grid", "loss=mse,bce lr=0.01,0.003", "--seeds", "2", "--json", *flags]
    )
    assert result.exit_code == 0, result.output
    stored = store.open_store()
    children = stored.children(json.loads(result.stdout)["run_id"])
    assert len(children) == 4 and {Config(**c.config).loss for c in children} == {"mse", "bce"}
    for child in (stored.get_run(c.id) for c in children):
        alone = blog.run(Config(**child.config), [0, 1])
        for name, values in alone.metrics.items():
            np.testing.assert_allclose(np.asarray(child.metrics[name], np.float32), values, rtol=1e-5, atol=1e-7, err_msg=name)
    shares = [stored.get_run(c.id).timings["run_seconds"] for c in sorted(children, key=lambda c: c.id)]
    assert len(set(shares[1:])) == 1 and shares[0] != shares[1]  # the last three: one program


def test_a_grid_over_epochs_names_each_points_final_epoch_not_the_default():
    """`--grid "epochs=1,3"` headed its table "final epoch (5)", the --epochs default."""
    from types import SimpleNamespace

    from statecarry.cli.sweep import format_points

    summary = stats.mean_ci(np.array([0.5, 0.6]))
    point = lambda e: SimpleNamespace(values={"epochs": e}, skipped=None, test_acc=summary, known_acc=summary,  # noqa: E731
                                      solved=stats.solved_fraction(np.array([0.5, 0.6])), seconds=1.0)  # fmt: skip
    title = format_points([point(1), point(3)], 2, Config(task="prev-batch")).splitlines()[0]
    assert "after each point's epochs;" in title and "after 5" not in title
    plain = format_points([SimpleNamespace(**{**vars(point(1)), "values": {"units": 3}})], 2, Config(task="prev-batch"))
    assert "after 5 epochs;" in plain.splitlines()[0]  # the count; run's table numbers that epoch 4


def test_a_flag_that_is_also_a_grid_key_is_refused_not_dropped():
    from click.testing import CliRunner

    from statecarry.cli import cli

    result = CliRunner().invoke(cli, ["sweep", "first-step", "--grid", "units=2,3", "--units", "5", "--no-store"])
    assert result.exit_code == 2
    assert result.output == "Error: --units is also a --grid key; give its values in --grid only.\n"
