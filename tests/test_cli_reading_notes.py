"""What `train` and `compare` say about how they read a table, and scores that `evaluate`
must repeat: found by a new user's pass over the CLI (2026-12-05).

Oracles: `evaluate` on the test part alone (a separate code path: `predict` then NumPy) for
the score `train` reports; the same run without the comment lines for the reader's skip;
the files in the folder for `--all-seeds`' note.
"""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import statecarry as sc
from statecarry.cli import cli
from statecarry.errors import DataError

SMALL = ["--units", "4", "--epochs", "2", "--time-steps", "8", "--batch-size", "4", "--lr", "0.01", "--no-store"]


def ok(*args) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def sine(tmp_path):
    t = np.arange(300)
    frame = pd.DataFrame({"t": t, "value": np.sin(t / 6) + 0.1 * np.cos(t / 2.3)})
    frame.to_csv(tmp_path / "sine.csv", index=False)
    return tmp_path / "sine.csv", frame


@pytest.mark.parametrize("mode", ["stateless", "stateful"])
def test_train_scores_its_test_part_as_evaluate_does(tmp_path, sine, mode):
    """A stateless model on streams was scored batch by batch from a zero state, while predict
    (and so evaluate) gives each step the window of inputs that ends at it: 0.636 against 0.597."""
    path, frame = sine
    model = tmp_path / "m.safetensors"
    out = json.loads(ok("train", path, "--target", "value", "--time", "t", "--mode", mode, "--seeds", "2", *SMALL,
                        "-o", model, "--json"))  # fmt: skip
    said = out["metrics"]["test_rmse"][-1][out["best_seed"]]
    frame.iloc[-60:].to_csv(tmp_path / "tail.csv", index=False)  # the test part: the last 20% of 300 rows
    scored = json.loads(ok("evaluate", model, tmp_path / "tail.csv", "--json"))
    assert scored["metrics"]["value"]["rmse"] == pytest.approx(said, rel=1e-4)


def test_comment_lines_above_the_header_are_skipped_by_every_reader(tmp_path, sine):
    path, frame = sine
    commented = tmp_path / "c.csv"
    commented.write_text("# a sine, made by hand\n\n# t: the row\n" + path.read_text())
    args = ("--target", "value", "--time", "t", "--seeds", "1", *SMALL, "--json")
    plain = json.loads(ok("train", path, *args, "-o", tmp_path / "a.safetensors"))
    read = json.loads(ok("train", commented, *args, "-o", tmp_path / "b.safetensors"))
    assert read["metrics"] == plain["metrics"]
    ok("predict", tmp_path / "b.safetensors", commented, "-o", tmp_path / "p.csv")
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(frame)


def test_notes_on_the_table_go_to_the_text_and_to_json(tmp_path):
    """A text column left out of the features (the sequences it names then run as one series),
    and a feature that looks like a row index: each a `note:` line, and `notes` in --json."""
    rows = [(f"s{i // 80}", i % 80, np.sin(i / 5)) for i in range(320)]
    pd.DataFrame(rows, columns=["id", "step", "y"]).to_csv(tmp_path / "m.csv", index=False)
    unread = "column(s) id are not numbers, so not features; if one names the sequences, say --id NAME"
    args = ("--target", "y", "--seeds", "2", *SMALL)
    text = ok("train", tmp_path / "m.csv", *args, "-o", tmp_path / "m.safetensors")
    assert f"\nnote: {unread}\n" in text, text
    out = json.loads(ok("train", tmp_path / "m.csv", *args, "-o", tmp_path / "m.safetensors", "--json"))
    assert unread in out["notes"]
    both = json.loads(ok("compare", tmp_path / "m.csv", *args, "--no-report", "--json"))
    assert unread in both["notes"]
    with_id = json.loads(ok("train", tmp_path / "m.csv", *args, "--id", "id", "--time", "step", "-o",
                            tmp_path / "m.safetensors", "--json"))  # fmt: skip
    assert with_id["notes"] == []


def test_the_summary_names_the_loss_asked_for(tmp_path):
    x = np.random.default_rng(0).normal(size=200)
    pd.DataFrame({"x": x, "label": (np.roll(x, 1) > 0).astype(int)}).to_csv(tmp_path / "c.csv", index=False)
    args = ("train", tmp_path / "c.csv", "--target", "label", "--seeds", "1", *SMALL, "-o", tmp_path / "m.safetensors")
    assert "(sigmoid head, BCE)" in ok(*args)
    assert "(sigmoid head, MSE)" in ok(*args, "--loss", "mse")


def test_all_seeds_names_an_earlier_runs_seed_files_it_left(tmp_path, sine):
    path, _ = sine
    out = tmp_path / "models" / "m.safetensors"
    out.parent.mkdir()
    args = ("train", path, "--target", "value", "--time", "t", *SMALL, "-o", out, "--all-seeds")
    assert "note:" not in ok(*args, "--seeds", "3")
    text = ok(*args, "--seeds", "2")
    assert "note: m-seed2.safetensors beside it is from an earlier run (not one of this run's seeds)" in text, text
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "m-seed0.safetensors", "m-seed1.safetensors", "m-seed2.safetensors", "m.safetensors"]  # fmt: skip


