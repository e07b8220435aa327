"""`train`, `predict`, `compare`, `export`/`import` end to end through the CLI, on real data
that ships inside installed packages (no download):

- one multi-column series: statsmodels' US macro data (203 quarters), inflation forecast one
  quarter ahead from itself, real GDP, unemployment and the T-bill rate;
- many sequences of different lengths: the dietox pig weights (Lauridsen et al.; 72 pigs,
  11 or 12 weekly weighings) shipped in statsmodels' tests, next week's weight per pig;
- 0/1 and label targets: statsmodels' GEE test clusters (100 and 200 groups of 3-5 steps).

Oracles: the test RMSE and accuracy `train` reports against the same numbers computed here
from `predict`'s file; the persistence baseline computed here with NumPy; every sequence run
alone (the Python API) against the packed CLI predictions; Keras' own outputs.
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
from click.testing import CliRunner
from statsmodels.datasets import macrodata

import statecarry as sc
from statecarry.cli import cli

RESULTS = Path(statsmodels.__file__).parent
SMALL = ["--units", "4", "--epochs", "2", "--seeds", "2", "--time-steps", "4", "--batch-size", "4", "--lr", "0.01"]
MACRO = ["--target", "infl", "--features", "infl,realgdp,unemp,tbilrate"]
PIGS = ["--split", "id", "--id", "Pig", "--time", "Time", "--target", "Weight", "--features", "Weight"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    macro = macrodata.load_pandas().data
    macro.to_csv(root / "macro.csv", index=False)
    pigs = pd.read_csv(RESULTS / "regression/tests/results/dietox.csv").drop(columns=["Feed"])
    pigs.to_parquet(root / "pigs.parquet")
    gee = pd.read_csv(RESULTS / "genmod/tests/results/gee_logistic_1.csv", header=None,
                      names=["group", "y", "x1", "x2", "x3"])  # fmt: skip
    gee.to_csv(root / "gee.csv", index=False)
    nominal = pd.read_csv(RESULTS / "genmod/tests/results/gee_nominal_1.csv", header=None,
                          names=["group", "label", "x1", "x2"])  # fmt: skip
    nominal.to_csv(root / "nominal.csv", index=False)
    nominal.assign(label=nominal.label.map({0: "lo", 1: "mid", 2: "hi"})).to_csv(root / "text.csv", index=False)
    return root


def scored_rmse(pred, truth, warm, ahead):
    """RMSE over the steps the test part scores: inputs from the warm-up on, targets `ahead` later."""
    return float(np.sqrt(np.mean((pred[warm : len(pred) - ahead] - truth[warm + ahead :]) ** 2)))


def test_series_train_reports_what_predict_and_numpy_compute(data, tmp_path):
    model = tmp_path / "m.safetensors"
    out = json.loads(ok("train", data / "macro.csv", *MACRO, *SMALL, "-o", model, "--json").output)
    macro = pd.read_csv(data / "macro.csv")
    cut = len(macro) - round(len(macro) * 0.2)
    test = macro.iloc[cut:]
    truth = test["infl"].to_numpy()
    # persistence: each scored target predicted by the value before it, computed here
    first = 3 + 1
    assert out["baselines"]["persistence"] == pytest.approx(np.sqrt(np.mean((truth[first:] - truth[first - 1 : -1]) ** 2)), rel=1e-9)
    # the saved seed's test RMSE is what its predictions on the test part give
    test.to_csv(tmp_path / "test.csv", index=False)
    ok("predict", model, tmp_path / "test.csv", "-o", tmp_path / "p.csv")
    pred = pd.read_csv(tmp_path / "p.csv")["infl_in_1"].to_numpy()
    best = out["metrics"]["test_rmse"][-1][out["best_seed"]]
    assert scored_rmse(pred, truth, 3, 1) == pytest.approx(best, rel=1e-4)
    # evaluate scores the same rows the same way: train's own test metrics for the saved seed
    scored = json.loads(ok("evaluate", model, tmp_path / "test.csv", "--json").output)
    assert scored["metrics"]["infl"]["rmse"] == pytest.approx(best, rel=1e-4)
    assert scored["metrics"]["infl"]["mae"] == pytest.approx(out["metrics"]["test_mae"][-1][out["best_seed"]], rel=1e-4)
    assert (scored["steps"], scored["sequences"], scored["warm_up_rows"], scored["ahead"]) == (len(test) - 3 - 1, 1, 3, 1)


def test_sequences_predict_is_the_same_at_any_batch_size_and_equals_each_pig_alone(data, tmp_path):
    model = tmp_path / "m.safetensors"
    assert "replacing" not in ok("train", data / "pigs.parquet", *PIGS, *SMALL, "-o", model, "--no-store").output
    ok("predict", model, data / "pigs.parquet", "-o", tmp_path / "a.parquet", "--batch-size", 1)
    ok("predict", model, data / "pigs.parquet", "-o", tmp_path / "b.csv", "--batch-size", 7)
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_csv(tmp_path / "b.csv")
    assert list(a.columns) == ["Pig", "Time", "Weight_in_1"]
    np.testing.assert_allclose(a["Weight_in_1"], b["Weight_in_1"], rtol=1e-5)
    # the Python API, one pig at a time, scaling undone by hand
    spec, params = sc.load(model)
    meta = sc.core.checkpoint.read_extra(model)
    pigs = pd.read_parquet(data / "pigs.parquet").sort_values(["Pig", "Time"])
    s = meta["scaling"]
    for pig, rows in list(pigs.groupby("Pig"))[:5]:
        x = ((rows[["Weight"]].to_numpy() - s["x_mean"]) / s["x_std"]).astype(np.float32)
        alone, _ = sc.predict(params, x[None, None], spec)
        want = alone[0, 0, :, 0] * s["y_std"][0] + s["y_mean"][0]
        np.testing.assert_allclose(a[a.Pig == pig]["Weight_in_1"], want, rtol=1e-5)
    # a second train into the same file says that it replaced the model there
    again = ok("train", data / "pigs.parquet", *PIGS, *SMALL, "--seeds", 1, "-o", model, "--no-store").output
    assert f"to {model}, replacing the model that was there" in again


def test_train_then_predict_reproduces_fit_on_the_same_table(data, tmp_path):
    from statecarry.data.tables import load_table
    from statecarry.experiments import owndata, owndata_run

    model = tmp_path / "m.safetensors"
    out = json.loads(ok("train", data / "pigs.parquet", *PIGS, *SMALL, "-o", model, "--json", "--no-store").output)
    ok("predict", model, data / "pigs.parquet", "-o", tmp_path / "p.csv")
    columns, seqs = load_table(data / "pigs.parquet", ("Weight",), ("Weight",), "Pig", "Time")
    prep = owndata.prepare(seqs, columns, owndata.Setup(split="id", time_steps=4, batch_size=4))
    fit = owndata_run.train_table(prep, sc.Model(units=4), sc.Train(epochs=2, learning_rate=0.01), [out["best_seed"]])
    meta = prep.meta() | {"mode": "stateful"}
    preds, _ = owndata_run.predict_table(fit.model, fit.params_of(out["best_seed"]), meta, seqs, 16)
    cli_pred = pd.read_csv(tmp_path / "p.csv")["Weight_in_1"].to_numpy()
    np.testing.assert_allclose(np.concatenate(preds)[:, 0], cli_pred, rtol=1e-4)


def test_state_out_then_state_in_continues_every_stream(data, tmp_path):
    model = tmp_path / "m.safetensors"
    ok("train", data / "pigs.parquet", *PIGS, *SMALL, "-o", model, "--no-store")
    pigs = pd.read_parquet(data / "pigs.parquet")
    early, late = pigs[pigs.Time <= 6], pigs[pigs.Time > 6]
    early.to_csv(tmp_path / "early.csv", index=False)
    late.to_csv(tmp_path / "late.csv", index=False)
    ok("predict", model, data / "pigs.parquet", "-o", tmp_path / "all.csv")
    ok("predict", model, tmp_path / "early.csv", "-o", tmp_path / "e.csv", "--state-out", tmp_path / "s.npz")
    ok("predict", model, tmp_path / "late.csv", "-o", tmp_path / "l.csv", "--state-in", tmp_path / "s.npz")
    whole = pd.read_csv(tmp_path / "all.csv")
    np.testing.assert_allclose(pd.read_csv(tmp_path / "l.csv")["Weight_in_1"],
                               whole[whole.Time > 6]["Weight_in_1"], rtol=1e-5)  # fmt: skip
    # states whose ids match none of the table's: one warning, and the ids start from zeros
    late.assign(Pig=late.Pig + 10**6).to_csv(tmp_path / "other.csv", index=False)
    result = CliRunner().invoke(cli, [str(a) for a in ("predict", model, tmp_path / "other.csv", "-o", tmp_path / "o.csv",
                                                       "--state-in", tmp_path / "s.npz", "-q")])  # fmt: skip
    assert result.exit_code == 0, result.output
    pigs_n = late.Pig.nunique()
    assert result.output == (f"Warning: {pigs_n} of {pigs_n} id(s) in other.csv have no state in {tmp_path / 's.npz'}, "
                             "so they start from zeros.\n")  # fmt: skip
    ok("predict", model, tmp_path / "late.csv", "-o", tmp_path / "z.csv")  # the same rows from zeros
    np.testing.assert_allclose(pd.read_csv(tmp_path / "o.csv")["Weight_in_1"],
                               pd.read_csv(tmp_path / "z.csv")["Weight_in_1"], rtol=1e-5)  # fmt: skip


def test_predict_export_import_are_quiet_with_q_and_state_paths_are_checked_first(data, tmp_path):
    model = tmp_path / "m.safetensors"
    ok("train", data / "macro.csv", *MACRO, *SMALL, "-o", model, "--no-store", "-q")
    assert ok("predict", model, data / "macro.csv", "-o", tmp_path / "p.csv", "-q").output == ""
    assert ok("export", model, "--keras", tmp_path / "m.keras", "-q").output == ""
    assert ok("import", tmp_path / "m.keras", "-o", tmp_path / "b.safetensors", "--like", model, "-q").output == ""
    # --like a model of other sizes: its columns and scaling would fit nothing (was written anyway)
    other = tmp_path / "other.safetensors"
    ok("train", data / "macro.csv", "--target", "infl", "--features", "infl", *SMALL, "--units", 3, "-o", other,
       "--no-store", "-q")  # fmt: skip
    refused = invoke("import", tmp_path / "m.keras", "-o", tmp_path / "c.safetensors", "--like", other)
    assert refused.exit_code == 2 and not (tmp_path / "c.safetensors").exists()
    assert refused.output == ("Error: the Keras model has units 4 (expected 3), features 4 (expected 1); build it "
                              "with the same sizes as the model it should replace.\n")  # fmt: skip
    for args, message in [
        (["--state-out", tmp_path / "s.txt"], f"--state-out {tmp_path / 's.txt'}: states are written as NumPy .npz; name it with .npz"),
        (["--state-in", tmp_path / "nosuch.npz"], f"--state-in {tmp_path / 'nosuch.npz'}: there is no such file"),
        (["--batch-size", BIG], "--batch-size must be a positive whole number up to 2,147,483,647"),
    ]:  # fmt: skip
        result = invoke("predict", model, data / "macro.csv", "-o", tmp_path / "q.csv", *args)
        assert result.exit_code == 2 and result.output == f"Error: {message}" + result.output.split(message)[1]
        assert result.output.count("\n") == 1 and not (tmp_path / "q.csv").exists()
    assert not list(tmp_path.glob("s.txt*"))
    result = invoke("import", tmp_path / "m.keras", "-o", tmp_path / "x.keras")
    assert result.exit_code == 2 and "-o " in result.output and "name it with .safetensors" in result.output


def test_import_never_drops_a_trained_models_columns_and_replacing_is_said(data, tmp_path):
    model, keras = tmp_path / "m.safetensors", tmp_path / "m.keras"
    ok("train", data / "macro.csv", *MACRO, *SMALL, "-o", model, "--no-store", "-q")
    ok("export", model, "--keras", keras)
    assert ok("export", model, "--keras", keras).output.endswith(", replacing the file that was there\n")
    before = model.read_bytes()
    refused = invoke("import", keras, "-o", model)  # no --like: the table's columns would be lost
    assert refused.exit_code == 2 and model.read_bytes() == before
    assert refused.output == (f"Error: {model} is a model from 'statecarry train', whose table columns and scaling "
                              f"the import would lose; add --like {model} to keep them, or write to another file.\n")  # fmt: skip
    kept = ok("import", keras, "-o", model, "--like", model)
    assert kept.output.endswith(", replacing the model that was there\n")
    ok("predict", model, data / "macro.csv", "-o", tmp_path / "p.csv", "-q")  # still a table model
    bare = tmp_path / "bare.safetensors"
    assert "replacing" not in ok("import", keras, "-o", bare).output
    assert ok("import", keras, "-o", bare).output.endswith(", replacing the model that was there\n")


@pytest.mark.parametrize("table, target, head", [("gee.csv", "y", "sigmoid"), ("nominal.csv", "label", "softmax"),
                                                 ("text.csv", "label", "softmax")])  # fmt: skip
def test_labels_get_their_head_and_the_accuracy_predict_gives(data, tmp_path, table, target, head):
    model = tmp_path / "m.safetensors"
    args = ["--id", "group", "--target", target, "--split", "id", "--time-steps", "2"]
    out = json.loads(ok("train", data / table, *args, *SMALL[:6], "-o", model, "--json").output)
    assert sc.load(model)[0].head == head
    ok("predict", model, data / table, "-o", tmp_path / "p.csv")
    frame, pred = pd.read_csv(data / table), pd.read_csv(tmp_path / "p.csv")
    if table == "nominal.csv":  # whole-number labels come back as the table wrote them (2, not 2.0)
        assert pred[f"{target}_prediction"].dtype.kind == "i" and frame[target].dtype.kind == "i"
    if head == "sigmoid":  # as a softmax's: the label, and label 1's probability beside it
        assert list(pred.columns) == ["group", f"{target}_p_1", f"{target}_prediction"], list(pred.columns)
        np.testing.assert_array_equal(pred[f"{target}_prediction"], (pred[f"{target}_p_1"] > 0.5).astype(int))
        assert pred[f"{target}_p_1"].min() > 0 and pred[f"{target}_p_1"].max() < 1
    groups = sorted(frame.group.unique())
    test_groups = groups[len(groups) - round(len(groups) * 0.2) :]
    correct = []
    for g in test_groups:
        truth = frame[frame.group == g][target].to_numpy()[1:]  # steps from the warm-up on
        guess = pred[pred.group == g][f"{target}_prediction"].to_numpy()[1:]
        correct.append((guess > 0.5) == truth if head == "sigmoid" else guess == truth)
    acc = out["metrics"]["test_acc"][-1][out["best_seed"]]
    assert np.mean(np.concatenate(correct)) == pytest.approx(acc, abs=1e-6)
    frame[frame.group.isin(test_groups)].to_csv(tmp_path / "held_out.csv", index=False)
    text = ok("evaluate", model, tmp_path / "held_out.csv").output  # the held-out groups alone
    said = dict(re.findall(r"(\w+) ([\d.]+)", text.splitlines()[0].split(": ", 1)[1]))
    assert text.startswith(f"{target}: ") and float(said["acc"]) == pytest.approx(acc, abs=5e-4), text
    if head == "softmax":  # the cross-entropy too, as train's test loss
        loss = out["metrics"]["test_loss"][-1][out["best_seed"]]
        assert float(said["loss"]) == pytest.approx(loss, rel=2e-3), text
    if table == "text.csv":  # a label the model never saw: counted wrong, and said so
        held = frame[frame.group.isin(test_groups)]
        held.assign(label=np.where(held.group == held.group.iloc[0], "new", held.label)).to_csv(tmp_path / "new.csv", index=False)
        scored = json.loads(ok("evaluate", model, tmp_path / "new.csv", "--json").stdout)  # the warning: stderr
        (warning,) = scored["warnings"]
        count = re.fullmatch(r"(\d+) scored step\(s\) have a label the model was not trained on \(new\): counted as wrong in the "
                             r"accuracy, left out of the loss \(the model gives such a label no probability\)\.", warning)
        assert count and 0 < int(count[1]) < scored["steps"] and scored["metrics"]["label"]["acc"] < acc
        held.assign(label="new").to_csv(tmp_path / "all_new.csv", index=False)  # the wrong table: no score at all
        refused = invoke("evaluate", model, tmp_path / "all_new.csv")
        assert refused.exit_code == 2 and refused.output.startswith("Error: no scored label is one the model was "
                                                                    "trained on (the table has new; the model knows ")  # fmt: skip
    frame.drop(columns=[target]).to_csv(tmp_path / "unlabelled.csv", index=False)
    result = invoke("evaluate", model, tmp_path / "unlabelled.csv")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert f"has no column {target!r}, which evaluate scores the model against" in result.output
    if table == "text.csv":  # text labels: a softmax over the sorted labels, predictions written as the text
        assert [c for c in pred.columns if c.startswith("label_p_")] == ["label_p_hi", "label_p_lo", "label_p_mid"]
        assert set(pred["label_prediction"]) <= {"lo", "mid", "hi"}
        probs = pred[["label_p_hi", "label_p_lo", "label_p_mid"]].to_numpy()
        assert (np.array(["hi", "lo", "mid"])[probs.argmax(1)] == pred["label_prediction"]).all()


@pytest.mark.parametrize("table, args", [("macro.csv", MACRO), ("pigs.parquet", PIGS)])
def test_compare_pairs_every_mode_against_stateless_windows(data, tmp_path, table, args):
    page = tmp_path / "c.html"
    out = json.loads(ok("compare", data / table, *args, *SMALL, "--report", page, "--json").output)
    names = [v["name"] for v in out["variants"]]
    assert names[0] == "stateless windows" and names[1] == "stateful, horizon 1"
    assert any(n.startswith("stateful, horizon ") and n != names[1] for n in names) and "rtrl" in names
    base = np.array(out["variants"][0]["final"])
    for v in out["variants"][1:]:
        gain = base - np.array(v["final"])  # RMSE: lower is better
        assert v["difference"][0] == pytest.approx(gain.mean(), rel=1e-6)
        assert v["difference"][1] < gain.mean() < v["difference"][2]
    assert out["verdict"] in ("carrying state helps", "carrying state does not help", "cannot tell on this data")
    assert "<img" in page.read_text()
    # one stored run per variant, named by it, holding its own seconds and epochs
    from statecarry.store import open_store

    with open_store() as store:
        children = store.children(out["run_id"])
    assert [c.task for c in children] == [f"{table}: {n}" for n in names]
    assert all(c.seconds > 0 and c.timings["run_seconds"] > 0 and c.epochs == 2 for c in children)
    assert all(c.config["setup"]["layout"] == c.config["layout"] for c in children)  # windows said once, not streams too
    assert children[0].config["layout"] == "windows"
    for c, v in zip(children, out["variants"]):
        np.testing.assert_allclose(c.final["test_rmse"], v["final"], rtol=1e-6)


def test_export_to_keras_and_back_gives_the_same_outputs(data, tmp_path, keras_broadcasts):
    import keras

    model = tmp_path / "m.safetensors"
    ok("train", data / "macro.csv", *MACRO, *SMALL, "-o", model, "--no-store")
    ok("export", model, "--keras", tmp_path / "m.keras")
    ok("import", tmp_path / "m.keras", "-o", tmp_path / "back.safetensors", "--like", model)
    spec, params = sc.load(model)
    x = np.random.default_rng(1).normal(size=(3, 9, 4)).astype(np.float32)
    theirs = keras.saving.load_model(tmp_path / "m.keras").predict(x, verbose=0)
    ours, _ = sc.predict(params, x[None], spec)
    np.testing.assert_allclose(ours[0], theirs, atol=1e-5)
    ok("predict", model, data / "macro.csv", "-o", tmp_path / "a.csv")
    ok("predict", tmp_path / "back.safetensors", data / "macro.csv", "-o", tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


BAD_TABLES = [
    ("t.xlsx", "a,b\n1,2\n", ["--target", "b"], "neither CSV nor Parquet"),
    ("t.csv", "1,2\n3,4\n", ["--target", "b"], "looks headerless: its first row (1, 2) is numbers"),
    ("t.csv", "a,b\n1,2\n\n3,4\n", ["--target", "b"], "blank line at line 3"),
    ("t.csv", "a,b\n1,2\n3,4\n", ["--target", "c"], "--target 'c' is not a column of t.csv; its columns are: a, b."),
    ("t.csv", "a,b\n1,2\n3,4\n", ["--target", "b", "--features", "z"], "--features 'z' is not a column"),
    ("t.csv", "a,b\n1,2\n3,x\n", ["--target", "b"], "not a number on line 3: 'x'"),
    ("t.csv", "a,b,c\n1,2,\n3,4,\n", ["--target", "b"], "'c' of t.csv has no values"),
    ("t.csv", "ds,y\n1,2\n1,3\n2,4\n", [], "has the time 1 twice (lines 2 and 3)"),
    ("t.csv", "id,ds,y\n0,1,2\n0,1,3\n0,2,4\n", ["--id", "id"], "has the time 1 twice for id 0 (lines 2 and 3)"),  # not np.int64(0)
    ("t.csv", "a,b\n1,2\n3,4\n", ["--target", "b,b"], "--target names the column 'b' twice; give each column once."),
    ("t.csv", "a,b\n1,2\n3,4\n", ["--target", "b", "--features", "a", "--features", "a"], "--features names the column 'a' twice"),
    ("t.csv", "ds,y\n" + "".join(f"{t},{t}\n" for t in [*range(30), 40]), [], "jumps from time 29 to 40"),
    ("t.csv", "a,b\n1,2\n3,4\n", [], "say which column to predict with --target"),
    ("t.csv", "a,b\n1,2\n3,4\n", ["--target", "b", "--split", "id"], "--split id needs at least 2 ids"),
    ("t.csv", "a,b\n" + "".join(f"{i},{i / 3}\n" for i in range(30)), ["--target", "b", "--time-steps", "40"],
     "no test part is longer than --time-steps 40"),
    ("t.csv", "id,a,b\n" + "".join(f"{i // 20},{i},{i / 3}\n" for i in range(80)), ["--id", "id", "--target", "b", "--time-steps", "8"],
     "a smaller --time-steps, --split id (hold out whole sequences), or --test-fraction 0"),
    ("t.csv", "a,b\n" + "1,2\n" * 30, ["--target", "b"], "the target has one label only (2)"),
    ("t.csv", "a,b\n" + "1,2\n" * 30, ["--target", "b", "--test-fraction", "1.5"], "--test-fraction must be from 0"),
    ("missing.csv", None, ["--target", "b"], "there is no file at"),
    ("t.csv", b"a,b\n1,2\n\x1f\x8b\xf0\x9f\x92\n", ["--target", "b"],  # gzip's magic: a compressed file
     "t.csv is not text in UTF-8, so not a readable csv table (a binary or compressed file, or another "
     "encoding); save it as a UTF-8 CSV, or as Parquet."),
    ("folder.csv", "folder", ["--target", "b"], "folder.csv is a folder; give a .csv, .tsv or .parquet file in it."),
    ("folder", "folder", ["--target", "b"], "folder is a folder; give"),  # was "folder is neither CSV nor Parquet"
    ("t.csv", "a,b\n" + "0.5,1\n" * 30, ["--target", "b"], "the target has one label only (1)"),
    ("t.csv", "a,b\n" + "".join(f"{i},{['lo', 'mid', 'hi'][i % 3]}\n" for i in range(30)), ["--target", "a", "--features", "b"],
     "column 'b' of t.csv holds text, not numbers ('lo' on line 2); statecarry reads numbers only"),
    ("t.csv", "a,b\n" + "".join(f"{i},lo\n" for i in range(30)), ["--target", "b"], "the target has one label only ('lo')"),
    ("t.csv", "a,z,b\n" + "".join(f"{i},{i * 2 if i != 7 else 'oops'},{i % 2}\n" for i in range(30)),
     ["--target", "b"], "column 'z' of t.csv has a value that is not a number on line 9: 'oops'"),
    ("t.csv", "# a,b\n1,2\n3,4\n", ["--target", "b"],  # np.savetxt's header: a comment line
     "(as np.savetxt writes it) is skipped as a comment: write it without the '#'."),
    ("t.csv", "a,a,b\n1,2,3\n4,5,6\n", ["--target", "b"], "Error: t.csv has two columns named 'a' in its header; give each"),
    ("t.csv", "# c\n\na,b\n1,2\n3,4,5\n", ["--target", "b"],  # pandas' own line count, comments and all
     "Error: t.csv is not a readable csv table (line 5 has 3 fields where the header has 2: a text file"),
    ("t.csv", "hello world\nthis is text\nwith, a comma\n", ["--target", "b"],  # in the file's terms, not pandas'
     "Error: t.csv is not a readable csv table (line 3 has 2 fields where the header has 1: a text file that is not a table"),
    ("t.csv", "# a comment\na,b\n1,2,\n3,4,\n", ["--target", "b"],  # pandas took a as the index: b read a's cells
     "Error: t.csv is not a readable csv table (line 3 has 3 fields where the header has 2: a text file that is not a table, "
     "a separator at the end of a line, or a value that holds one (quote it)).\n"),
    ("t.csv", "# made by hand\n\na,b\n1,2\n\n3,4\n", ["--target", "b"], "blank line at line 5"),  # lines as the file's
    ("t.csv", "id,a,b\n" + "".join(f"{i // 20},{i},{i / 3}\n" for i in range(240)),
     ["--id", "id", "--target", "b", "--split", "id", "--test-fraction", "0.01"],
     "--split id holds out --test-fraction 0.01 of the 12 ids, which rounds to none; --test-fraction 0.08333 holds out 1."),
    ("t.csv", "id,a,b\n" + "".join(f"{i // 20},{i},{i / 3}\n" for i in range(240)),
     ["--id", "id", "--target", "b", "--split", "id", "--test-fraction", "0.99"],
     "which rounds to all of them; --test-fraction 0.9167 holds out 11."),
    ("t.csv", "a,b\n" + "".join(f"{i},{i % 3 if i < 28 else 0.5}\n" for i in range(30)), ["--target", "b", "--head", "softmax"],
     "the target holds 0.5, which is not a whole number"),  # in the test part alone
    ("t.csv", "a,b\n" + "".join(f"{i},{i / 7}\n" for i in range(30)), ["--target", "b", "--head", "softmax"],
     "a softmax head makes each value of the target a class, but the target holds 0.142857, which is not a whole"),
]  # fmt: skip


@pytest.mark.parametrize("command", ["train", "compare"])
@pytest.mark.parametrize("name, text, args, message", BAD_TABLES)
def test_every_bad_table_is_one_error_line_and_exit_2(tmp_path, command, name, text, args, message):
    if text == "folder":
        (tmp_path / name).mkdir()
    elif isinstance(text, bytes):
        (tmp_path / name).write_bytes(text)
    elif text is not None:
        (tmp_path / name).write_text(text)
    result = invoke(command, tmp_path / name, *args, "--no-store")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


BIG = str(10**20)
BAD_FLAGS = [
    (["--seeds", BIG], f"--seeds must be from 1 to 2,147,483,648 (seeds are 32-bit integers), got {BIG}."),
    (["--seeds", "0"], "--seeds must be from 1 to 2,147,483,648"),
    (["--batch-size", BIG], "--batch-size must be a positive whole number up to 2,147,483,647"),
    (["--epochs", "0"], "--epochs must be a positive whole number"),
    (["--layers", "0"], "--layers must be a positive whole number"),
    (["--lr", "1e39"], "--lr must be a positive number up to 3.403e+38 (the engine computes in float32), got 1e+39."),
    (["--lr", "nan"], "--lr must be a positive number up to 3.403e+38"),
    (["--lr", "0"], "--lr 0 trains nothing (the weights never move); give a positive learning rate"),
    (["--lr", "-1"], "--lr -1 would climb the loss; give a positive learning rate, e.g. 1e-3."),
    (["--horizon", "0"], "--horizon must be a positive whole number"),
    (["--horizon", "1000"], "is longer than an epoch ("),  # compare once cut it to an epoch without a word
]


@pytest.mark.parametrize("command", ["train", "compare"])
@pytest.mark.parametrize("args, message", BAD_FLAGS)
def test_a_bad_flag_is_one_error_line_naming_the_flag(data, tmp_path, command, args, message):
    result = invoke(command, data / "macro.csv", *MACRO, *args, "--no-store", "-o" if command == "train" else "--report",
                    tmp_path / ("m.safetensors" if command == "train" else "c.html"))  # fmt: skip
    assert result.exit_code == 2 and result.output.startswith("Error: ") and message in result.output, result.output
    assert result.output.count("\n") == 1
    assert not (tmp_path / "m.safetensors").exists() and not (tmp_path / "c.html").exists()


CONTRADICTIONS = [
    (["train", "--layout", "windows", "--mode", "stateful", "--horizon", "3"],
     "--layout windows trains stateless (a window carries no state), so it cannot take --mode stateful --horizon 3"),
    (["train", "--layout", "windows", "--mode", "rtrl"], "so it cannot take --mode rtrl; drop it, or use --layout streams."),
    (["train", "--layout", "windows", "--horizon", "0"], "--horizon must be a positive whole number"),
    (["train", "-o", "mymodel.keras"], "-o mymodel.keras: a statecarry model is a safetensors file; name it with .safetensors"),
    (["compare", "--report", "fig.png"], "--report fig.png: its name says PNG but this writes HTML"),
    (["compare", "--report", "."], "--report . is a directory"),
]  # fmt: skip


@pytest.mark.parametrize("args, message", CONTRADICTIONS)
def test_contradictory_flags_and_wrong_output_names_are_refused_before_training(data, tmp_path, monkeypatch, args,
                                                                                 message):  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = invoke(args[0], data / "macro.csv", *MACRO, *args[1:], *SMALL)
    assert result.exit_code == 2 and result.output.startswith("Error: ") and message in result.output, result.output
    assert result.output.count("\n") == 1 and not list(work.iterdir())
    assert json.loads(ok("runs", "list", "--json").output) == []


def test_a_windows_model_accepts_mode_stateless(data, tmp_path):
    ok("train", data / "macro.csv", *MACRO, *SMALL, "--layout", "windows", "--mode", "stateless", "-o",
       tmp_path / "w.safetensors", "--no-store")  # fmt: skip
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_compare_leaves_rtrl_out_with_a_note_when_it_does_not_fit(data, tmp_path, monkeypatch):
    """The engine's own estimate: 200 MiB holds XLA's part for horizon K (176 MiB) and stateful
    32 units, not RTRL's sensitivities (about 0.4 GiB)."""
    monkeypatch.setenv("STATECARRY_MEMORY_LIMIT", "200M")
    out = ok("compare", data / "macro.csv", *MACRO, *SMALL, "--units", "32", "--no-report", "--no-store").output
    assert "note: rtrl left out: one seed needs about " in out and "RTRL sensitivities" in out, out
    assert "stateful, horizon 1" in out and "\nrtrl " not in out


