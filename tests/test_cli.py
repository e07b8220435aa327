"""`statecarry run` and `reproduce` end to end through click's CliRunner.

The small runs use the same config as test_engine (`SMALL` below), so the compiled programs
are shared; `reproduce --seeds 32` shares test_outcomes' programs.
"""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from statecarry import stats
from statecarry.cli import cli
from statecarry.experiments import blog
from statecarry.experiments.config import Config

SMALL_FLAGS = ["--n-train", "64", "--n-test", "32", "--time-steps", "3", "--epochs", "2", "--lr", "0.01"]
SMALL = Config(task="first-step", n_train=64, n_test=32, time_steps=3, epochs=2, learning_rate=0.01)
BLOG_LINE = re.compile(
    r"^Epoch: (\d+) \(Loss, Acc\) Train: \((\d\.\d\d), (\d\.\d\d)\) Test: \((\d\.\d\d), (\d\.\d\d)\)$"
)
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_json(*args: str) -> dict:
    result = invoke("run", *args, "--json", "--no-store") if has_no_store() else invoke("run", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def has_no_store() -> bool:
    return any(p.name == "no_store" for p in cli.commands["run"].params)


def test_one_seed_prints_the_blogs_line_per_epoch_with_the_json_numbers():
    result = invoke("run", "first-step", "--seeds", "1", *SMALL_FLAGS)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    data = run_json("first-step", "--seeds", "1", *SMALL_FLAGS)
    for e, line in enumerate(lines):
        match = BLOG_LINE.match(line)
        assert match, line
        assert int(match[1]) == e
        want = [f"{data['epochs'][e][m][0]:.2f}" for m in METRICS]
        assert list(match.groups()[1:]) == want


def test_json_has_one_value_per_seed_in_seed_order():
    data = run_json("first-step", "--seeds", "16", *SMALL_FLAGS)
    assert {"task", "config", "seeds", "epochs"} <= set(data)
    assert data["task"] == "first-step"
    assert data["config"] == SMALL.to_dict()  # every flag reached the config, nothing else moved
    assert data["seeds"] == list(range(16))
    assert [e["epoch"] for e in data["epochs"]] == [0, 1]
    for epoch in data["epochs"]:
        for m in METRICS:
            assert len(epoch[m]) == 16 and all(isinstance(v, float) for v in epoch[m])
    # Seed order: position k holds seed k's own run, run alone.
    for k in (0, 9, 15):
        alone = blog.run(SMALL, [k])
        for e, epoch in enumerate(data["epochs"]):
            for m in METRICS:
                assert epoch[m][k] == pytest.approx(float(alone.metrics[m][e, 0]), rel=1e-5, abs=1e-6)


def summary_rows(output: str) -> list[list[str]]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("epoch"))
    return [re.split(r"\s{2,}", line.strip()) for line in lines[start + 2 :] if re.match(r"^\d+\s", line)]


def test_many_seeds_print_a_summary_table_that_agrees_with_the_json():
    result = invoke("run", "first-step", "--seeds", "16", *SMALL_FLAGS)
    assert result.exit_code == 0, result.output
    assert "16 seeds" in result.stdout and "solved" in result.stdout
    assert not any(BLOG_LINE.match(line) for line in result.stdout.splitlines())
    data = run_json("first-step", "--seeds", "16", *SMALL_FLAGS)
    rows = summary_rows(result.stdout)
    assert [r[0] for r in rows] == ["0", "1"]
    for row, epoch in zip(rows, data["epochs"]):
        assert row[1:5] == [str(stats.mean_ci(epoch[m])) for m in METRICS]
        solved = stats.solved_fraction(epoch["test_acc"])
        assert row[-1].startswith(f"{solved.mean:.0%}")


def test_verbose_prints_every_seeds_blog_lines():
    result = invoke("run", "first-step", "--seeds", "16", "--verbose", *SMALL_FLAGS)
    assert result.exit_code == 0, result.output
    blog = [line for line in result.stdout.splitlines() if BLOG_LINE.match(line)]
    assert len(blog) == 16 * 2
    assert [line for line in result.stdout.splitlines() if line.startswith("Seed ")] == [
        f"Seed {k}" for k in range(16)
    ]


