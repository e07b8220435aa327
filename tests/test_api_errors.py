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


@pytest.mark.parametrize(
    "seeds, sentence",
    [
        ("12", "got the text '12'; write seeds=12 for the first 12 seeds, or seeds=\\[12\\]"),
        ([1.5], "seeds must be whole numbers"),
        ([True, False], "seeds must be whole numbers"),
        ([float("inf")], "seeds must be whole numbers"),  # was a raw OverflowError
    ],
)
def test_seeds_that_are_text_or_fractions_are_refused(fitted, seeds, sentence):
    """A string was read character by character ("12" -> seeds 1 and 2), a 1.5 cut to 1."""
    batches, _ = fitted
    with pytest.raises(ConfigError, match=sentence):
        sc.fit(batches, sc.Model(units=2, head="linear"), sc.Train(epochs=1), seeds=seeds)
    assert sc.fit(batches, sc.Model(units=2, head="linear"), sc.Train(epochs=1), seeds=np.array([0.0, 3.0])).seeds == [0, 3]


def test_evaluate_checks_the_targets_as_fit_does():
    """evaluate gave NaN (a class past the model's) or a plausible number (0.5 as a class, 3 as a
    0/1 target) where fit refuses the same data."""
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 1)) for n in [2, 3, 4, 5, 2, 3, 4, 5]]
    labelled = lambda labels: sc.pack(seqs, 2, 4, labels=labels)  # noqa: E731
    for head, bad, sentence, fix in [
        ("softmax", [0, 1, 2, 0, 1, 0, 1, 0], "has class index 2, past the model's 2 classes", "a trained model scores only"),
        ("softmax", [0.5, 1] * 4, "has the class label 0.5", ""),
        ("sigmoid", [3, 1] * 4, "has targets outside \\[0, 1\\] \\(1 to 3\\)", ""),
    ]:
        fit = sc.fit(labelled([0, 1] * 4), sc.Model(units=2, head=head), sc.Train(epochs=1))
        with pytest.raises(DataError, match="the training data " + sentence):
            sc.fit(labelled(bad), sc.Model(units=2, head=head, outputs=2 if head == "softmax" else None), sc.Train(epochs=1))
        with pytest.raises(DataError, match=f"the data {sentence}.*{fix}"):
            sc.evaluate(fit.params_of(0), labelled(bad), fit.model)
        assert np.isfinite(sc.evaluate(fit.params_of(0), labelled([0, 1] * 4), fit.model)[0]["loss"])


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
    from statecarry.core.divergence import divergence_message

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


# -- every public entry point answers misuse with one StatecarryError sentence ----------------


def _bad(params, layer, weight, shape):
    return {**params, layer: {**params[layer], weight: np.zeros(shape, np.float32)}}