def test_compare_s_rtrl_note_keeps_the_budget_s_parenthesis_whole(data, monkeypatch):
    """Without STATECARRY_MEMORY_LIMIT the budget's own words hold a "; " inside a parenthesis;
    the note's first clause ends after it, not inside it."""
    from statecarry import budget

    monkeypatch.delenv("STATECARRY_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(budget, "available_bytes", lambda: 250 * 2**20)
    out = ok("compare", data / "macro.csv", *MACRO, *SMALL, "--units", "32", "--no-report", "--no-store").output
    note = next(line for line in out.splitlines() if "rtrl left out" in line)
    assert "of the memory available; STATECARRY_MEMORY_LIMIT sets another limit)" in note, note
    assert note.count("(") == note.count(")"), note


def test_every_seed_diverged_saves_nothing_and_exits_2(data, tmp_path):
    model = tmp_path / "m.safetensors"
    result = invoke("train", data / "macro.csv", *MACRO, *SMALL, "--epochs", "3", "--lr", "3e38", "-o", model, "-q")
    assert result.exit_code == 2 and result.output.startswith("Error: training diverged"), result.output
    assert f"no seed is left; try a learning rate below 1 (Adam's default is 1e-3); no model saved to {model}." in result.output
    assert not model.exists()
    runs = json.loads(ok("runs", "list", "--json").output)
    assert [r["status"] for r in runs] == ["failed"]


def test_a_model_with_non_finite_parameters_is_refused_by_predict_and_export(data, tmp_path):
    from statecarry.core.checkpoint import read_extra

    good = tmp_path / "m.safetensors"
    ok("train", data / "macro.csv", *MACRO, *SMALL, "-o", good, "--no-store")
    spec, params = sc.load(good)
    params["lstm"]["kernel"][0, 0] = np.nan
    bad = tmp_path / "nan.safetensors"
    sc.save(bad, spec, params, extra=read_extra(good))
    result = invoke("predict", bad, data / "macro.csv", "-o", tmp_path / "p.csv")
    assert result.exit_code == 2 and "has non-finite parameters (its training diverged)" in result.output
    result = invoke("export", bad, "--keras", tmp_path / "m.keras")
    assert result.exit_code == 2 and "gives non-finite outputs (its training diverged)" in result.output
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "m.keras").exists()


