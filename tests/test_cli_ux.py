"""The command line's manners: suggestions for typos, an instant --help, `python -m statecarry`."""

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from statecarry.cli import cli

HEAVY = ("jax", "optax", "matplotlib", "keras", "torch", "scipy", "pandas")


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(
    "args, suggestion",
    [
        (["reprodce"], "Did you mean 'reproduce'?"),
        (["dcotor"], "Did you mean 'doctor'?"),
        (["list"], "Did you mean 'runs list'?"),  # a sub-command typed without its group
        (["runs", "lsit"], "Did you mean 'list'?"),  # inside a sub-group too
        (["run", "first-step", "--hoizon", "2"], "Did you mean '--horizon'?"),  # a flag
        (["run", "frist-step"], "Did you mean 'first-step'?"),  # a task
    ],
)
def test_a_typo_gets_one_error_line_with_a_suggestion(args, suggestion):
    result = invoke(*args)
    assert result.exit_code == 2
    assert suggestion in result.output
    assert "Traceback" not in result.output


def test_no_suggestion_when_nothing_is_close():
    result = invoke("xyzzy")
    assert result.exit_code == 2
    assert "No such command 'xyzzy'." in result.output and "Did you mean" not in result.output


def run_python(code):
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_importing_the_cli_does_not_import_jax():
    assert run_python("import statecarry.cli, sys; print('jax' in sys.modules)").strip() == "False"


def test_help_of_every_command_imports_nothing_heavy():
    code = f"""
import contextlib, io, json, sys
from statecarry.cli import cli
def names(group, prefix=()):
    for name in group.list_commands(None):
        sub = group.get_command(None, name)
        yield prefix + (name,)
        if hasattr(sub, "list_commands"):
            yield from names(sub, prefix + (name,))
seen = []
for path in [()] + list(names(cli)):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.main([*path, "--help"], prog_name="statecarry")
        except SystemExit as e:
            assert e.code == 0, path
    seen.append(" ".join(path))
print(json.dumps({{"commands": seen, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    result = json.loads(run_python(code))
    assert {"run", "reproduce", "report", "doctor"} <= set(result["commands"])
    assert result["heavy"] == []


def test_python_m_statecarry_works():
    out = subprocess.run(
        [sys.executable, "-m", "statecarry", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage: statecarry ")
    assert "report" in out.stdout and "doctor" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "statecarry", "reprodce"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "Did you mean 'reproduce'?" in bad.stderr


def test_statecarry_help_imports_no_numpy_nor_any_command_module():
    """`statecarry --help` lists every command from names alone (issue 10: <= 4x a bare
    interpreter start); NumPy, the run store and the experiments load only for a command."""
    code = """
import contextlib, io, json, sys
from statecarry.cli import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        cli.main(["--help"], prog_name="statecarry")
    except SystemExit:
        pass
from statecarry.cli import _commands
lazy = tuple(f"statecarry.cli.{module}" for module, _ in _commands.LAZY.values())
loaded = [m for m in sys.modules if m in ("numpy", "statecarry.store") or m in lazy]
print(json.dumps({"help": out.getvalue(), "loaded": loaded}))
"""
    result = json.loads(run_python(code))
    assert result["loaded"] == []
    for name in ("doctor", "forecast", "report", "reproduce", "run", "runs", "sweep", "varlen",
                 "train", "compare", "predict", "export", "import"):
        assert f"\n  {name} " in result["help"]


@pytest.mark.parametrize("width", [45, 60, 1000])
def test_lazy_command_helps_match_the_commands_own(width):
    """The one-line helps `--help` shows before loading a command are the command's own."""
    import click

    from statecarry.cli import _commands

    for name, (_, line) in _commands.LAZY.items():
        real = cli.get_command(None, name)
        assert click.Command(name, help=line).get_short_help_str(width) == real.get_short_help_str(width)


def test_import_statecarry_loads_no_numpy_until_a_name_needs_it():
    code = ("import statecarry as sc, sys; before = 'numpy' in sys.modules; sc.Batches; "
            "print(before, 'numpy' in sys.modules, sc.__version__ != '')")
    assert run_python(code).split() == ["False", "True", "True"]


def test_an_unavailable_jax_platform_is_named_in_one_sentence_and_nothing_is_stored(tmp_path):
    import os

    env = dict(os.environ, JAX_PLATFORMS="cuda", STATECARRY_HOME=str(tmp_path / "home"))
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "statecarry", "run", "first-step", "--epochs", "1", "--units", "2",
         "--n-train", "8", "--n-test", "8", "--batch-size", "4"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if proc.returncode == 0:
        pytest.skip("this machine has a CUDA device")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("Error: JAX cannot start the platform 'cuda'")
    assert "JAX_PLATFORMS=cpu" in proc.stderr
    assert not (tmp_path / "home" / "runs.sqlite").exists()  # refused before a run was stored


def test_the_stored_root_help_is_clicks_own():
    """launch.py answers `statecarry --help` from cli/help.txt; it must be what click prints."""
    from statecarry import launch
    from statecarry.cli import root_help

    with open(launch.HELP_FILE, encoding="utf-8") as f:
        stored = f.read()
    assert stored == root_help(), (
        "cli/help.txt is stale: rewrite it with "
        "python -c \"from statecarry.cli import root_help; root_help(write=True)\""
    )


@pytest.mark.parametrize("columns, from_file", [("100", True), ("80", True), ("79", False), ("50", False)])
def test_statecarry_help_skips_click_in_a_terminal_at_least_80_wide(columns, from_file):
    """The console script's `--help` prints click's text without importing click where click
    would print that same text (80 columns or more); narrower, click wraps it itself."""
    code = """
import sys
sys.argv = ["statecarry", "--help"]
from statecarry.launch import main
try:
    main()
except SystemExit:
    pass
print("click" in sys.modules, file=sys.stderr)
"""
    env = dict(os.environ, COLUMNS=columns)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == str(not from_file)
    from statecarry import launch

    with open(launch.HELP_FILE, encoding="utf-8") as f:
        stored = f.read()
    if from_file or columns == "50":  # at 50 columns click wraps differently
        assert (out.stdout == stored) == from_file
    assert out.stdout.startswith("Usage: statecarry [OPTIONS] COMMAND [ARGS]...")


def test_stdout_on_a_full_disk_is_one_error_line_for_any_command(tmp_path):
    """`runs list > /dev/full` (and doctor, run, reproduce) ended in an OSError traceback."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    env = os.environ | {"STATECARRY_HOME": str(tmp_path / "home")}
    for args in (["runs", "list"], ["doctor", "--no-probe"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "statecarry", *args], stdout=full, stderr=subprocess.PIPE,
                                  text=True, env=env, timeout=120)  # fmt: skip
        assert done.returncode == 2, done.stderr[-2000:]
        assert done.stderr.strip() == ("Error: could not write to standard output (No space left on device); "
                                       "write to a file instead (redirect it, or -o FILE where the command takes it).")


def test_the_store_errors_name_every_command_that_takes_no_store():
    """The read-only store sentence listed four commands; varlen, train and compare take --no-store too."""
    import re

    from statecarry.cli import cli
    from statecarry.store.schema import NO_STORE

    ctx = click.Context(cli)
    takes = {name for name in cli.list_commands(ctx)
             if any(p.name == "no_store" for p in cli.get_command(ctx, name).params)}  # fmt: skip
    listed = re.search(r"--no-store to the command \(([^)]*)\)", NO_STORE).group(1)
    assert set(re.split(r", | or ", listed)) == takes
