"""Mistakes a new user makes with the public API and the CLI: each is one sentence that says
what is wrong and what to do, and nothing is stored for a command refused before it trains."""

import numpy as np
import pytest
from click.testing import CliRunner

import statecarry as sc
from statecarry import ConfigError, DataError, store
from statecarry.cli import cli
from statecarry.experiments import series

SERIES = np.sin(np.arange(96.0) / 4).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    batches = sc.from_series(SERIES, batch_size=2, time_steps=4)
    result = sc.fit(batches, sc.Model(units=3, head="linear"), sc.Train(epochs=1), seeds=[0, 1])
    return batches, result


def test_params_with_a_seed_axis_point_to_params_of(fitted):
    batches, result = fitted
    with pytest.raises(DataError, match=r"leading seed axis \(2 seeds\).*params_of"):
        sc.predict(result.params, batches, result.model)
    with pytest.raises(DataError, match="one seed's parameters.*got Fit"):
        sc.predict(result, batches, result.model)


def test_model_and_train_swapped_is_a_sentence(fitted):
    batches, _ = fitted
    with pytest.raises(ConfigError, match="a Model then a Train, got Train and Model"):
        sc.fit(batches, sc.Train(), sc.Model(), seeds=1)


def test_a_seed_given_twice_is_refused(fitted):
    batches, _ = fitted
    with pytest.raises(ConfigError, match="seed 1 is given twice"):
        sc.fit(batches, sc.Model(units=2, head="linear"), sc.Train(epochs=1), seeds=[1, 1])


def test_predictor_says_which_of_rows_or_features_is_wrong_and_refuses_nan(fitted):
    _, result = fitted
    p = sc.Predictor(result.params_of(0), result.model)
    state = p.init_state(3)
    with pytest.raises(DataError, match="reads 1 feature"):
        p.step(state, np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"2 row\(s\) but the state has 3; .*init_state\(2\)"):
        p.step(state, np.zeros((2, 1)))
    with pytest.raises(DataError, match="NaN"):
        p.step(state, np.full((3, 1), np.nan))
    with pytest.raises(DataError, match="NaN"):
        sc.rollout(result.params_of(0), np.full(5, np.nan), 3, result.model)


def test_divergence_message_counts_epochs_as_the_metrics_rows_do():
    from statecarry.core.fit import divergence_message

    assert "seed 4 in epoch 0 (epochs counted from 0)" in divergence_message({4: 0}, 2)
    assert "the other 1 seed(s) are kept" in divergence_message({4: 0}, 2)
    assert "no seed is left" in divergence_message({4: 0, 5: 2}, 2)


def test_a_blank_line_between_values_is_a_missing_value_not_a_shift():
    lines = ["temp\n", "1\n", "2\n", "\n", "4\n", "5\n", "\n"]  # the last blank line is layout
    with pytest.raises(DataError, match="1 missing value.*line 4"):
        series.read_csv(lines, None, "t.csv")
    assert list(series.read_csv(["temp\n", "1\n", "2\n", "\n"], None, "t.csv").values) == [1, 2]


def test_save_to_a_folder_or_home_path(tmp_path, fitted, monkeypatch):
    _, result = fitted
    with pytest.raises(sc.StatecarryError, match="is a folder; give a file name"):
        sc.save(tmp_path, result.model, result.params_of(0))
    monkeypatch.setenv("HOME", str(tmp_path))
    sc.save("~/m.safetensors", result.model, result.params_of(0))
    model, _ = sc.load("~/m.safetensors")
    assert model == result.model and (tmp_path / "m.safetensors").is_file()


def test_rtrl_too_large_is_refused_before_a_run_is_stored():
    out = CliRunner().invoke(cli, ["run", "first-step", "--mode", "rtrl", "--units", "256"])
    assert out.exit_code == 2 and "GiB" in out.output and "Traceback" not in out.output
    assert store.open_store().list_runs() == []