def test_a_value_near_1e300_is_scaled_not_overflowed(data, tmp_path):
    """One cell of 1e300 made the deviation inf: a NaN model saved, 'rmse nan' and NumPy's
    overflow warnings. The scaling and every error in the target's units stay finite."""
    macro = pd.read_csv(data / "macro.csv")
    macro.loc[100, "realgdp"] = 1e300
    macro.to_csv(tmp_path / "huge.csv", index=False)
    model = tmp_path / "m.safetensors"
    trained = ok("train", tmp_path / "huge.csv", *MACRO, *SMALL, "-o", model, "--no-store").output
    assert not re.search(r"\b(nan|inf)\b", trained) and "Warning" not in trained, trained
    scaling = sc.core.checkpoint.read_extra(model)["scaling"]
    # one cell of 1e300 among n: deviation 1e300 sqrt(n - 1) / n, n the training rows (100 to 203)
    assert 1e300 / np.sqrt(203) < scaling["x_std"][1] < 1e300 / np.sqrt(100)
    assert np.isfinite(scaling["x_mean"] + scaling["x_std"]).all()
    scored = ok("evaluate", model, tmp_path / "huge.csv").output
    assert "rmse nan" not in scored and "Warning" not in scored


def test_predict_refuses_what_it_cannot_use_in_one_line(data, tmp_path):
    model = tmp_path / "m.safetensors"
    ok("train", data / "macro.csv", *MACRO, *SMALL, "-o", model, "--no-store")
    spec, params = sc.load(model)
    sc.save(tmp_path / "plain.safetensors", spec, params)
    (tmp_path / "few.csv").write_text("infl,realgdp\n1,2\n")
    (tmp_path / "junk.npz").write_bytes(b"not a state file")
    cases = [
        (["predict", model, data / "macro.csv", "-o", tmp_path / "p.txt"], "give a file ending in .csv or .parquet"),
        (["predict", tmp_path / "plain.safetensors", data / "macro.csv", "-o", tmp_path / "p.csv"], "has no table columns or scaling"),
        (["predict", model, tmp_path / "few.csv", "-o", tmp_path / "p.csv"], "has no column 'unemp', which the model reads"),
        (["predict", model, data / "macro.csv", "-o", tmp_path / "p.csv", "--state-in", tmp_path / "junk.npz"], "is not a state file"),
        (["predict", tmp_path / "nope.safetensors", data / "macro.csv", "-o", tmp_path / "p.csv"], "there is no file at"),
        (["export", model, "--keras", tmp_path / "m.h5"], "ends in .keras"),
        (["import", tmp_path / "nope.keras", "-o", tmp_path / "x.safetensors"], "there is no file at"),
        (["import", data / "macro.csv", "-o", tmp_path / "x.safetensors"],
         "macro.csv is not a Keras model file: Keras saves models as .keras (or the older .h5)"),
        (["import", tmp_path / "png.keras", "-o", tmp_path / "x.safetensors"],
         "png.keras is not a Keras model file (Keras could not open it as the zip file a .keras model is)."),
        (["predict", data / "macro.csv", model, "-o", tmp_path / "p.csv"],
         f"MODEL {data / 'macro.csv'} is a table; predict takes the model first: statecarry predict {model} "),
        (["predict", data / "macro.csv", data / "gee.csv", "-o", tmp_path / "p.csv"],
         "is a table; predict takes the model first, the .safetensors file 'statecarry train' wrote"),
        (["predict", tmp_path / "junk.safetensors", data / "macro.csv", "-o", tmp_path / "p.csv"],
         "junk.safetensors is not a safetensors file; give the path of a model statecarry saved."),
        (["evaluate", data / "macro.csv", model], f"is a table; evaluate takes the model first: statecarry evaluate {model} "),
        (["evaluate", tmp_path / "plain.safetensors", data / "macro.csv"], "has no table columns or scaling; evaluate reads"),
        (["evaluate", model, tmp_path / "short.csv"], "no sequence is longer than 4 rows, the warm-up and look-ahead"),
        (["predict", model, tmp_path / "few.csv", "-o", tmp_path / "." / "few.csv"],
         "few.csv is TABLE itself: the predictions would replace your data; write them to another file."),
        (["predict", model, data / "macro.csv", "-o", tmp_path / "d.csv"], "d.csv is a directory; give a file name"),
    ]  # fmt: skip
    macro = pd.read_csv(data / "macro.csv")
    macro.head(4).to_csv(tmp_path / "short.csv", index=False)  # 4 rows: warm-up 3, then 1 ahead
    (tmp_path / "d.csv").mkdir()
    (tmp_path / "png.keras").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))  # an image renamed: Keras said "File not found"
    (tmp_path / "junk.safetensors").write_text("t,value\n1,2\n")
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2 and result.output.startswith("Error: "), result.output
        assert message in result.output and result.output.count("\n") == 1, result.output
    assert (tmp_path / "few.csv").read_text() == "infl,realgdp\n1,2\n"  # the table predict was told to overwrite


