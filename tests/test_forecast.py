"""Forecasting: baselines against closed forms, differencing round trips, index alignment
against the layouts, the CSV reader's errors through the CLI, and one small end-to-end run."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from statecarry.cli import cli
from statecarry.errors import ConfigError, DataError
from statecarry.experiments import forecast as fc
from statecarry.experiments import forecast_verdicts as fv
from statecarry.experiments import series


def wave(n=60, seed=0):
    """A trend, a season and noise: a small stand-in for the CO2 series."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 300 + 0.1 * t + 2 * np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(n)


SMALL = fc.Setup(window=3, horizon=2, units=3, epochs=1, batch_size=4, ahead=5, cells=("lstm",))


# -- closed forms and round trips ----------------------------------------------------------


def test_differencing_round_trips():
    v = wave()
    np.testing.assert_allclose(series.undifference(v[0], series.difference(v)), v[1:], rtol=0, atol=1e-9)
    ints = np.array([3.0, 7.0, 2.0, 2.0, 11.0])  # exact in floating point
    np.testing.assert_array_equal(series.undifference(ints[0], series.difference(ints)), ints[1:])


@pytest.mark.parametrize("differenced", [False, True])
def test_true_model_outputs_give_back_the_true_levels(differenced):
    """Feeding the exact model-series values through the output mapping recovers the held-out
    levels, one-step and recursive: the index bookkeeping is right."""
    v = wave()
    start = 48
    prep = fc.model_series(v, start, differenced)
    u_hat = prep.from_output(prep.z)  # what a perfect linear head would output, p -> u[p]
    np.testing.assert_allclose(u_hat, prep.u, atol=1e-4)
    held_out = u_hat[start - 1 :]  # u[t - 1] = v[t]
    np.testing.assert_allclose(prep.levels_one_step(held_out), v[start:], atol=1e-3)
    np.testing.assert_allclose(prep.levels_recursive(held_out[:5]), v[start : start + 5], atol=1e-3)


def test_scaling_uses_the_training_part_only():
    v = wave()
    start = 48
    prep = fc.model_series(v, start, differenced=False)
    assert prep.mean == pytest.approx(v[1:start].mean())
    changed = v.copy()
    changed[start:] += 100  # the held-out tail must not move the scaling
    assert fc.model_series(changed, start, False).mean == prep.mean


# -- the models' data and predictions --------------------------------------------------------


def test_stateful_training_batches_target_the_next_value():
    prep = fc.model_series(wave(), 48, differenced=True)
    model = fc.models(SMALL)[1]  # stateful, window 1
    batches = fc.training_batches(prep, model, SMALL)
    _, train = fc.model_spec(model, SMALL)
    z = prep.z[: prep.start - 1]
    assert batches.x.shape == (len(z) - 1, 1, 1, 1)
    np.testing.assert_array_equal(batches.x[:, 0, 0, 0], z[:-1])
    np.testing.assert_allclose(batches.y[:, 0, 0, 0], z[1:], rtol=1e-6)
    assert train.mode == "stateful" and batches.batch_size == 1 and not train.shuffle


def test_windowed_training_batches_hold_sliding_windows():
    prep = fc.model_series(wave(), 48, differenced=False)
    batches = fc.training_batches(prep, fc.models(SMALL)[0], SMALL)
    _, train = fc.model_spec(fc.models(SMALL)[0], SMALL)
    x = batches.x.reshape(-1, SMALL.window)
    y = batches.y[:, :, -1, 0].reshape(-1)
    z = prep.z
    first = prep.start - 1 - len(x)
    for k in range(len(x)):
        j = first + k
        np.testing.assert_array_equal(x[k], z[j - SMALL.window : j])
        assert y[k] == pytest.approx(z[j], rel=1e-6)
    assert len(x) % SMALL.batch_size == 0 and train.mode == "stateless" and train.shuffle


