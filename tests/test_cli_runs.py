"""`statecarry run` records into the store; `statecarry runs …` reads it back, end to end."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from statecarry import store
from statecarry.cli import cli

TINY = ["first-step", "--seeds", "2", "--epochs", "1", "--n-train", "64", "--n-test", "32"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Two runs in one store (stateless, stateful): the env for every later invocation."""
    root = tmp_path_factory.mktemp("cli_runs")
    env = {"STATECARRY_HOME": str(root / "home"), "XDG_CACHE_HOME": str(root / "cache")}
    outputs = {}
    for mode in ("stateless", "stateful"):
        result = CliRunner().invoke(cli, ["run", *TINY, "--mode", mode, "--json"], env=env)
        assert result.exit_code == 0, result.output
        outputs[mode] = json.loads(result.stdout)
    return env, outputs


def invoke(env, *args, input=None):
    return CliRunner().invoke(cli, list(args), env=env, input=input)


def test_run_stores_every_epoch_it_printed(recorded):
    env, outputs = recorded
    for mode, printed in outputs.items():
        shown = json.loads(invoke(env, "runs", "show", str(printed["run_id"]), "--json").stdout)
        assert shown["kind"] == "run" and shown["status"] == "done"
        assert shown["config"] == printed["config"] and shown["config"]["mode"] == mode
        assert shown["seeds"] == printed["seeds"] == [0, 1]
        assert shown["epochs"] == printed["epochs"]
        assert shown["timings"]["compile_seconds"] == pytest.approx(printed["compile_seconds"])


def test_no_store_records_nothing(recorded):
    env, _ = recorded
    before = json.loads(invoke(env, "runs", "list", "--json").stdout)
    result = invoke(env, "run", *TINY, "--mode", "stateless", "--json", "--no-store")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run_id"] is None
    assert json.loads(invoke(env, "runs", "list", "--json").stdout) == before


def test_list_shows_each_run_with_its_status_and_final_accuracy(recorded):
    env, outputs = recorded
    listed = json.loads(invoke(env, "runs", "list", "--json").stdout)
    by_id = {r["id"]: r for r in listed}
    for printed in outputs.values():
        row = by_id[printed["run_id"]]
        assert row["shown_status"] == "done" and row["epochs"] == 1
        assert row["final"]["test_acc"] == printed["epochs"][-1]["test_acc"]
    text = invoke(env, "runs", "list").stdout.splitlines()
    assert text[0].split()[:5] == ["id", "kind", "task", "mode", "status"]
    rows = [line.split() for line in text[2:]]
    assert {(r[0], r[3], r[4]) for r in rows} >= {
        (str(p["run_id"]), mode, "done") for mode, p in outputs.items()
    }


def test_compare_reports_mean_ci_and_the_config_difference(recorded):
    env, outputs = recorded
    ids = [str(outputs[m]["run_id"]) for m in ("stateless", "stateful")]
    result = invoke(env, "runs", "compare", *ids, "--json")
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)
    assert comparison["config_differences"] == {"mode": ["stateless", "stateful"]}
    for row, mode in zip(comparison["runs"], ("stateless", "stateful")):
        final = outputs[mode]["epochs"][-1]["test_acc"]
        assert row["test_acc"]["mean"] == pytest.approx(sum(final) / len(final))
        assert row["test_acc"]["n"] == 2
    text = invoke(env, "runs", "compare", *ids).stdout
    mode_row = next(line for line in text.splitlines() if line.startswith("mode"))
    assert mode_row.split() == ["mode", "stateless", "stateful"]
    # the epochs each stored, under a name of its own (a config's `epochs` row may follow)
    stored = next(line for line in text.splitlines() if line.startswith("epochs"))
    assert stored.split() == ["epochs", "stored", *(str(len(outputs[m]["epochs"])) for m in ("stateless", "stateful"))]


def test_export_csv_and_json_hold_the_stored_numbers(recorded, tmp_path):
    env, outputs = recorded
    printed = outputs["stateful"]
    run_id = str(printed["run_id"])
    exported = invoke(env, "runs", "export", run_id, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["epoch"], r["seed"]) for r in rows] == [("0", "0"), ("0", "1")]
    assert [float(r["test_acc"]) for r in rows] == printed["epochs"][0]["test_acc"]
    assert [float(r["train_loss"]) for r in rows] == printed["epochs"][0]["train_loss"]
    out = tmp_path / "run.json"
    result = invoke(env, "runs", "export", run_id, "--format", "json", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text())["epochs"] == printed["epochs"]
    assert result.stderr == f"wrote run {run_id} to {out} ({out.stat().st_size} bytes)\n"
    result = invoke(env, "runs", "export", run_id, "-o", str(tmp_path / "run.csv"), "-q")
    assert result.exit_code == 0 and result.output == "" and (tmp_path / "run.csv").read_text() == exported