def test_a_windows_model_predicts_what_train_scored(data, tmp_path):
    """The stateless baseline: each step's prediction reads only its last time_steps inputs."""
    model = tmp_path / "w.safetensors"
    out = json.loads(ok("train", data / "macro.csv", *MACRO, *SMALL, "--layout", "windows", "-o", model, "--json",
                        "--all-seeds").output)  # fmt: skip
    # --all-seeds: every seed's model too, the best one equal to the model saved
    seeds = [sc.load(tmp_path / f"w-seed{k}.safetensors")[1]["lstm"]["kernel"] for k in range(2)]
    assert not np.array_equal(seeds[0], seeds[1])
    np.testing.assert_array_equal(sc.load(model)[1]["lstm"]["kernel"], seeds[out["best_seed"]])
    runs = json.loads(ok("runs", "list", "--json").output)
    assert any(r["kind"] == "train" and r["id"] == out["run_id"] for r in runs)
    macro = pd.read_csv(data / "macro.csv")
    test = macro.iloc[len(macro) - round(len(macro) * 0.2) :]
    test.to_csv(tmp_path / "test.csv", index=False)
    ok("predict", model, tmp_path / "test.csv", "-o", tmp_path / "p.csv", "--batch-size", 3)
    pred = pd.read_csv(tmp_path / "p.csv")["infl_in_1"].to_numpy()
    best = out["metrics"]["test_rmse"][-1][out["best_seed"]]
    assert scored_rmse(pred, test["infl"].to_numpy(), 3, 1) == pytest.approx(best, rel=1e-4)
    # a window's prediction does not depend on anything before it
    ok("predict", model, data / "macro.csv", "-o", tmp_path / "all.csv")
    whole = pd.read_csv(tmp_path / "all.csv")["infl_in_1"].to_numpy()
    np.testing.assert_allclose(whole[len(macro) - len(test) + 3 :], pred[3:], rtol=1e-5)


