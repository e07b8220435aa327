"""`--mode uoro|snap1` and `--distance` through the CLI: same seed, same numbers; one `Error:`."""

import json

import pytest
from click.testing import CliRunner

from statecarry.cli import cli

SMALL = ["--n-train", "64", "--n-test", "32", "--epochs", "2", "--lr", "0.01", "--no-store"]


def run(*args: str):
    return CliRunner().invoke(cli, ["run", *args], catch_exceptions=False)


@pytest.mark.parametrize("mode", ["uoro", "snap1"])
def test_online_mode_runs_at_a_distance_and_repeats_its_numbers(mode):
    args = ["prev-batch", "--mode", mode, "--distance", "2", "--marker", "--seeds", "2", *SMALL, "--json"]
    first, second = run(*args), run(*args)
    assert first.exit_code == 0, first.output
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["config"]["mode"] == mode and a["config"]["distance"] == 2
    assert a["epochs"] == b["epochs"]  # the same seeds, the same numbers (UORO's signs too)


def test_distance_on_a_task_without_one_is_one_error_line():
    result = run("first-step", "--distance", "3", *SMALL)
    assert result.exit_code == 2
    assert result.output.startswith("Error: --distance 3 is prev-batch's")
    assert "Traceback" not in result.output


def test_an_online_mode_with_a_horizon_is_one_error_line():
    result = run("prev-batch", "--mode", "snap1", "--horizon", "2", *SMALL)
    assert result.exit_code == 2
    assert "already reach back" in result.output