BAD_RUNS = [
    (["run", "first-stp"], "'first-stp'"),
    (["run", "first-step", "--n-train", "0"], "n-train"),
    (["run", "first-step", "--n-test", "-4"], "-4"),
    (["run", "first-step", "--batch-size", "0"], "batch-size"),
    (["run", "first-step", "--n-train", "1022"], "1020 or 1024"),
    (["run", "first-step", "--n-test", "30"], "28 or 32"),
    (["run", "prev-sample", "--batch-size", "4"], "batch-size 1"),
    (["run", "first-step", "--lr", "nan"], "nan"),
    (["run", "first-step", "--horizon", "0"], "horizon"),
    (["run", "first-step", "--horizon", "300"], "256"),
    (["run", "first-step", "--seeds", "0"], "--seeds"),
    (["run", "first-step", "--mode", "bogus"], "bogus"),
    (["reproduce", "--seeds", "0"], "--seeds"),
    (["reproduce", "--claims", "99"], "99"),
    (["run", "first-step", "--mode", "stateless", "--carry", "c"], "so --carry c changes nothing; drop it"),
    (["sweep", "first-step", "--mode", "stateless", "--reset", "never", "--carry", "c", "--grid", "units=2,3"],
     "so --reset never and --carry c change nothing; drop them, or use --mode stateful."),
    (["run", "prev-batch", "--n-test", "4"], "--distance 1 reaches past the test set's 1 batch"),
    (["reproduce", "--quick", "--seeds", "4"], "--quick means --seeds 8; give --quick or --seeds 4, not both."),
    (["reproduce", "--no-report", "-o", "r.html"], "--no-report writes no report, so -o r.html would be dropped"),
    (["reproduce", "--claims", "10"], "Claim 10 has parts: 10a and 10b."),
]


def test_lr_0_trains_nothing_and_says_so():
    """Allowed (an untrained model's score is a baseline) but said: more often a typo."""
    args = ["--n-train", "64", "--n-test", "32", "--epochs", "1", "--seeds", "2", "--no-store", "--json"]
    for command in (["run", "first-step", "--lr", "0"], ["sweep", "first-step", "--grid", "lr=0,0.01"]):
        result = CliRunner().invoke(cli, command + args)
        assert result.exit_code == 0 and result.stderr.startswith("Warning: --lr 0 trains nothing"), result.output
    result = CliRunner().invoke(cli, ["run", "first-step", "--lr", "0.01"] + args)
    assert result.exit_code == 0 and "Warning" not in result.stderr


@pytest.mark.parametrize("args,named", BAD_RUNS, ids=[" ".join(a) for a, _ in BAD_RUNS])
def test_bad_input_is_one_error_line_and_exit_code_2(args, named):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert named in errors[0], errors[0]
    assert result.stdout == ""
    if args[-1] != "bogus":  # click's own usage errors add a usage line; ours are one line
        assert result.stderr.strip() == errors[0]


BLOG_REPORTED = ["1.00", "0.66", "0.50", "0.51"]
EXPERIMENTS = ["first-step, stateless", "first-step, stateful", "prev-batch, stateless", "prev-batch, stateful"]


@pytest.mark.slow
def test_reproduce_prints_the_four_experiments_beside_the_blogs_numbers():
    result = invoke("reproduce", "--seeds", "32", "--claims", "3", "--no-report", "--no-store", "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "blog test acc" in lines[1] and "solved" in lines[1] and "(32 seeds)" in lines[1]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[3:7]]
    assert [r[0] for r in rows] == EXPERIMENTS
    assert [r[1] for r in rows] == BLOG_REPORTED
    for r in rows:
        mean = float(r[2])
        low, high = map(float, re.fullmatch(r"\[(\S+), (\S+)\]", r[3]).groups())
        assert low <= mean <= high
        assert re.fullmatch(r"\d+%", r[4])
    means = [float(r[2]) for r in rows]
    assert means[0] > 0.9 and means[0] - means[1] > 0.2  # stateless solves, stateful does not
    assert all(abs(m - 0.5) < 0.07 for m in means[2:])
    # then the claims table: claim 3 (neither mode learns prev-batch in 5 epochs) holds
    claim = next(line for line in lines[7:] if line.startswith("3 "))
    assert re.split(r"\s{2,}", claim.strip())[1] == "confirmed"


def test_help_is_instant_and_lists_run_and_reproduce():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "run" in result.output and "reproduce" in result.output


def test_json_numbers_are_the_runners_numbers_for_the_same_flags():
    data = run_json("first-step", "--seeds", "1", *SMALL_FLAGS)
    alone = blog.run(SMALL, [0])
    got = np.array([[e[m][0] for m in METRICS] for e in data["epochs"]])
    want = np.stack([alone.metrics[m][:, 0] for m in METRICS], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_prev_sample_runs_at_its_own_batch_size_unless_told_otherwise():
    """`run prev-sample` refused the Config default batch size 4, although the task is batch
    size 1 by definition; a batch size given is still checked."""
    args = ["run", "prev-sample", "--seeds", "1", "--epochs", "1", "--n-train", "64", "--n-test", "32", "--json", "--no-store"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"]["batch_size"] == 1
    told = CliRunner().invoke(cli, [*args, "--batch-size", "4"])
    assert told.exit_code == 2 and "prev-sample needs batch-size 1" in told.output