def test_rtrl_too_large_is_refused_before_a_run_is_stored(data):
    result = invoke("train", data / "macro.csv", *MACRO, "--mode", "rtrl", "--units", "2048", "--seeds", "4")
    assert result.exit_code == 2 and result.output.startswith("Error: rtrl "), result.output
    assert result.output.count("\n") == 1 and "GiB" in result.output
    assert json.loads(ok("runs", "list", "--json").output) == []


def test_several_targets_get_one_prediction_column_each_and_no_baselines(data, tmp_path):
    model = tmp_path / "m.safetensors"
    out = json.loads(ok("train", data / "macro.csv", "--target", "infl,realint", *SMALL, "-o", model, "--json").output)
    assert out["baselines"] is None and sc.load(model)[0].outputs == 2
    ok("predict", model, data / "macro.csv", "-o", tmp_path / "p.parquet")
    pred = pd.read_parquet(tmp_path / "p.parquet")
    assert list(pred.columns) == ["row", "infl_prediction", "realint_prediction"] and len(pred) == 203
    assert pred["row"].tolist() == list(range(203))  # one series without id or time: the row is the key


@pytest.mark.parametrize("command", [["train", "--target", "b"], ["forecast", "--column", "b", "--no-store"]])
def test_a_table_too_big_for_memory_is_refused_with_its_size_before_it_is_read(tmp_path, monkeypatch, command):
    """The limit injected through STATECARRY_MEMORY_LIMIT: a 30 KiB table against 200 KiB."""
    table = tmp_path / "big.csv"
    table.write_text("a,b\n" + "".join(f"{i},{i / 7:.6f}\n" for i in range(2000)))
    monkeypatch.setenv("STATECARRY_MEMORY_LIMIT", "200K")
    name, *args = command
    result = invoke(name, table, *args)
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    kib = table.stat().st_size / 1024
    assert result.output.startswith(f"Error: big.csv is {kib:,.1f} KiB; reading it needs about "), result.output
    assert "more than the 200.0 KiB that STATECARRY_MEMORY_LIMIT allows" in result.output
    assert json.loads(ok("runs", "list", "--json").output) == []