@pytest.mark.parametrize(
    "call, sentence",
    [
        (lambda p, m, s: sc.Predictor(None), "params must be one seed's parameters \\(a dict\\), got NoneType"),
        (lambda p, m, s: sc.Predictor({}), "params must hold 'lstm' and 'dense' layers"),
        (lambda p, m, s: sc.Predictor("params"), "got str"),
        (lambda p, m, s: sc.Predictor(_bad(p, "lstm", "bias", 5), m), r"lstm/bias has shape \(5,\) but .* needs \(12,\)"),
        (lambda p, m, s: sc.Predictor(_bad(p, "dense", "bias", 7), m), r"dense/bias has shape \(7,\) .* needs \(1,\)"),
        (lambda p, m, s: sc.Predictor(p, m).step(None, np.zeros((2, 1))), "the state must be one that init_state"),
        (lambda p, m, s: sc.Predictor(p, m).step([1, 2], np.zeros((2, 1))), "the state must be one that init_state"),
        (lambda p, m, s: sc.Predictor(p, m).step(s, "abc"), "x must be numbers"),
        (lambda p, m, s: sc.Predictor(p, m).reset(None, [0]), "the state must be one that init_state"),
        (lambda p, m, s: list(sc.Predictor(p, m).stream("abc")), "stream\\(\\) reads numbers"),
        (lambda p, m, s: sc.predict(p, "abc", m), "the inputs must be numbers"),
        (lambda p, m, s: sc.predict(_bad(p, "lstm", "bias", 5), np.zeros((1, 2, 4, 1)), m), "lstm/bias has shape"),
        (lambda p, m, s: sc.evaluate(p, np.zeros((1, 2, 4, 1)), m), "evaluate needs Batches"),
        (lambda p, m, s: sc.predict(p, np.zeros((7, 1)), m), r"got shape \(7, 1\); one series \(time, features\) is x\[None\]"),
        (lambda p, m, s: sc.predict(p, np.zeros((2, 4, 3)), m), r"the model reads 1 feature\(s\) but the inputs have 3 \(shape \(2, 4, 3\)\)"),
        (lambda p, m, s: sc.evaluate(p, sc.from_series(np.c_[SERIES, SERIES], 2, 4), m), "the model reads 1 feature.* but the data has 2; give data with the model's features\\.$"),
        (lambda p, m, s: sc.rollout(p, "abc", 3, m), "the context must be numbers"),
        (lambda p, m, s: sc.rollout(p, SERIES[:8], -1, m), "steps must be a positive whole number"),
        (lambda p, m, s: sc.rollout(p, SERIES[:8], 10**20, m), "steps must be a positive whole number up to"),
        (lambda p, m, s: sc.to_keras(p, m, batch_size=-3), "batch_size must be a positive whole number, got -3|up to .* got -3"),
        (lambda p, m, s: sc.to_keras(p, m, batch_size="4"), "batch_size must be a positive whole number .* got '4'"),
        (lambda p, m, s: sc.to_keras(p, m, batch_size=4.5), "batch_size must be a positive whole number .* got 4.5"),
        (lambda p, m, s: sc.save(None, m, p), "save needs a file path"),
        (lambda p, m, s: sc.save("x.safetensors", None, p), "takes a statecarry Model, got NoneType"),
        (lambda p, m, s: sc.load(None), "load needs a file path"),
    ],
)
def test_public_entry_points_refuse_misuse_with_one_sentence(fitted, call, sentence):
    _, result = fitted
    params, model = result.params_of(0), result.model
    state = sc.Predictor(params, model).init_state(2)
    with pytest.raises(sc.StatecarryError, match=sentence):
        call(params, model, state)


@pytest.mark.parametrize(
    "call, sentence",
    [
        (lambda: sc.Train(shuffle="yes"), "shuffle must be True or False, got 'yes'"),
        (lambda: sc.Train(shuffle=0.5), "shuffle must be True or False, got 0.5"),
        (lambda: sc.Train(learning_rate=-1), "^learning_rate must be a finite number from 0"),  # the Python name
        (lambda: sc.from_series(SERIES[None, :], 2, 4), r"a \(1, 96\) array is one step of 96 features; for 96 steps pass series.ravel\(\)"),
        (lambda: sc.pack(np.arange(10.0), 1, 4), r"got shape \(\) \(a number: pack takes a list of sequences; for one series use from_series\)"),
        (lambda: (lambda b: sc.fit(b._replace(weight=-b.weight), sc.Model(units=2, head="linear"), sc.Train(epochs=1)))(
            sc.from_series(SERIES, 2, 4)), r"weight has a negative value at \(0, 0, 0\); a weight is 0 \(no target\) or positive"),
    ],
)
def test_python_arguments_a_new_user_got_wrong_are_one_sentence(call, sentence):
    """Each was accepted as given, or answered with a sentence about something else."""
    with pytest.raises(sc.StatecarryError, match=sentence):
        call()
    assert sc.Train(shuffle=np.True_).shuffle is True  # NumPy's bool is a bool, stored as one


def test_a_fit_prints_in_a_line_and_help_names_every_argument(fitted):
    """repr(Fit) was every metric and parameter array (496 lines for LSTM(16) × 4 seeds)."""
    _, result = fitted
    shown = repr(result)
    assert "\n" not in shown and len(shown) < 600 and "seeds=[0, 1] (2), epochs=1" in shown
    for cls, names in ((sc.Model, ("cell", "units", "layers", "head", "features")),
                       (sc.Train, ("mode", "horizon", "reset", "carry", "shuffle", "epochs", "learning_rate", "loss"))):  # fmt: skip
        args = cls.__doc__.split("Args:")[1]
        assert all(f"{name}" in args for name in names), cls
    assert "seeds=8" in sc.fit.__doc__ and "chunk_size" in sc.fit.__doc__
