"""Stopping `statecarry run` from outside: SIGTERM (`kill`, a scheduler) and Ctrl-C (SIGINT) both
leave the stored run "interrupted" with its finished epochs, and exit with the shell's 128 + signal."""

import math
import os
import signal
import subprocess
import sys
import time

import pytest

from statecarry import store

# SIGINT reset to its default first: a shell's background job starts with SIGINT ignored, and an
# ignored signal stays ignored (on purpose) in `statecarry` too. Then the real entry point runs.
ENTRY = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "runpy.run_module('statecarry', run_name='__main__')"
)
# Far more epochs than the test waits for, so the signal always lands mid-run (200 epochs of
# first-step take under a second once compiled).
EPOCHS = 100_000


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory):
    """One compile cache for both signals: the second run skips the compile."""
    return tmp_path_factory.mktemp("cache")


def _stored_epochs() -> int:
    with store.open_store() as s:
        found = s.list_runs()
    return found[0].epochs if found else 0


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_leaves_the_run_interrupted_with_its_finished_epochs(sig, code, compile_cache):
    args = ["run", "first-step", "--seeds", "2", "--epochs", str(EPOCHS), "-q"]
    env = os.environ | {"XDG_CACHE_HOME": str(compile_cache)}  # STATECARRY_HOME: conftest's
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (seen := _stored_epochs()) < 1:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no epoch stored within 60 s"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
    with store.open_store() as s:
        (listed,) = s.list_runs()
        run = s.get_run(listed.id)
    assert run.status == "interrupted" and run.finished is not None and run.error is None
    # said in words, not click's bare "Aborted!"
    said = f"Interrupted: run {run.id} is stored as interrupted with what it finished (statecarry runs show {run.id})."
    assert said in stderr and "Aborted!" not in stderr, stderr[-2000:]
    assert seen <= run.epochs < EPOCHS
    for metric in ("train_loss", "test_acc"):  # every finished epoch kept, for both seeds
        values = run.metrics[metric]
        assert len(values) == run.epochs
        assert all(len(v) == 2 and not any(math.isnan(x) for x in v) for v in values)


def test_the_interrupt_message_says_how_the_last_run_ended():
    """An interrupt after the run was stored (while a report is written, say) must not call it
    interrupted; without a stored run it says so; each command forgets the one before's runs."""
    import importlib

    from click.testing import CliRunner

    from statecarry.cli import _interrupted, cli

    recording = importlib.import_module("statecarry.store.recording")  # the module (store.recording is its function)

    with store.recording("run", {"a": 1}, [0]) as rec:
        pass
    assert _interrupted("run") == f"Interrupted after run {rec.run_id} was stored as done (statecarry runs show {rec.run_id})."
    try:
        with store.recording("sweep", {"a": 2}, [0]) as rec:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert _interrupted("sweep") == (f"Interrupted: run {rec.run_id} is stored as interrupted with what it finished "
                                     f"(statecarry runs show {rec.run_id}); run the same command with --resume to "
                                     "reuse what finished.")  # fmt: skip
    assert CliRunner().invoke(cli, ["runs", "list", "--json"]).exit_code == 0  # a new command: forgotten
    assert recording.STARTED == [] and _interrupted("run") == "Interrupted; nothing was stored."