def test_a_feature_that_rises_by_one_step_every_row_is_named_as_a_likely_time_column(tmp_path):
    """A new user's `t,value` table: without --time, `t` becomes the only input and nothing is
    learned; the summary says so. With --time t, or for a feature that is not an index, no note."""
    t = np.arange(120)
    pd.DataFrame({"t": t, "value": np.sin(t / 7), "temp": np.cos(t / 5)}).to_csv(tmp_path / "s.csv", index=False)
    common = ("--target", "value", "--epochs", "1", "--seeds", "1", "--batch-size", "2", "--time-steps", "8",
              "--no-store", "-o", tmp_path / "m.safetensors")  # fmt: skip
    noted = ok("train", tmp_path / "s.csv", *common).output
    assert "\nnote: t rises by 1 every row, like a time index; if it is one, say --time t" in noted
    for extra in (("--time", "t"), ("--features", "temp")):
        out = ok("train", tmp_path / "s.csv", *common, *extra).output
        assert "note:" not in out and "rows put in --time" not in out  # the file is in t's order
    # --time naming a column the file is not in the order of: the rows move, and the line says so
    moved = ok("train", tmp_path / "s.csv", *common, "--time", "temp", "--features", "value", "--allow-gaps").output
    assert "\nnote: rows put in --time temp order (the file had some in another)" in moved, moved