@pytest.mark.parametrize("index", [0, 1, 3])  # stateless windowed, stateful window 1 and w
def test_rolling_paths_match_a_step_by_step_predictor(index):
    """From every origin, the recursive forecast equals feeding the model by hand: the true
    history up to the origin, then each prediction back as the next input (a fresh stream per
    window for the windowed model). `Predictor`, stepped in plain Python, is the oracle."""
    import jax

    from statecarry.core import cells
    from statecarry.core.predict import Predictor
    from statecarry.experiments.forecast_paths import paths

    prep = fc.model_series(wave(), 48, differenced=True)
    m = fc.models(SMALL)[index]
    spec, _ = fc.model_spec(m, SMALL)
    spec = spec.replace(features=1, outputs=1)
    params = cells.init(jax.random.key(7), spec)
    z, first, ahead = prep.z, 47, 4
    got = paths(params, spec, m, z, first, ahead)
    assert got.shape == (len(z) - first + 1, ahead)
    p = Predictor(params, spec)

    def feed(values):
        state = p.init_state(1)
        for value in values:
            state, y = p.step(state, [[value]])
        return float(y[0, 0])

    for row in (0, 5, len(got) - 1):
        history, expected = list(z[: first + row]), []
        for _ in range(ahead):
            y = feed(history[-m.window :] if m.mode == "stateless" else history)
            expected.append(y)
            history.append(y)
        np.testing.assert_allclose(got[row], expected, atol=1e-5)


# -- claims: the verdict rule can give every verdict -----------------------------------------


def test_ratio_verdict_reaches_every_verdict():
    better = np.array([1.0, 1.1, 0.9, 1.0])
    assert fv.ratio_verdict(better * 1.5, better)[0] == "confirmed"
    assert fv.ratio_verdict(better, better)[0] == "refuted"
    assert fv.ratio_verdict(better * np.array([2.0, 0.6, 1.9, 0.7]), better)[0] == "inconclusive"
    assert fv.ratio_verdict(better[:1] * 5, better[:1])[0] == "inconclusive"
    ratio = fv.ratio_verdict(better * 2, better)[1]
    assert ratio.mean == pytest.approx(2.0) and ratio.low == pytest.approx(2.0)


def synthetic(single, window, raw, persistence=1.0, longer=None):
    """A Comparison with given per-seed one-step RMSEs (no training): one origin, truth 0."""
    setup = fc.Setup()
    c = fc.Comparison(series.Series(np.zeros(3), "v", "s.csv"), setup, [0, 1, 2, 3], fc.Split(2, 1), 1)

    def add(name, series, rmses):
        r = np.asarray(rmses, float)
        cell = "" if series == "levels" else "lstm"
        c.results.append(fc.ModelResult(name, series, r[:, None, None], np.zeros((1, 1)), cell))

    add("naive", "levels", [persistence])
    add("stateful, window 1, horizon 1", "differenced", single)
    add(f"stateless, window {setup.window}", "differenced", window)
    add(f"stateless, window {setup.window}", "raw", raw)
    add(f"stateful, window 1, horizon {setup.horizon}", "differenced", longer or window)
    return {v.claim: v.verdict for v in fv.claims(c)[:3]}


def test_claims_follow_the_numbers():
    good = [0.4, 0.41, 0.39, 0.4]
    learned = synthetic(single=[0.6, 0.62, 0.58, 0.61], window=good, raw=[3.0, 3.1, 2.9, 3.0])
    assert learned == {
        fv.SINGLE_STEP: "refuted", fv.USE_WINDOWS: "confirmed", fv.DETREND: "confirmed"
    }
    failed = synthetic(single=[1.0, 1.01, 0.99, 1.0], window=good, raw=good)
    assert failed[fv.SINGLE_STEP] == "confirmed" and failed[fv.DETREND] == "refuted"
    same = synthetic(single=good, window=good, raw=good)
    assert same[fv.USE_WINDOWS] == "refuted"


# -- reading CSV files -----------------------------------------------------------------------


def test_default_series_is_the_shipped_co2_record():
    s = series.default_series()
    assert len(s.values) == 526 and np.isfinite(s.values).all()
    assert s.values[0] == pytest.approx(316.1)
    assert s.values[-60:].mean() > s.values[:60].mean() + 40  # the trend the claim is about


