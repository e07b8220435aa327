"""The run store past the happy path (issue 14): ids are never lent twice, a run being written
cannot be deleted under its writer, a new store opened by many processes at once, read-only
stores, damaged rows, ids past SQLite's range and exports that cannot be written.

Each test drives real processes or the CLI and checks the sentence, the exit code and what the
store holds afterwards. conftest points STATECARRY_HOME at a fresh directory per test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from statecarry import files, store
from statecarry.cli import cli
from statecarry.errors import OutputError

CONFIG = {"task": "first-step", "mode": "stateful", "units": 3}
HUGE = "99999999999999999999"  # past SQLite's 64-bit integers
TINY_RUN = ["first-step", "--units", "2", "--n-train", "8", "--n-test", "8", "--batch-size", "4"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_sentence(text: str) -> bool:
    return text.startswith("Error: ") and text.count("\n") == 1 and "Traceback" not in text


def stored(run_id: int, epochs: int = 2, seeds: int = 2) -> int:
    with store.open_store() as s:
        got = s.start_run("run", CONFIG | {"n": run_id}, list(range(seeds)))
        for e in range(epochs):
            s.record_epoch(got, e, {"test_acc": [0.5 + e / 10 + k / 100 for k in range(seeds)]})
        s.finish(got)
    return got


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- ids are never lent twice ----------------------------------------------------------------
def test_a_deleted_runs_id_is_never_lent_again():
    first, second = stored(1), stored(2)
    with store.open_store() as s:
        s.delete_run(second)
        third = s.start_run("run", CONFIG, [0])
        assert third == second + 1 and s.get_run(third).epochs == 0
        s.finish(third)
        s.delete_run(first)
        s.delete_run(third)
        assert s.start_run("run", CONFIG, [0]) == third + 1


def test_an_old_store_migrates_to_ids_never_reused_and_keeps_its_runs():
    """A schema-3 store where run 3 was deleted while its writer still wrote epochs under it:
    after the migration no new run gets ids 1 to 3, and runs 1 and 2 read back unchanged."""
    path = store.store_path()
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    store.migrate(db, store.MIGRATIONS[:3])
    for run_id in (1, 2):
        db.execute(
            "insert into runs (id, kind, task, config, config_hash, seeds, status, started, parent)"
            " values (?, 'run', 'first-step', ?, ?, '[0]', 'done', '2026-01-01T00:00:00+00:00', ?)",
            (run_id, store.canonical_json(CONFIG), store.config_hash(CONFIG), run_id - 1 or None),
        )
        db.execute("insert into epochs values (?, 0, 'test_acc', '[0.5]')", (run_id,))
    db.execute("insert into epochs values (3, 7, 'test_acc', '[0.25]')")  # orphan of run 3
    db.close()
    with store.open_store() as s:
        assert s.db.execute("pragma user_version").fetchone()[0] == len(store.MIGRATIONS)
        assert [(r.id, r.parent, r.final) for r in s.list_runs()] == [
            (1, None, {"test_acc": [0.5]}), (2, 1, {"test_acc": [0.5]})]  # fmt: skip
        assert s.find_done("run", CONFIG, [0]) == 2  # the lookup index was rebuilt
        indexes = {r[0] for r in s.db.execute("select name from sqlite_master where type='index'")}
        assert {"runs_by_config", "runs_by_parent"} <= indexes
        new = s.start_run("run", CONFIG, [0])
        assert new == 4 and s.get_run(new).epochs == 0


# -- a run still being written ---------------------------------------------------------------
def _wait_for_epochs(run_id: int, n: int, proc: subprocess.Popen, limit: float = 240) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if store.store_path().exists():
            with store.open_store() as s:
                if s.list_runs() and s.get_run(run_id, metrics=False).epochs >= n:
                    return
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not reach {n} epochs")


def test_a_run_being_written_is_not_deleted_and_forcing_it_stops_its_writer_in_one_sentence():
    """The issue's data loss: `run … &`, `runs delete 1`, then a new run inherited its epochs."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "statecarry", "run", *TINY_RUN, "--seeds", "2",
         "--epochs", "100000", "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for_epochs(1, 3, writer)
        refused = invoke("runs", "delete", "1", "--yes")
        assert refused.exit_code == 2 and one_sentence(refused.output), refused.output
        assert f"still being written by process {writer.pid}" in refused.output
        assert "--force" in refused.output
        with store.open_store() as s:
            assert s.get_run(1).status == "running"  # nothing deleted

        forced = invoke("runs", "delete", "1", "--yes", "--force")
        assert forced.exit_code == 0 and "deleted run 1" in forced.output
        _, stderr = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.communicate()
    assert writer.returncode == 2
    assert stderr.count("\n") == 1 and stderr.startswith("Error: run 1 was deleted from")
    assert "stopped and recorded nothing more" in stderr
    with store.open_store() as s:
        assert s.list_runs() == []
        assert s.db.execute("select count(*) from epochs where run_id = 1").fetchone()[0] == 0
        new = s.start_run("run", CONFIG, [0])
        assert new == 2 and s.get_run(new).epochs == 0  # inherits nothing