def test_compare_says_what_it_trained_on_and_why_a_variant_is_missing(tmp_path):
    """compare names its features (and a likely time column) as train does, says when the data
    fills fewer rows than --batch-size, and when one batch an epoch leaves horizon K out."""
    t = np.arange(120)
    pd.DataFrame({"t": t, "value": np.sin(t / 7)}).to_csv(tmp_path / "s.csv", index=False)
    out = ok("compare", tmp_path / "s.csv", "--target", "value", "--units", "4", "--epochs", "1", "--seeds", "2",
             "--time-steps", "8", "--batch-size", "50", "--no-report", "--no-store").output  # fmt: skip
    assert "from 1 feature(s): t\nnote: t rises by 1 every row, like a time index" in out, out
    pieces = len(pd.read_csv(tmp_path / "s.csv")) * 4 // 5 // 8  # the training part's pieces of 8 steps
    assert f"\nnote: streams of {pieces} rows per batch, not --batch-size 50: the training part makes only {pieces} pieces of " \
           "--time-steps 8" in out, out  # fmt: skip
    assert "note: horizon K left out: an epoch is one batch long, so K = 1 and rtrl gives horizon 1's numbers" in out
    rows = {line.split("  ")[0]: line.split()[-3:] for line in out.splitlines() if line.startswith(("stateful", "rtrl"))}
    assert rows["stateful, horizon 1"] == rows["rtrl"], out  # the note's claim, in the table
    ok_ = ok("train", tmp_path / "s.csv", "--target", "value", "--units", "4", "--epochs", "1", "--seeds", "1",
             "--time-steps", "8", "--batch-size", "4", "--no-store", "-o", tmp_path / "m.safetensors").output  # fmt: skip
    assert "rows per batch, not --batch-size" not in ok_  # 4 rows fit: no note


def test_a_model_reads_later_dates_as_its_training_dates_were_read(tmp_path):
    """Trained on dates written day first (13/01/2020 among them), a model reads a later file
    of ambiguous ones (01/03/2020 ... 12/03/2020) day first too: 1 to 12 March, not 3 January
    to 3 December, in predict's time column and in evaluate's order."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2020-01-01", periods=60, freq="D")
    y = np.sin(np.arange(72) / 4) + rng.normal(size=72) * 0.05
    pd.DataFrame({"date": days.strftime("%d/%m/%Y"), "y": y[:60]}).to_csv(tmp_path / "a.csv", index=False)
    march = pd.date_range("2020-03-01", periods=12, freq="D")
    pd.DataFrame({"date": march.strftime("%d/%m/%Y"), "y": y[60:]}).to_csv(tmp_path / "b.csv", index=False)
    model = tmp_path / "m.safetensors"
    ok("train", tmp_path / "a.csv", "--time", "date", "--target", "y", "--features", "y", *SMALL, "-o", model, "--no-store")
    ok("predict", model, tmp_path / "b.csv", "-o", tmp_path / "p.csv")
    assert pd.read_csv(tmp_path / "p.csv")["date"].tolist() == list(march.strftime("%Y-%m-%d"))
    assert json.loads(ok("evaluate", model, tmp_path / "b.csv", "--json").stdout)["steps"] == 12 - 3 - 1


def test_evaluate_counts_labels_a_0_1_model_never_predicts_as_wrong_and_short_sequences_apart(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"id": np.repeat([1, 2, 3], [40, 40, 3]), "x": rng.normal(size=83)})
    frame["lab"] = (frame.x > 0).astype(int)
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.safetensors"
    ok("train", tmp_path / "t.csv", "--id", "id", "--target", "lab", "--features", "x", *SMALL, "-o", model, "--no-store")
    base = json.loads(ok("evaluate", model, tmp_path / "t.csv", "--json").stdout)
    assert (base["sequences"], base["steps"], base["warnings"]) == (2, 2 * (40 - 3), [])  # id 3: 3 rows, none scored
    assert "of 2 sequence(s) (1 too short to score)" in ok("evaluate", model, tmp_path / "t.csv").output
    frame.assign(lab=frame.lab.replace(1, 2)).to_csv(tmp_path / "two.csv", index=False)
    odd = json.loads(ok("evaluate", model, tmp_path / "two.csv", "--json").stdout)
    twos = int((frame[frame.id < 3].groupby("id").lab.apply(lambda s: s.iloc[3:].sum())).sum())
    assert odd["warnings"] == [f"{twos} scored step(s) have a label the model was not trained on (2; it predicts 0 "
                               "or 1), counted as wrong."]  # fmt: skip
    ok("predict", model, tmp_path / "t.csv", "-o", tmp_path / "p.csv")  # the oracle: predict's numbers
    scored = pd.read_csv(tmp_path / "p.csv").assign(lab=frame.lab).groupby("id").apply(lambda g: g.iloc[3:])
    zero_right = ((scored.lab_p_1 <= 0.5) & (scored.lab == 0)).mean()  # a 2 is never right
    assert odd["metrics"]["lab"]["acc"] == pytest.approx(zero_right, abs=1e-6)
    assert base["metrics"]["lab"]["acc"] == pytest.approx(((scored.lab_p_1 > 0.5) == scored.lab).mean(), abs=1e-6)
    assert ok("evaluate", model, tmp_path / "two.csv", "-q").output == "lab: acc " + f"{odd['metrics']['lab']['acc']:.4g}\n"
    frame.assign(lab=np.where(frame.lab, "pos", "neg")).to_csv(tmp_path / "text.csv", index=False)
    wrong = invoke("evaluate", model, tmp_path / "text.csv")  # no label it knows: the wrong table, not acc 0
    assert wrong.exit_code == 2 and wrong.output == ("Error: no scored label is one the model was trained on (the "
                                                     "table has neg, pos; the model knows 0, 1); check the table "
                                                     "and its target column.\n")  # fmt: skip


def test_train_refuses_an_output_it_could_not_write_before_training(data, tmp_path):
    """It trained to the end before, then failed to save (and stored the run as failed)."""
    (tmp_path / "a_file").write_text("x")
    for output, said in [(tmp_path / "a_file" / "m.safetensors", "is not writable; choose another path."),
                         (tmp_path / "nowhere" / "m.safetensors", "does not exist; create it first")]:  # fmt: skip
        result = invoke("train", data / "macro.csv", *MACRO, *SMALL, "-o", output)
        assert result.exit_code == 2 and result.output.startswith("Error: -o ") and said in result.output
        assert "train" not in result.output.split("Error:")[0]  # no progress: nothing trained


def _token_table(path, n=1200, seed=0):
    """A token stream with a rule to learn: ids cycle 0..5, with one in ten steps a random id
    up to 7 (so a model that reads the ids as ids predicts most next tokens)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) % 6
    noisy = rng.random(n) < 0.1
    ids[noisy] = rng.integers(0, 8, noisy.sum())
    pd.DataFrame({"ch": ids}).to_csv(path, index=False)
    return ids