def test_an_unknown_id_is_one_error_line_with_exit_code_2(recorded):
    env, _ = recorded
    path = f"{env['STATECARRY_HOME']}/runs.sqlite"
    commands = (
        ["show", "9999"], ["export", "9999"], ["delete", "9999", "--yes"], ["compare", "1", "9999"]
    )  # fmt: skip
    for command in commands:
        result = invoke(env, "runs", *command)
        assert result.exit_code == 2
        assert result.stderr == f"Error: no run 9999 in {path}; see 'statecarry runs list'.\n"
    result = invoke(env, "runs", "compare", "1")
    assert result.exit_code == 2 and "at least two run ids" in result.stderr


def test_delete_asks_first_and_removes_the_run_and_its_children():
    with (
        store.recording("sweep", {"task": "first-step"}, [0]) as sweep,
        sweep.child("run", {"task": "first-step", "units": 4}, [0]) as child,
    ):
        child.epoch(0, {"test_acc": [0.5]})
    runner = CliRunner()
    result = runner.invoke(cli, ["runs", "delete", str(sweep.run_id)], input="n\n")
    assert result.exit_code == 1 and "and its 1 child run(s)?" in result.output
    with store.open_store() as s:
        assert len(s.list_runs()) == 2
    result = runner.invoke(cli, ["runs", "delete", str(sweep.run_id)], input="y\n")
    assert result.exit_code == 0
    assert result.stdout.strip().endswith(f"deleted runs {sweep.run_id}, {child.run_id}")
    with store.open_store() as s:
        assert s.list_runs() == []