def test_csv_with_comments_picks_the_only_numeric_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("# a comment\n# another\nday,value\nmon,1.5\ntue,2\n\nwed,-3e1\n")
    s = series.load_csv(path)
    assert s.name == "value"
    np.testing.assert_array_equal(s.values, [1.5, 2.0, -30.0])


CSV_ERRORS = [
    ("date,temp,city\n1,1.5,a\n2,x,b\n", ["--column", "nope"],
     "column 'nope' is not in s.csv; its columns are: date, temp, city."),
    ("date,temp\n1,1.5\n2,x\n", ["--column", "temp"], "not a number on line 3: 'x'"),
    ("", [], "s.csv is empty"),
    ("date,temp\n", [], "no data rows"),
    ("temp\n1\n2\nNaN\n4\n\n5\n", [], "2 missing value(s), the first on line 4; fill the gaps"),
    ("a,b\n1,2\n3,4\n", [], "has 2 columns (a, b); choose one with --column NAME."),
    ("temp\n" + "1\n" * 10, [], "the series has 10 values"),
    ("temp\n1\ninf\n", [], "an infinite value on line 3"),
    # one bad cell in the values: refused at its line, not passed over for the row index beside it
    ("date,temp\nmon,1.5\ntue,x\nwed,2\n", [], "column 'temp' of s.csv has a value that is not a number on line 3: 'x'"),
    ("t,temp\n1,1.5\n2,x\n3,2\n", [], "has 2 columns (t, temp); choose one with --column NAME."),
]