def test_token_ids_train_as_tokens_and_predict_gives_the_reported_accuracy(tmp_path):
    """`--inputs tokens`: the column's ids reach the model unscaled (`Model(inputs="tokens")`, one
    kernel row per id), a token stream predicting itself gets a softmax without --head, and
    predict's classes score the test part as train reported it."""
    ids = _token_table(tmp_path / "t.csv")
    model = tmp_path / "m.safetensors"
    args = ["--target", "ch", "--inputs", "tokens", "--units", "16", "--epochs", "12", "--seeds", "1",
            "--time-steps", "8", "--batch-size", "8", "--lr", "0.02", "--no-store"]  # fmt: skip
    out = json.loads(ok("train", tmp_path / "t.csv", *args, "-o", model, "--json").output)
    loaded = sc.load(model)[0]
    assert (loaded.inputs, loaded.features, loaded.head, loaded.outputs) == ("tokens", 8, "softmax", 8)
    acc = out["metrics"]["test_acc"][-1][0]
    assert acc > 0.7, acc  # the cycle is learnt
    ok("predict", model, tmp_path / "t.csv", "-o", tmp_path / "p.csv")
    pred = pd.read_csv(tmp_path / "p.csv")["ch_in_1"].to_numpy()
    test_start = len(ids) - round(len(ids) * 0.2)
    # the test part is scored after its warm-up (time steps - 1 rows), each row against the next id
    rows = np.arange(test_start + 7, len(ids) - 1)
    assert np.mean(pred[rows] == ids[rows + 1]) == pytest.approx(acc, abs=1e-6)


@pytest.mark.parametrize("table, extra, message", [
    ("ch\n" + "0\n1\n2.5\n" * 40, [], "--inputs tokens reads whole-number ids from 0, but ch holds 2.5; number the tokens"),
    ("ch\n" + "0\n1\n-2\n" * 40, [], "--inputs tokens reads whole-number ids from 0, but ch holds -2;"),
    ("ch,z\n" + "0,1\n1,2\n2,3\n" * 40, ["--features", "ch,z"],
     "--inputs tokens reads one feature column of token ids, but the features are 2 (ch, z); name the id column with --features."),
])  # fmt: skip
def test_token_ids_that_are_not_ids_are_one_sentence(tmp_path, table, extra, message):
    (tmp_path / "t.csv").write_text(table)
    result = invoke("train", tmp_path / "t.csv", "--target", "ch", "--inputs", "tokens", *extra, "--no-store",
                    "-o", tmp_path / "m.safetensors")  # fmt: skip
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "m.safetensors").exists()


def test_predict_and_evaluate_name_a_token_id_the_model_has_no_row_for_by_its_line(tmp_path):
    _token_table(tmp_path / "t.csv", n=300)
    model = tmp_path / "m.safetensors"
    ok("train", tmp_path / "t.csv", "--target", "ch", "--inputs", "tokens", "--units", "16", "--epochs", "1",
       "--seeds", "1", "--time-steps", "8", "--batch-size", "8", "--no-store", "-o", model)  # fmt: skip
    for bad, word in (("12", "12"), ("2.5", "2.5"), ("-1", "-1")):
        (tmp_path / "b.csv").write_text("ch\n1\n2\n" + bad + "\n3\n4\n5\n")
        for command in (["predict", model, tmp_path / "b.csv", "-o", tmp_path / "p.csv"], ["evaluate", model, tmp_path / "b.csv"]):
            result = invoke(*command)
            assert result.exit_code == 2 and result.output == (
                f"Error: ch has the token id {word} on line 4; the model reads ids 0 to 7, the ones it was trained with.\n"
            ), result.output
    assert not (tmp_path / "p.csv").exists()


def test_a_label_no_weighted_step_shows_still_has_its_softmax_output(tmp_path):
    """The largest id only in the test part's warm-up rows (never a scored target): the softmax
    is as wide as the table's labels, so predict and evaluate read it, and the test loss is finite."""
    ids = np.arange(400) % 6
    ids[322] = 9
    pd.DataFrame({"ch": ids}).to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.safetensors"
    out = json.loads(ok("train", tmp_path / "t.csv", "--target", "ch", "--inputs", "tokens", "--time-steps", "8",
                        "--batch-size", "4", "--units", "16", "--epochs", "1", "--seeds", "1", "--no-store",
                        "-o", model, "--json").output)  # fmt: skip
    assert np.isfinite(out["metrics"]["test_loss"][-1][0]) and sc.load(model)[0].outputs == 7  # ids 0-5 and 9
    ok("predict", model, tmp_path / "t.csv", "-o", tmp_path / "p.csv")
    assert "ch_in_1_p_9" in pd.read_csv(tmp_path / "p.csv").columns
    assert ok("evaluate", model, tmp_path / "t.csv").output.startswith("ch: loss ")