def test_compare_refuses_a_horizon_past_an_epoch_and_says_why_horizon_1_has_no_k_row(tmp_path, sine):
    path, _ = sine
    args = ("compare", path, "--target", "value", "--time", "t", "--seeds", "2", *SMALL, "--no-report")
    result = CliRunner().invoke(cli, [str(a) for a in (*args, "--horizon", "1000")])
    assert result.exit_code == 2 and "--horizon 1000 is longer than an epoch (" in result.output
    out = json.loads(ok(*args, "--horizon", "1", "--json"))
    assert [v["name"] for v in out["variants"]][:2] == ["stateless windows", "stateful, horizon 1"]
    assert not any(v["name"].startswith("stateful, horizon ") and v["name"] != "stateful, horizon 1"
                   for v in out["variants"])  # fmt: skip
    assert "horizon K left out: --horizon 1 is the stateful, horizon 1 run." in out["notes"]


@pytest.mark.parametrize("shape, axis", [((1, 0, 1), "steps"), ((0, 5, 1), "rows"), ((0, 1, 5, 1), "batches")])
def test_predict_refuses_empty_inputs_in_one_sentence(shape, axis):
    import jax

    from statecarry.core.cells import init

    model = sc.Model(units=3, features=1, outputs=1)
    params = init(jax.random.PRNGKey(0), model)
    with pytest.raises(DataError, match=f"the inputs have no {axis} "):
        sc.predict(params, np.zeros(shape, np.float32), model)


@pytest.mark.parametrize("text, message", [
    ("# made by hand\nt,y\n1,2,\n2,3,\n", "w.csv is not a readable CSV table (line 3 has 3 fields where the header has 2"),
    ("t,y,y\n1,2,3\n2,3,4\n", "w.csv has two columns named 'y' in its header; give each column its own name."),
])  # fmt: skip
def test_forecast_reads_a_csv_by_trains_rules(tmp_path, text, message):
    """forecast's own CSV path (comment lines kept apart) refuses what train's refuses."""
    (tmp_path / "w.csv").write_text(text)
    result = CliRunner().invoke(cli, ["forecast", str(tmp_path / "w.csv"), "--column", "y", "--no-store"])
    assert result.exit_code == 2 and result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert message in result.output, result.output


def test_train_notes_test_parts_too_short_to_score(tmp_path):
    """evaluate counted them apart; train said nothing of the sequences it could not score."""
    rows = [(i, t, np.sin(t / 4 + i)) for i in range(12) for t in range(60 if i % 3 else 25)]
    pd.DataFrame(rows, columns=["id", "t", "y"]).to_csv(tmp_path / "s.csv", index=False)
    args = ("train", tmp_path / "s.csv", "--id", "id", "--time", "t", "--target", "y", "--split", "id",
            "--test-fraction", "0.5", "--seeds", "1", *SMALL, "-o", tmp_path / "m.safetensors", "--json")  # fmt: skip
    held_out = range(6, 12)  # --split id holds out the last half of the ids
    short = sum(1 for i in held_out if i % 3 == 0)
    note = (f"{short} of the 6 test parts are shorter than the 31 rows a scored step needs (--time-steps 30 + "
            "--ahead 1), so not scored")  # fmt: skip
    assert note in json.loads(ok(*args, "--time-steps", "30"))["notes"]  # the last --time-steps counts
    assert not any("test parts" in n for n in json.loads(ok(*args))["notes"])  # 8 steps: every part scores


def test_a_line_of_spaces_is_blank_and_line_numbers_count_the_lines_above_the_header(tmp_path):
    """A line of spaces ends a one-column file as layout (a reading of it as a value refused
    such files); pandas' own line numbers already count the comment lines above the header."""
    from statecarry.data.reading import read_table

    (tmp_path / "c.csv").write_text("y\n1\n2\n   \n")
    assert read_table(tmp_path / "c.csv")["y"].tolist() == ["1", "2"]
    (tmp_path / "two.csv").write_text("# made by hand\na,b\n1,2\n  \n3,4\n")
    with pytest.raises(DataError, match="blank line at line 4"):
        read_table(tmp_path / "two.csv")
    (tmp_path / "bom.csv").write_text("\ufeff# a comment\na,b\n1,2\n", encoding="utf-8")
    assert list(read_table(tmp_path / "bom.csv").columns) == ["a", "b"]


def test_import_names_a_missing_file_before_asking_for_keras(tmp_path, monkeypatch):
    from statecarry.core import keras_files
    from statecarry.errors import InteropError

    def no_keras():
        raise InteropError("Keras is not installed")

    monkeypatch.setattr(keras_files, "_keras", no_keras)
    with pytest.raises(InteropError, match="there is no file at"):
        keras_files.import_keras(tmp_path / "nope.keras", tmp_path / "m.safetensors")
    (tmp_path / "m.keras").write_text("x")
    with pytest.raises(InteropError, match="Keras is not installed"):
        keras_files.import_keras(tmp_path / "m.keras", tmp_path / "m.safetensors")


@pytest.mark.parametrize("ahead", [1, 3])
def test_persistence_is_the_last_value_known_when_the_forecast_is_made(tmp_path, sine, ahead):
    """With --ahead 3 the baseline used y[t+2] for y[t+3], a value after the forecast's row: it
    looked far better than a forecaster can be. Persistence is y[t] for y[t+k]."""
    path, frame = sine
    out = json.loads(ok("train", path, "--target", "value", "--time", "t", "--ahead", str(ahead), "--seeds", "1",
                        *SMALL, "-o", tmp_path / "m.safetensors", "--json"))  # fmt: skip
    y = frame["value"].to_numpy()[-60:]  # the test part
    first = 7 + ahead  # scored from the 8th row (--time-steps 8), each target `ahead` rows on
    expected = np.sqrt(np.mean((y[first:] - y[first - ahead : len(y) - ahead]) ** 2))
    assert out["baselines"]["persistence"] == pytest.approx(expected, rel=1e-9)