def test_export_of_a_sweep_holds_its_points_rows_and_a_run_without_epochs_says_so():
    with store.recording("sweep", {"task": "first-step"}, [0, 1]) as sweep:
        with sweep.child("run", {"task": "first-step", "units": 2}, [0, 1]) as a:
            a.epoch(0, {"test_acc": [0.5, 0.75]})
        with sweep.child("run", {"task": "first-step", "units": 3}, [0, 1]) as b:
            b.epoch(0, {"test_acc": [1.0, 0.25], "test_loss": [0.1, 0.2]})
    with store.recording("forecast", {"series": "s.csv"}, [0]) as bare:
        pass
    runner = CliRunner()
    result = runner.invoke(cli, ["runs", "export", str(sweep.run_id)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(int(r["run_id"]), r["seed"], r["test_acc"], r["test_loss"]) for r in rows] == [
        (a.run_id, "0", "0.5", ""), (a.run_id, "1", "0.75", ""),
        (b.run_id, "0", "1.0", "0.1"), (b.run_id, "1", "0.25", "0.2"),
    ]  # fmt: skip
    result = runner.invoke(cli, ["runs", "export", str(sweep.run_id), "--format", "json"])
    assert json.loads(result.stdout)["children"] == [a.run_id, b.run_id]
    result = runner.invoke(cli, ["runs", "export", str(bare.run_id)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"Error: run {bare.run_id} (forecast) stored no per-epoch metrics; "
                             "export it as JSON with --format json.\n")  # fmt: skip


def test_show_prints_provenance_epochs_and_a_claims_table():
    claims = [
        {"id": "blog-1", "claim": "stateful learns it", "measured": 0.66, "verdict": "refuted"},
        {"id": "blog-2", "claim": "stateless solves it", "measured": 1.0, "verdict": "confirmed"},
    ]
    with store.recording("reproduce", {"seeds": 2}, [0, 1]) as rec:
        rec.epoch(0, {"test_acc": [0.5, 0.7]})
        rec.finish(result={"claims": claims})
    result = CliRunner().invoke(cli, ["runs", "show", str(rec.run_id)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"run {rec.run_id}: reproduce, —, done"
    epoch_row = next(line for line in lines if line.startswith("0 "))
    # t(0.975, 1) * 0.1414 / sqrt(2) = 1.271 either side of 0.6, clipped to what accuracy can be
    assert epoch_row.split()[1:] == ["0.600", "[0.000,", "1.000]"]
    claim_rows = [line for line in lines if line.startswith("blog-")]
    assert [row.split()[-1] for row in claim_rows] == ["refuted", "confirmed"]


def test_show_says_so_when_every_stored_value_is_nan():
    nan = float("nan")
    with store.recording("run", {"task": "first-step"}, [0, 1]) as rec:
        rec.epoch(0, {"test_acc": [nan, nan], "test_loss": [nan, nan]})
    lines = CliRunner().invoke(cli, ["runs", "show", str(rec.run_id)]).stdout.splitlines()
    assert "per epoch: every value of test_acc, test_loss is NaN in all 1 epoch(s) (diverged?); " \
           "'runs export' has them" in lines  # fmt: skip
    assert not any(line.startswith("epoch ") for line in lines)


def test_a_damaged_store_is_an_error_line_not_a_traceback():
    path = store.store_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all" * 50)
    result = CliRunner().invoke(cli, ["runs", "list"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path} is not a SQLite database")
    assert "Traceback" not in result.output


def _stored(test_acc, test_loss):
    config = {"task": "first-step", "mode": "stateful"}
    with store.recording("run", config, list(range(len(test_acc)))) as rec:
        rec.epoch(0, {"test_acc": test_acc, "test_loss": test_loss})
    return rec.run_id


def test_list_and_compare_clip_intervals_to_what_the_metric_can_take():
    from statecarry import stats

    acc, loss = [1.0, 1.0, 0.9], [0.0, 0.0, 0.3]
    assert stats.mean_ci(acc).high > 1 and stats.mean_ci(loss).low < 0  # the case at hand
    clipped = stats.mean_ci(acc, bounds=stats.ACCURACY)
    ids = [str(_stored(acc, loss)), str(_stored([0.5, 0.6, 0.7], [0.2, 0.3, 0.4]))]

    listed = CliRunner().invoke(cli, ["runs", "list"])  # STATECARRY_HOME: conftest's
    assert listed.exit_code == 0, listed.output
    assert str(clipped) == "0.967 [0.823, 1.000]" and str(clipped) in listed.stdout
    shown = CliRunner().invoke(cli, ["runs", "show", ids[0]])
    assert str(clipped) in shown.stdout and "0.100 [0.000, " in shown.stdout  # loss ≥ 0

    compared = CliRunner().invoke(cli, ["runs", "compare", *ids])
    assert compared.exit_code == 0, compared.output
    assert str(clipped) in compared.stdout
    rows = json.loads(CliRunner().invoke(cli, ["runs", "compare", *ids, "--json"]).stdout)["runs"]
    assert rows[0]["test_acc"]["high"] == 1.0 and rows[0]["test_loss"]["low"] == 0.0
    assert all(0 <= r["test_acc"]["low"] <= r["test_acc"]["high"] <= 1 for r in rows)


def test_regression_and_forecast_runs_show_their_own_metric_and_a_readable_compare(tmp_path):
    """A linear-head run shows its test RMSE (not 'test acc —'); `compare` names its scaling
    arrays by count, prints the task once; a forecast parent run names its series."""
    from statecarry import stats

    rmse = {"stateful": [0.5, 0.7], "stateless": [0.9, 1.1]}
    ids = []
    for i, (mode, values) in enumerate(rmse.items()):  # 8 scaling numbers, different per run
        scaling = {"x_mean": [0.1, 0.2, i], "x_std": [1.0, 2.0, 3.0], "y_mean": [0.5], "y_std": [2.5]}
        config = {"task": "my.csv", "mode": mode, "head": "linear", "scaling": scaling}
        with store.recording("train", config, [0, 1]) as rec:
            rec.epoch(0, {"test_rmse": values, "test_loss": [v * v for v in values]})
        ids.append(str(rec.run_id))
    with store.recording("forecast", {"task": "forecast", "series": "nile (yearly Nile flow; "
                                      "statsmodels.datasets)", "column": "nile"}, [0]) as rec:  # fmt: skip
        rec.finish(result={"models": []})
    listed = CliRunner().invoke(cli, ["runs", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    for run_id, values in zip(ids, rmse.values()):
        (row,) = [line for line in lines if line.split()[0] == run_id]
        assert f"test rmse {stats.mean_ci(values, bounds=stats.NON_NEGATIVE)}" in row
    assert any(line.split()[1:4] == ["forecast", "forecast", "nile"] for line in lines)

    compared = CliRunner().invoke(cli, ["runs", "compare", *ids])
    assert compared.exit_code == 0, compared.output
    rows = {line.split("  ")[0]: line for line in compared.stdout.splitlines()}
    assert [line.split()[0] for line in compared.stdout.splitlines()].count("task") == 1
    assert rows["scaling"].split()[1:] == ["8", "values", "8", "values"]
    assert "test rmse" in rows and "test acc" not in rows and "solved" not in rows
    assert max(len(line) for line in compared.stdout.splitlines()) < 120


def test_runs_list_shows_a_mode_sweeps_modes_not_its_base_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("STATECARRY_HOME", str(tmp_path))
    from click.testing import CliRunner

    from statecarry.cli import cli

    swept = CliRunner().invoke(cli, ["sweep", "first-step", "--grid", "mode=stateless,stateful", "--seeds", "2",
                                     "--epochs", "1", "--n-train", "64", "--n-test", "32", "-q"])  # fmt: skip
    assert swept.exit_code == 0, swept.output
    listed = json.loads(CliRunner().invoke(cli, ["runs", "list", "--json"]).stdout)
    text = CliRunner().invoke(cli, ["runs", "list"]).stdout.splitlines()
    sweep_id = next(r["id"] for r in listed if r["kind"] == "sweep")
    row = next(line for line in text if line.split()[0] == str(sweep_id))
    assert row.split()[3] == "stateless,stateful"
    modes = sorted(line.split()[3] for line in text[2:] if line.split()[1] == "run")
    assert modes == ["stateful", "stateless"]