def test_a_finished_or_stale_run_deletes_without_force():
    done = stored(1)
    with store.open_store() as s:
        stale = s.start_run("run", CONFIG, [0])
        s.db.execute("update runs set pid = 999999999 where id = ?", (stale,))  # no such process
        assert s.get_run(stale).shown_status == "stale"
    for run_id in (done, stale):
        result = invoke("runs", "delete", str(run_id), "--yes")
        assert result.exit_code == 0, result.output
    with store.open_store() as s:
        assert s.list_runs() == []


# -- many processes opening a new store at once ----------------------------------------------
OPENER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from statecarry import store
    go = Path(sys.argv[1])
    while not go.exists():
        time.sleep(0.001)
    with store.open_store() as s:
        s.list_runs()
    """
)


@pytest.mark.parametrize("round_", range(3))
def test_many_processes_opening_a_new_store_at_once_all_succeed(tmp_path, round_):
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", OPENER, str(go)], stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    time.sleep(1.0)  # every interpreter started and polling
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    with store.open_store() as s:
        assert s.db.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert s.db.execute("pragma user_version").fetchone()[0] == len(store.MIGRATIONS)


HOLDER = textwrap.dedent(
    """
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("begin immediate")  # the write lock on a new, empty file, as a racing opener holds
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    db.execute("commit")
    """
)


def test_the_switch_to_wal_waits_for_another_process_instead_of_failing():
    """SQLite answers the WAL switch with "database is locked" at once (no busy wait) while
    another connection holds the write lock: the race two first opens run into."""
    path = store.store_path()
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "1.0"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline() == "holding\n"
    start = time.monotonic()
    with store.open_store() as s:
        assert s.db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert time.monotonic() - start > 0.5  # it waited for the holder, then succeeded
    holder.communicate(timeout=60)
    assert holder.returncode == 0


# -- a read-only store -----------------------------------------------------------------------
def _as_nobody() -> list[str]:
    """Root ignores file modes; run the CLI as an unprivileged user so chmod means something."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only file cannot be simulated")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.parametrize("how", ["file", "directory"])
