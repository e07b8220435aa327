"""Issue 14's rows that belong to the CLI: long sweeps asked about before they run, output
paths checked before any training, and one seed's intervals shown as "— (1 seed)", never nan.

Each test asserts the sentence, the exit code and what the store holds afterwards. Sizes are
tiny; the sweep's thresholds are settings (`experiments.sweep.CONFIRM_*`) lowered here, so a
sweep of seconds stands in for one of hours.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from statecarry import store
from statecarry.cli import cli
from statecarry.experiments import sweep as sweeps

SMALL = ["--n-train", "16", "--n-test", "8", "--time-steps", "3", "--epochs", "1",
         "--batch-size", "4", "--units", "2"]  # fmt: skip


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def stored_runs() -> list[store.Run]:
    if not store.store_path().exists():
        return []
    with store.open_store() as s:
        return s.list_runs()


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("Error: ")]
    return line


# -- sweeps: points × seeds, the estimate, --yes ---------------------------------------------
def test_a_million_point_grid_is_refused_before_anything_runs_or_is_stored():
    grid = " ".join(f"{k}={','.join(str(v) for v in range(1, 101))}" for k in ("units", "epochs", "n_test"))
    result = invoke("sweep", "first-step", "--grid", grid, "--seeds", "4")
    line = error_line(result)
    assert "this grid has 1,000,000 points × 4 seeds" in line and "--yes" in line
    assert stored_runs() == []


def test_a_sweep_slower_than_the_threshold_stops_after_its_first_point(monkeypatch):
    monkeypatch.setattr(sweeps, "CONFIRM_SECONDS", 0.0)  # every estimate is "too long"
    result = invoke("sweep", "first-step", "--grid", "lr=0.01,0.02,0.03", "--seeds", "2", *SMALL)
    assert "sweep: 3 point(s) × 2 seed(s) = 6 seed runs" in result.stderr
    line = error_line(result)
    first = re.search(r"the first point to train took ([\d.]+) s with 2 seeds, so the other 2 points "
                      r"would take about (\d+) s", line)  # fmt: skip
    assert first, line
    assert abs(int(first.group(2)) - 2 * float(first.group(1))) <= 1  # 2 more points, each as long
    runs = stored_runs()
    (parent,) = [r for r in runs if r.kind == "sweep"]
    assert parent.status == "failed" and "the first point to train took" in parent.error
    children = [r for r in runs if r.parent == parent.id]
    assert [(c.status, c.config["learning_rate"]) for c in children] == [("done", 0.01)]

    # --resume: the stored first point has no timings, so the estimate waits for one that trains
    resumed = invoke("sweep", "first-step", "--grid", "lr=0.01,0.02,0.03", "--seeds", "2", *SMALL, "--resume")
    assert "so the other 1 points would take" in error_line(resumed)
    trained = [r.config["learning_rate"] for r in stored_runs() if r.kind == "run" and "copied_from" not in (r.result or {})]
    assert sorted(trained) == [0.01, 0.02]

    again = invoke("sweep", "first-step", "--grid", "lr=0.01,0.02,0.03", "--seeds", "2", *SMALL,
                   "--yes", "--resume", "--json")  # fmt: skip
    assert again.exit_code == 0, again.output
    points = json.loads(again.stdout)["points"]
    assert [p["values"]["learning_rate"] for p in points] == [0.01, 0.02, 0.03]
    done = [r for r in stored_runs() if r.kind == "run" and r.status == "done" and "copied_from" not in (r.result or {})]
    assert sorted(r.config["learning_rate"] for r in done) == [0.01, 0.02, 0.03]  # each trained once
    # and the sweep that finished holds all three points, two of them copies of stored ones
    (last,) = [r for r in stored_runs() if r.kind == "sweep" and r.status == "done"]
    kids = [r for r in stored_runs() if r.parent == last.id]
    assert sorted(r.config["learning_rate"] for r in kids) == [0.01, 0.02, 0.03]
    assert sorted("copied_from" in (r.result or {}) for r in kids) == [False, True, True]


def test_a_sweep_under_the_threshold_says_its_size_and_estimate_and_runs():
    result = invoke("sweep", "first-step", "--grid", "lr=0.01,0.02", "--seeds", "2", *SMALL)
    assert result.exit_code == 0, result.output
    assert "sweep: 2 point(s) × 2 seed(s) = 4 seed runs" in result.stderr
    assert re.search(r"1 more point: about \d+ s \(the first took [\d.]+ s\)\n", result.stderr)
    # a grid that changes what a point costs: the estimate says it is rough, and why
    grows = invoke("sweep", "first-step", "--grid", "time_steps=3,4 lr=0.01,0.02", "--seeds", "2", "--epochs", "1", "--no-store")
    assert re.search(r"3 more points: about \d+ s \(the first took [\d.]+ s; rough: the grid's time_steps change what "
                     r"a point costs\)", grows.stderr), grows.stderr  # fmt: skip


# -- output paths are checked before any training --------------------------------------------
@pytest.mark.parametrize("command", [
    ["reproduce", "--claims", "3", "--seeds", "2", "--quiet", "-o"],
    ["report", "-o"],
])  # fmt: skip
@pytest.mark.parametrize("bad, says", [
    ("fig.png", "its name says PNG but this writes HTML; name it with .html or .htm"),
    ("a-directory", "is a directory"),
    ("no-such-folder/page.html", "the folder {tmp}/no-such-folder does not exist; create it first"),
])  # fmt: skip
def test_a_bad_report_path_is_refused_before_any_work_and_nothing_is_stored(command, bad, says, tmp_path):
    (tmp_path / "a-directory").mkdir()
    if command[0] == "report":  # something to report on, so only the path can be wrong
        with store.open_store() as s:
            s.finish(s.start_run("run", {"task": "first-step"}, [0]))
    before = [r.id for r in stored_runs()]
    result = invoke(*command, str(tmp_path / bad))
    assert says.format(tmp=tmp_path) in error_line(result)
    assert [r.id for r in stored_runs()] == before  # reproduce stored no run: it never started
    assert not (tmp_path / "fig.png").exists() and not (tmp_path / "no-such-folder").exists()


def test_a_report_is_written_exactly_where_the_user_said(tmp_path):
    with store.open_store() as s:
        run_id = s.start_run("run", {"task": "first-step"}, [0])
        s.record_epoch(run_id, 0, {"test_acc": [0.5]})
        s.finish(run_id)
    target = tmp_path / "deeper" / "report"  # no suffix: none is added
    (tmp_path / "deeper").mkdir()
    result = invoke("report", str(run_id), "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("<!doctype html>") or "<html" in target.read_text()[:200]
    assert sorted(p.name for p in target.parent.iterdir()) == ["report"]  # nothing partial beside it


# -- one seed: "— (1 seed)", never nan -------------------------------------------------------
def test_one_seed_intervals_are_a_dash_with_why_in_every_table():
    run = invoke("run", "first-step", "--seeds", "1", *SMALL, "-q")
    assert run.exit_code == 0, run.output
    sweep = invoke("sweep", "first-step", "--grid", "lr=0.01", "--seeds", "1", *SMALL, "-q")
    assert sweep.exit_code == 0, sweep.output
    assert "— (1 seed)" in sweep.stdout
    listed = invoke("runs", "list")
    assert "— (1 seed)" in listed.stdout
    (top,) = [r for r in stored_runs() if r.kind == "sweep"]
    shown = invoke("runs", "show", str(top.id))
    assert "— (1 seed)" in shown.stdout
    for text in (run.stdout, sweep.stdout, listed.stdout, shown.stdout):
        assert "nan" not in text.lower()


def test_runs_compare_of_one_seed_runs_says_why_there_is_no_interval():
    ids = []
    with store.open_store() as s:
        for acc in (0.5, 0.75):
            run_id = s.start_run("run", {"task": "first-step", "lr": acc}, [0])
            s.record_epoch(run_id, 0, {"test_acc": [acc], "test_loss": [1 - acc]})
            s.finish(run_id)
            ids.append(str(run_id))
    result = invoke("runs", "compare", *ids)
    assert result.exit_code == 0, result.output
    assert "0.500 ± — (1 seed)" in result.stdout and "nan" not in result.stdout


def test_forecast_and_verdict_lines_of_one_seed_say_why_there_is_no_interval():
    from types import SimpleNamespace

    import numpy as np

    from statecarry.experiments import forecast_verdicts, verdicts
    from statecarry.experiments.forecast import ModelResult

    truth = np.zeros((1, 1))
    one = ModelResult("lstm", "raw", np.full((1, 1, 1), 0.25), truth, "lstm", 1.0)  # one seed
    (row,) = forecast_verdicts.table_rows(SimpleNamespace(results=[one], scale=0.5, ahead=1))
    assert row[2:4] == ["0.500 ± — (1 seed)", "0.250 ± — (1 seed)"]  # MASE h=1, one-step RMSE
    verdict, ratio = forecast_verdicts.ratio_verdict(np.array([2.0]), np.array([1.0]))
    assert verdict == "inconclusive" and forecast_verdicts.ratio_text(ratio) == "ratio 2.00 — (1 seed)"
    evidence = {"a": {"test_acc": np.array([[0.9]])}, "b": {"test_acc": np.array([[0.5]])}}
    judged = verdicts.Differs("a", "b", expect="greater").judge(evidence)
    assert "+0.400 — (1 seed)" in judged.measured and "nan" not in judged.measured


@pytest.mark.parametrize("command", [["run", "first-step"], ["sweep", "first-step", "--grid", "units=3,4"],
                                     ["reproduce", "--claims", "3"], ["varlen"]])  # fmt: skip
@pytest.mark.parametrize("seeds", ["100000000000000000000", "0", str(2**31 + 1)])
def test_every_seeds_flag_states_the_real_range_before_any_work(command, seeds):
    result = invoke(*command, "--seeds", seeds)
    assert error_line(result) == f"Error: --seeds must be from 1 to 2,147,483,648 (seeds are 32-bit integers), got {seeds}."
    assert stored_runs() == []


def test_a_sweep_of_diverged_points_and_flags_reads_as_the_readme_says():
    result = invoke("sweep", "first-step", "--grid", "lr=3e38,1e-3 marker=0,1", "--seeds", "1", *SMALL, "-q")
    assert result.exit_code == 0, result.output
    rows = {tuple(line.split()[:2]): line for line in result.stdout.splitlines()[3:]}
    assert set(rows) == {("3e+38", "no"), ("3e+38", "yes"), ("0.001", "no"), ("0.001", "yes")}
    assert rows[("3e+38", "yes")].count("— (no finite seed)") == 3  # test acc, determined, solved
    assert "nan" not in result.stdout and ", 1 seed, after 1 epoch;" in result.stdout


@pytest.mark.parametrize("args, says", [
    (["--epochs", "-1"], "Error: --epochs must be a positive whole number"),
    (["--n-train", "0"], "Error: --n-train must be a positive whole number"),
    (["--mode", "stateless", "--horizon", "2"], "Error: --horizon"),
])  # fmt: skip
def test_run_names_its_flags_in_a_library_sentence(args, says):
    """`run`'s settings are checked by the library, whose sentences name the API's fields
    ("epochs must be ..."); the CLI says the flag, as `train` does."""
    result = CliRunner().invoke(cli, ["run", "first-step", *args, "--no-store"])
    assert result.exit_code == 2 and result.output.startswith(says), result.output