@pytest.mark.parametrize("text, args, message", CSV_ERRORS)
def test_csv_errors_are_one_sentence_and_exit_code_2(tmp_path, text, args, message):
    path = tmp_path / "s.csv"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["forecast", str(path), *args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert "Traceback" not in result.output


def test_missing_file_and_bad_options_exit_2(tmp_path):
    for args, message in (
        ([str(tmp_path / "nope.csv")], f"there is no file at {tmp_path / 'nope.csv'}; check the path."),
        (["sunspot"], "no shipped series 'sunspot' (did you mean 'sunspots'?); the shipped ones are"),
        (["--test-fraction", "1"], "--test-fraction must lie between 0 and 1"),
        (["--window", "0"], "--window must be a positive whole number"),
        (["--column", "co2"], "--column needs a SERIES.csv"),
        (["nile", "--seeds", "100000000000000000000"],  # `run`'s rule, not an OverflowError
         "--seeds must be from 1 to 2,147,483,648 (seeds are 32-bit integers), got 1000"),
        (["nile", "--seeds", "0"], "--seeds must be from 1 to 2,147,483,648"),
        (["--time-steps", "0"], "--window must be a positive whole number"),  # train's name for it
        (["--target", "co2"], "--column needs a SERIES.csv"),
        (["--column", "co2", "--target", "co2"], "--column needs a SERIES.csv"),  # twice, one value: fine
        # both names at once, two values: one sentence, not the last one silently
        (["--column", "a", "--target", "b"], "--column / --target given twice with different values (a, b); give one."),
        (["--window", "4", "--time-steps", "6"], "--window / --time-steps given twice with different values (4, 6)"),
    ):
        result = CliRunner().invoke(cli, ["forecast", *args])
        assert result.exit_code == 2 and result.output.startswith("Error: "), result.output
        assert message in result.output


def test_forecast_help_names_train_s_flags_too_and_no_empty_default():
    text = CliRunner().invoke(cli, ["forecast", "--help"], terminal_width=200).output
    assert "--column, --target TEXT" in text and "--window, --time-steps INTEGER" in text
    assert "[default: None]" not in text and "Season length (default: detected on the training part)." in text


def test_setup_rejects_bad_sizes():
    with pytest.raises(ConfigError):
        fc.Setup(horizon=0)
    with pytest.raises(DataError, match="need at least"):
        fc.split(20, fc.Setup())


# -- end to end ------------------------------------------------------------------------------


def test_cli_runs_every_model_and_writes_json_and_figure(tmp_path):
    v = wave(60)
    path = tmp_path / "wave.csv"
    path.write_text("t,level\n" + "".join(f"{t},{float(x)!r}\n" for t, x in enumerate(v)))
    figure = tmp_path / "figure"  # no suffix: a PNG written exactly there
    args = ["forecast", str(path), "--column", "level", "--seeds", "2", "--epochs", "1",
            "--window", "3", "--horizon", "2", "--units", "3", "--batch-size", "4",
            "--ahead", "5", "--cells", "lstm", "-o", str(figure), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    start = len(v) - out["held_out"]
    persistence = next(m for m in out["models"] if m["model"] == "naive")
    assert persistence["one_step_rmse"]["mean"] == pytest.approx(
        float(np.sqrt(np.mean(np.diff(v[start - 1 :]) ** 2))), rel=1e-9
    )
    lstm = [m for m in out["models"] if m["series"] in ("raw", "differenced")]
    assert len(lstm) == 8 and all(m["cell"] == "lstm" for m in lstm)
    assert all(len(m["one_step_rmse_per_seed"]) == 2 for m in lstm)
    assert all(np.isfinite(m["one_step_rmse_per_seed"]).all() for m in lstm)
    assert [m["model"] for m in out["models"][:7]] == [
        "naive", "seasonal naive", "drift", "seasonal naive + drift", "ETS", "SARIMA", "AR"]
    assert {c["verdict"] for c in out["claims"]} <= {"confirmed", "refuted", "inconclusive"}
    assert len(out["claims"]) == 4 and out["period"] == 12
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "figure.png").exists()


@pytest.mark.parametrize("output, message", [
    ("fig.txt", "fig.txt: its name says text but this writes PNG; name it with .png or .pdf or .svg."),
    ("f.html", "f.html: its name says HTML but this writes PNG"),
])
def test_a_bad_figure_path_is_refused_before_any_training(monkeypatch, tmp_path, output, message):
    monkeypatch.setattr(fc, "compare", lambda *a, **k: pytest.fail("trained before checking -o"))
    result = CliRunner().invoke(cli, ["forecast", "--no-store", "-o", str(tmp_path / output)])
    assert result.exit_code == 2 and result.output.startswith("Error: "), result.output
    assert f"Error: -o {tmp_path}/{message}" in result.output


def test_a_straight_line_trains_the_raw_models_and_names_the_skipped_ones(tmp_path):
    path = tmp_path / "line.csv"
    path.write_text("v\n" + "".join(f"{1e-30 * (5 + 0.25 * t)!r}\n" for t in range(60)))
    result = CliRunner().invoke(cli, ["forecast", str(path), "--seeds", "1", "--epochs", "1",
                                      "--window", "3", "--horizon", "2", "--units", "2",
                                      "--batch-size", "4", "--ahead", "5", "--cells", "lstm",
                                      "--period", "4", "--no-figure", "--no-store", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {m["series"] for m in out["models"] if m["cell"]} == {"raw"}
    assert "the differences of the training part of the series are constant" in out["skipped"]["differenced models"]
    drift = next(m for m in out["models"] if m["model"] == "drift")
    assert drift["one_step_rmse"]["mean"] < 1e-40  # a line: drift is exact


# -- the global model ------------------------------------------------------------------------


def test_a_global_model_of_one_series_is_that_series_own_model():
    """Packed with resets, one series alone is trained exactly as `from_series` trains it (the
    only difference is a zero-weight input after its last target): the same forecasts."""
    from statecarry.experiments import global_model

    s = series.Series(wave(60), "wave", "w")
    [score] = global_model.compare_global([s], [0, 1], SMALL)
    np.testing.assert_allclose(score.global_.paths, score.alone.paths, rtol=1e-5, atol=1e-6)
    assert np.isfinite(score.global_.paths).all() and score.global_.paths.shape == (2, 12, 5)


def test_cli_global_compares_several_series(tmp_path):
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"w{seed}.csv"
        path.write_text("v\n" + "".join(f"{float(x)!r}\n" for x in wave(60, seed) * (1 + 9 * seed)))
        paths.append(str(path))
    args = ["forecast", "--global", ",".join(paths), "--seeds", "2", "--epochs", "1", "--window", "3",
            "--units", "2", "--batch-size", "4", "--ahead", "6", "--cells", "gru", "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["cell"] == "gru" and [(r["series"], r["h"]) for r in out["rows"]] == [
        ("v", "1"), ("v", "6"), ("v", "1"), ("v", "6")]
    assert all(r["verdict"] in ("as good or better", "worse", "unclear") for r in out["rows"])
    # stored like every forecast (it was not): its rows are the run's result
    from statecarry import store

    with store.open_store() as s:
        (listed,) = s.list_runs()
        run = s.get_run(listed.id)
    assert run.status == "done" and run.config["task"] == "forecast --global" and run.result["rows"] == out["rows"]
    # a SERIES beside --global was dropped without a word
    refused = CliRunner().invoke(cli, ["forecast", "nile", "--global", ",".join(paths)])
    assert refused.exit_code == 2 and "--global takes its series itself, so SERIES nile would be left out" in refused.output


BAD_SERIES = [
    ("v\n" + "2.5\n" * 80, [], "the training part of v in s.csv is constant"),
    ("v\n" + "".join(f"{float(x)!r}\n" for x in wave(80)), ["--period", "40"], "a period of 40 needs more than 81"),
    ("v\n" + "".join(f"{float(x)!r}\n" for x in wave(30)), ["--window", "20"], "the series has 30 values"),
    ("v\n1\n2\n\n4\n5\n", [], "1 missing value(s), the first on line 4"),
]


@pytest.mark.parametrize("text, args, message", BAD_SERIES)
def test_bad_series_are_one_sentence_exit_2_before_training(monkeypatch, tmp_path, text, args, message):
    monkeypatch.setattr(fc, "compare", lambda *a, **k: pytest.fail("trained a bad series"))
    path = tmp_path / "s.csv"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["forecast", str(path), "--no-store", "--no-figure", *args])
    assert result.exit_code == 2 and result.output.startswith("Error: "), result.output
    assert message in result.output and result.output.count("\n") == 1


def test_shipped_series_are_real_and_named():
    assert len(series.shipped("sunspots").values) == 309
    assert len(series.shipped("nile").values) == 100
    elnino = series.shipped("elnino").values
    assert len(elnino) == 732 and 20 < elnino.mean() < 30
    with pytest.raises(DataError, match="no shipped series 'mars'; the shipped ones are: co2, sunspots"):
        series.shipped("mars")


@pytest.mark.parametrize("lstm_error, verdict", [(2.0, "refuted"), (1.0, "confirmed"), (0.5, "confirmed")])
def test_good_forecaster_claim_follows_the_ladder(lstm_error, verdict):
    """Claim 19: the best stateful LSTM against the best baseline, one step ahead."""
    rng = np.random.default_rng(0)
    levels = rng.standard_normal(40)
    truth = fc.truth_paths(levels, 20, 1)
    c = fc.Comparison(series.Series(levels, "v", "s.csv"), fc.Setup(), [0, 1, 2], fc.Split(20, 20), 1, 1, 1.0)
    signs = rng.choice([-1.0, 1.0], size=(3, 20, 1))
    c.results = [
        fc.ModelResult("naive", "levels", truth[None] + 3.0, truth),
        fc.ModelResult("SARIMA", "levels", truth[None] - 1.0, truth),
        fc.ModelResult("stateless, window 12", "differenced", truth[None] + 0.1 * signs, truth, "lstm"),
        fc.ModelResult("stateful, window 1, horizon 1", "raw", truth[None] + lstm_error * signs, truth, "lstm"),
    ]
    v = fv.good_forecaster(c)
    assert v.verdict == verdict and "best baseline (SARIMA) 1.000" in v.measured
    assert "stateful, window 1, horizon 1, raw" in v.measured  # the stateless one is not eligible


def test_values_near_1e200_and_1e_minus_30_give_the_same_mase(tmp_path):
    """Standardisation is scale-free and cannot overflow: the same wave in units of 1e-32 and
    1e198 trains and scores alike (pytest turns any overflow warning into an error)."""
    found = []
    for factor in (1e-32, 1e198):
        path = tmp_path / "s.csv"
        path.write_text("v\n" + "".join(f"{float(x) * factor!r}\n" for x in wave(60)))
        args = ["forecast", str(path), "--seeds", "1", "--epochs", "1", "--window", "3",
                "--horizon", "2", "--units", "2", "--batch-size", "4", "--ahead", "3",
                "--cells", "lstm", "--no-figure", "--no-store", "--json"]  # fmt: skip
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        found.append({(m["model"], m["series"]): m["mase_per_seed"] for m in json.loads(result.stdout)["models"]})
    assert found[0].keys() == found[1].keys() and len(found[0]) == 15
    for key, mase in found[0].items():
        for h in mase:
            np.testing.assert_allclose(found[1][key][h], mase[h], rtol=2e-3, err_msg=str(key))  # MLE stops


# -- what a new user reads: divergence, the missing cell, one seed, one number format --------
TINY = ["--seeds", "1", "--epochs", "1", "--window", "3", "--horizon", "2", "--units", "2",
         "--batch-size", "4", "--ahead", "6", "--no-figure", "--no-store"]  # fmt: skip


def test_a_diverged_model_is_named_with_a_lower_lr_and_the_baselines_are_kept(tmp_path):
    path = tmp_path / "wave.csv"
    path.write_text("v\n" + "".join(f"{float(x)!r}\n" for x in wave(60)))
    result = CliRunner().invoke(cli, ["forecast", str(path), *TINY, "--cells", "lstm", "--lr", "3e38"])
    assert result.exit_code == 0, result.output
    assert "fill or drop them" not in result.output  # not blamed on the data
    left_out = [line for line in result.output.splitlines() if line.startswith("left out: LSTM")]
    assert len(left_out) == 8, result.output
    assert left_out[0] == ("left out: LSTM stateless, window 3, raw: training diverged (its loss or "
                           "forecasts became NaN or infinite) for seed 0 of 1; try a lower --lr "
                           "than 3e+38 (e.g. 3e+37).")  # fmt: skip
    assert all(f"\n{name} " in result.output for name in ("naive", "ETS", "SARIMA", "AR"))
    assert "none: every recurrent model was left out (above)." in result.output
    assert ("inconclusive: not measured (no LSTM stateful, window 1, horizon 1, differenced: "
            "training diverged") in result.output  # fmt: skip
    assert "inconclusive: not measured (no LSTM stateful model: training diverged" in result.output


def test_claims_say_no_lstm_was_trained_and_one_seed_gets_no_verdict(tmp_path):
    path = tmp_path / "wave.csv"
    path.write_text("v\n" + "".join(f"{float(x)!r}\n" for x in wave(60)))
    result = CliRunner().invoke(cli, ["forecast", str(path), *TINY, "--cells", "gru"])
    assert result.exit_code == 0, result.output
    claims = [line.strip() for line in result.output.splitlines() if line.startswith("  inconclusive")]
    assert claims == ["inconclusive: not measured (no LSTM was trained: --cells gru)"] * 4
    versus = result.output.split("paired per origin and seed:\n")[1].split("\n\n")[0].splitlines()[2:]
    assert len(versus) == 2 and all(row.rstrip().endswith("inconclusive (1 seed)") for row in versus)


def test_one_seed_claim_19_is_inconclusive_and_rmse_has_one_format():
    rng = np.random.default_rng(0)
    levels = rng.standard_normal(40)
    truth = fc.truth_paths(levels, 20, 1)
    c = fc.Comparison(series.Series(levels, "v", "s.csv"), fc.Setup(), [0], fc.Split(20, 20), 1, 1, 1.0)
    c.results = [fc.ModelResult("SARIMA", "levels", truth[None] - 1.0, truth),
                 fc.ModelResult("stateful, window 1, horizon 1", "raw", truth[None] + 0.5, truth, "lstm")]
    v = fv.good_forecaster(c)  # 20 origins give an interval, but one seed is no verdict
    assert v.verdict == "inconclusive" and v.measured.endswith("(1 seed: no verdict on one seed)")
    assert fv.versus_rows(c)[0][-1] == "inconclusive (1 seed)"
    for error, shown in ((2.16594, "2.166"), (1.28, "1.280"), (0.842712, "0.843"), (123456.7, "1.235e+05")):
        c.results[0] = fc.ModelResult("SARIMA", "levels", truth[None] - error, truth)
        assert fv.table_rows(c)[0][3] == shown  # one-step RMSE, as the recurrent rows print it


def test_parquet_and_tsv_are_read_as_train_reads_them(tmp_path):
    import pandas as pd

    values = wave(40)
    pd.DataFrame({"day": np.arange(40), "level": values}).to_parquet(tmp_path / "s.parquet")
    pd.DataFrame({"level": values}).to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    for name in ("s.parquet", "s.tsv"):
        s = series.load_csv(tmp_path / name, "level")
        assert s.name == "level" and s.source == name
        np.testing.assert_array_equal(s.values, values)  # pandas wrote them: the same floats


def test_a_bad_table_path_gets_the_sentence_train_gives(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    for name in ("nope.csv", "folder.csv", "data.xlsx"):
        path = str(tmp_path / name)
        said = [CliRunner().invoke(cli, [command, path]) for command in ("forecast", "train")]
        assert [r.exit_code for r in said] == [2, 2]
        assert said[0].output == said[1].output and said[0].output.startswith("Error: "), said[0].output


def test_cells_that_do_not_exist_are_named_as_written():
    """The message printed Python's tuple, ('lstm', 'rnn'), or () for --cells ","."""
    from statecarry.errors import ConfigError

    with pytest.raises(ConfigError, match="--cells must be some of lstm, gru, got lstm,rnn\\.$"):
        fc.Setup(cells=("lstm", "rnn"))
    with pytest.raises(ConfigError, match="got nothing\\.$"):
        fc.Setup(cells=())


def test_a_ratio_past_1e5_prints_in_3_significant_digits():
    """An all-but-exact baseline (MASE 9e-300) made the ratio a 170-digit number."""
    from statecarry import stats
    from statecarry.experiments.forecast_verdicts import ratio_text

    assert ratio_text(stats.Summary(1.234, 1.1, 1.4, 4)) == "ratio 1.23 [1.10, 1.40]"
    assert ratio_text(stats.Summary(8.5e170, 2e-6, 1.5e171, 4)) == "ratio 8.5e+170 [2e-06, 1.5e+171]"


def test_a_baseline_exact_up_to_rounding_is_exact():
    """AR on a pure sine: MASE 3.7e-14, and the ratio against it printed 1.9e+12 [0, 7.47e+12],
    'unclear'. A baseline within rounding of exact cannot be beaten: ratio inf, 'worse'."""
    from statecarry.experiments import rolling
    from statecarry.experiments.forecast import ModelResult
    from statecarry.experiments.forecast_verdicts import ratio_text

    truth = np.sin(np.arange(40) / 5.0)
    base = ModelResult("AR", "levels", (truth + 1e-15)[None, :, None], truth[:, None])
    model = ModelResult("LSTM", "raw", (truth + np.array([[0.1], [0.2]]))[:, :, None], truth[:, None], "lstm")
    r = rolling.paired(model, base, 1, scale=0.2)
    assert (r.mean, r.low, r.high) == (np.inf, np.inf, np.inf)
    assert rolling.ratio_word(r) == "worse" and ratio_text(r) == "ratio inf (the baseline is exact)"
    same = rolling.paired(base, base, 1, scale=0.2)
    assert (same.mean, same.low, same.high) == (1.0, 1.0, 1.0)