def test_a_read_only_store_is_read_and_left_untouched(how):
    home = Path(tempfile.mkdtemp(prefix="statecarry-ro-"))  # tmp_path is closed to other users
    try:
        os.chmod(home, 0o777 if how == "file" else 0o755)  # "file": the WAL can be made beside it
        src = str(Path(store.__file__).parents[2])  # this checkout, from any directory
        env = os.environ | {"STATECARRY_HOME": str(home), "PYTHONPATH": src}
        with store.open_store(home / store.FILENAME) as s:
            run_id = s.start_run("run", CONFIG, [0, 1])
            s.record_epoch(run_id, 0, {"test_acc": [0.5, 0.75]})
            s.finish(run_id)
        path = home / store.FILENAME
        os.chmod(path, 0o444)
        if how == "directory":
            os.chmod(home, 0o555)
        before = sha(path)

        def cli_as_reader(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([*_as_nobody(), sys.executable, "-m", "statecarry", *args],
                                  env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())  # fmt: skip

        listed = cli_as_reader("runs", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]
        shown = cli_as_reader("runs", "show", str(run_id), "--json")
        assert shown.returncode == 0 and json.loads(shown.stdout)["epochs"][0]["test_acc"] == [0.5, 0.75]
        exported = cli_as_reader("runs", "export", str(run_id))
        assert exported.returncode == 0 and exported.stdout.splitlines()[1:] == ["1,0,0,0.5", "1,0,1,0.75"]
        page = Path(tempfile.gettempdir()) / f"statecarry-ro-{os.getpid()}-{how}.html"
        reported = cli_as_reader("report", str(run_id), "-o", str(page))
        assert reported.returncode == 0, reported.stderr
        page.unlink()
        writing = cli_as_reader("run", *TINY_RUN, "--epochs", "1", "-q")
        assert writing.returncode == 2 and "cannot write the run store" in writing.stderr
        assert "Traceback" not in writing.stderr
        assert sha(path) == before
    finally:
        os.chmod(home, 0o755)
        shutil.rmtree(home)


# -- damaged rows, a missing table, ids past SQLite's range ----------------------------------
def _raw(sql: str, *args) -> None:
    db = sqlite3.connect(store.store_path(), isolation_level=None)
    db.execute(sql, args)
    db.close()


def test_a_damaged_row_is_named_and_the_other_runs_stay_listable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ids = [stored(n) for n in range(3)]
    _raw("update runs set config = substr(config, 2) where id = ?", ids[1])  # one byte gone
    listed = invoke("runs", "list", "--json")
    assert listed.exit_code == 0
    assert [r["id"] for r in json.loads(listed.stdout)] == [ids[0], ids[2]]
    assert f"Warning: run {ids[1]} in" in listed.stderr
    assert "(table runs, column config: not valid JSON)" in listed.stderr
    for args in (["runs", "show", str(ids[1])], ["runs", "export", str(ids[1])],
                 ["report", str(ids[1]), "-o", "r.html"]):  # fmt: skip
        result = invoke(*args)
        assert result.exit_code == 2 and one_sentence(result.output), (args, result.output)
        assert f"run {ids[1]} in" in result.output and "column config" in result.output
        assert not Path("r.html").exists()
    assert invoke("runs", "show", str(ids[2])).exit_code == 0
    deleted = invoke("runs", "delete", str(ids[1]), "--yes")  # the way out the sentence offers
    assert deleted.exit_code == 0 and f"deleted run {ids[1]}" in deleted.output
    listed = invoke("runs", "list", "--json")
    assert [r["id"] for r in json.loads(listed.stdout)] == [ids[0], ids[2]] and not listed.stderr


def test_a_damaged_epoch_value_is_named_by_run_epoch_and_metric():
    ids = [stored(n) for n in range(2)]
    _raw("update epochs set value = '[0.5, 0.' where run_id = ? and epoch = 0", ids[0])
    shown = invoke("runs", "show", str(ids[0]))
    assert shown.exit_code == 2 and one_sentence(shown.output)
    assert f"run {ids[0]}" in shown.output and "table epochs, epoch 0, test_acc" in shown.output
    listed = invoke("runs", "list", "--json")  # the damage is in an earlier epoch: still listed
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 2
    # valid JSON with a value too few for the run's seeds: an IndexError in export, a shifted mean in show
    _raw("update epochs set value = '[0.5]' where run_id = ? and epoch = 0", ids[1])
    for command in (["show"], ["export"], ["export", "--format", "json"]):
        damaged = invoke("runs", *command[:1], str(ids[1]), *command[1:])
        assert damaged.exit_code == 2 and one_sentence(damaged.output), damaged.output
        assert f"run {ids[1]}" in damaged.output and "table epochs, epoch 0, test_acc" in damaged.output


def test_a_store_missing_its_epochs_table_is_named_its_runs_stay_listable_and_untouched():
    ids = [stored(n) for n in range(2)]
    _raw("drop table epochs")
    before = sha(store.store_path())
    listed = invoke("runs", "list", "--json")
    assert listed.exit_code == 0
    assert [(r["id"], r["epochs"]) for r in json.loads(listed.stdout)] == [(ids[0], 0), (ids[1], 0)]
    assert "Warning: " in listed.stderr and "is damaged (its epochs table is missing)" in listed.stderr
    shown = invoke("runs", "show", str(ids[1]))
    assert shown.exit_code == 0 and "epochs table is missing" in shown.stderr
    writing = invoke("run", *TINY_RUN, "--epochs", "1", "-q")
    assert writing.exit_code == 2 and one_sentence(writing.output)
    assert "it is damaged (its epochs table is missing)" in writing.output
    assert sha(store.store_path()) == before


def test_a_store_missing_its_runs_table_is_refused_naming_it():
    stored(1)
    _raw("drop table runs")
    result = invoke("runs", "list")
    assert result.exit_code == 2 and one_sentence(result.output)
    assert "is damaged (its runs table is missing)" in result.output


@pytest.mark.parametrize("args", [["runs", "show", HUGE], ["runs", "delete", HUGE, "--yes"],
                                  ["runs", "export", HUGE], ["report", HUGE]])  # fmt: skip
def test_ids_past_sqlites_range_are_not_found(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stored(1)
    result = invoke(*args)
    assert result.exit_code == 2 and one_sentence(result.output), result.output
    assert f"no run {args[2] if args[0] == 'runs' else args[1]} in" in result.output
    assert not Path("report.html").exists()
    with store.open_store() as s:
        assert len(s.list_runs()) == 1


# -- exports that cannot be written ----------------------------------------------------------
needs_dev_full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")


@needs_dev_full
def test_an_export_to_a_full_device_is_an_error_not_a_silent_loss():
    run_id = stored(1)
    result = invoke("runs", "export", str(run_id), "-o", "/dev/full")
    assert result.exit_code == 2 and one_sentence(result.output)
    assert "could not write /dev/full (No space left on device)" in result.output


def test_a_failed_export_removes_its_partial_file_and_keeps_an_earlier_one(monkeypatch, tmp_path):
    run_id = stored(1)
    earlier = tmp_path / "run.csv"
    earlier.write_text("an earlier export\n")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    for target in (earlier, tmp_path / "new.csv"):
        result = invoke("runs", "export", str(run_id), "-o", str(target))
        assert result.exit_code == 2 and one_sentence(result.output)
        assert "No space left on device" in result.output and "partial file was removed" in result.output
    assert earlier.read_text() == "an earlier export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "run.csv"]  # nothing partial


@needs_dev_full
def test_an_export_to_a_full_stdout_is_one_error_line():
    run_id = stored(1, epochs=50)
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "statecarry", "runs", "export", str(run_id)],
                              stdout=full, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(
        f"Error: could not write run {run_id} to standard output (No space left on device)"
    )


def test_an_export_writes_exactly_the_path_given_in_the_format_its_name_says(tmp_path):
    run_id = stored(1)
    plain = tmp_path / "metrics"
    assert invoke("runs", "export", str(run_id), "-o", str(plain)).exit_code == 0
    assert plain.read_text().startswith("run_id,epoch,seed")  # no ".csv" added
    wrong = invoke("runs", "export", str(run_id), "-o", str(tmp_path / "m.json"))
    assert wrong.exit_code == 2 and "its name says JSON but this writes CSV" in wrong.output
    assert not (tmp_path / "m.json").exists()


def test_check_output_refuses_before_any_work(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        files.check_output(tmp_path, (".html",))
    with pytest.raises(OutputError, match="name it with .html or .htm"):
        files.check_output(tmp_path / "fig.png", (".html", ".htm"))
    with pytest.raises(OutputError, match="the folder .*new does not exist; create it first"):
        files.check_output(tmp_path / "new" / "page", (".html",))
    assert not (tmp_path / "new").exists()
    assert files.check_output(tmp_path / "page", (".html",)).name == "page"


def test_check_output_tries_the_folder_where_permissions_say_yes(monkeypatch, tmp_path):
    """As root, `reproduce -o /sys/r.html` passed the permission check and failed after the
    runs were stored: the check now makes (and removes) the partial file write_output will."""
    monkeypatch.setattr(files.os, "access", lambda *args: True)  # what root is told
    with pytest.raises(OutputError, match=r"^-o /proc/r.html: cannot create a file in /proc .*choose another path"):
        files.check_output("/proc/r.html", (".html",))
    assert files.check_output(tmp_path / "r.html", (".html",)) == tmp_path / "r.html"
    assert list(tmp_path.iterdir()) == []  # the trial file is gone


def test_an_output_that_cannot_be_opened_is_not_told_to_free_space(tmp_path):
    """`report -o /proc/r.html` said "the partial file was removed: free some space" when no
    partial file was ever written and space was not the matter."""
    from statecarry import files
    from statecarry.errors import OutputError

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as caught:
        files.write_output(blocker / "r.html", "<html>")  # its folder is a file
    message = str(caught.value)
    assert message.endswith(": choose another path.") and "partial" not in message and "space" not in message
    assert blocker.read_text() == "x"


def test_an_epoch_with_another_count_than_the_seeds_is_refused_when_written():
    with store.open_store() as s:
        run_id = s.start_run("run", CONFIG, [0, 1])
        with pytest.raises(ValueError, match=rf"^run {run_id} has 2 seed\(s\), but its test_acc has 1 value\(s\)\.$"):
            s.record_epoch(run_id, 0, {"test_acc": [0.5]})
        s.record_epoch(run_id, 0, {"test_acc": [0.5, 0.6]})
        assert s.get_run(run_id).final["test_acc"] == [0.5, 0.6]
