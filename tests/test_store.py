"""The run store's guarantees: epochs survive crashes, writers share the file, old stores
migrate, and a file that is not ours is refused without being touched.

conftest points STATECARRY_HOME at a fresh tmp directory for every test.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.stats

from statecarry import store
from statecarry.errors import StoreError

CONFIG = {"task": "first-step", "mode": "stateful", "units": 3, "learning_rate": 1e-3}


def metrics_at(epoch: int, n_seeds: int = 2) -> dict[str, list[float]]:
    """Distinct, checkable values for every (epoch, metric, seed)."""
    return {
        "train_loss": [1.0 / (epoch + 1) + k for k in range(n_seeds)],
        "test_acc": [0.5 + 0.01 * epoch + 0.001 * k for k in range(n_seeds)],
    }


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_only(path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


# -- one transaction per epoch --------------------------------------------------------------
def test_each_epoch_is_one_committed_transaction():
    with store.open_store() as s:
        statements: list[str] = []
        s.db.set_trace_callback(statements.append)
        run_id = s.start_run("run", CONFIG, [0, 1])
        for epoch in range(3):
            statements.clear()
            s.record_epoch(run_id, epoch, metrics_at(epoch))
            words = [q.split()[0].lower() for q in statements]
            control = [w for w in words if w in ("begin", "commit", "rollback")]
            assert control == ["begin", "commit"]
            # Committed: another connection sees the whole epoch at once.
            reader = read_only(s.path)
            try:
                rows = reader.execute(
                    "select metric, value from epochs where run_id=? and epoch=?", (run_id, epoch)
                ).fetchall()
            finally:
                reader.close()
            assert {m: json.loads(v) for m, v in rows} == metrics_at(epoch)


def test_a_finished_run_reads_back_exactly():
    with store.recording("run", CONFIG, [3, 4]) as rec:
        for epoch in range(3):
            rec.epoch(epoch, metrics_at(epoch))
        result = {"claims": [{"id": "c1", "verdict": "confirmed"}]}
        rec.finish(timings={"run_seconds": 1.5}, result=result)
    with store.open_store() as s:
        run = s.get_run(rec.run_id)
    assert (run.kind, run.task, run.config) == ("run", "first-step", CONFIG)
    assert (run.seeds, run.status) == ([3, 4], "done")
    assert run.epochs == 3
    assert run.metrics == {m: [metrics_at(e)[m] for e in range(3)] for m in metrics_at(0)}
    assert run.final == metrics_at(2)
    assert run.timings == {"run_seconds": 1.5}
    assert run.result == {"claims": [{"id": "c1", "verdict": "confirmed"}]}
    assert run.versions["python"] == ".".join(map(str, sys.version_info[:3]))
    import importlib.metadata

    assert run.versions["jax"] == importlib.metadata.version("jax")
    assert run.machine["cpu_count"] == os.cpu_count()
    assert run.pid == os.getpid() and run.seconds >= 0


def test_nan_metrics_are_stored_as_null_and_read_back_as_nan():
    with store.recording("run", CONFIG, [0, 1]) as rec:
        rec.epoch(0, {"test_known_acc": np.array([np.nan, 0.25], np.float32)})
    with store.open_store() as s:
        run = s.get_run(rec.run_id)
    first, second = run.metrics["test_known_acc"][0]
    assert math.isnan(first) and second == 0.25
    assert run.to_json()["epochs"][0]["test_known_acc"] == [None, 0.25]
    json.dumps(run.to_json(), allow_nan=False)  # standard JSON: raises on NaN


# -- crashes ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "error, status", [(RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "interrupted")]
)
def test_an_exception_mid_run_keeps_finished_epochs_and_marks_the_run(error, status):
    with pytest.raises(type(error)), store.recording("run", CONFIG, [0, 1]) as rec:
        for epoch in range(2):
            rec.epoch(epoch, metrics_at(epoch))
        raise error
    with store.open_store() as s:
        run = s.get_run(rec.run_id)
    assert run.status == status and run.finished is not None
    assert run.metrics["test_acc"] == [metrics_at(0)["test_acc"], metrics_at(1)["test_acc"]]
    assert (run.error is not None) == (status == "failed")


# Ctrl-C raises KeyboardInterrupt again: a shell's background job starts with SIGINT ignored,
# and Python then installs no handler of its own (as in test_cli_signals.py).
CHILD = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from statecarry import store
    with store.recording("run", {"task": "first-step"}, [0, 1]) as rec:
        print(rec.run_id, flush=True)
        for epoch in range(300):
            rec.epoch(epoch, {"test_acc": [epoch / 1000, epoch / 500]})
            print(epoch, flush=True)
            time.sleep(0.03)
    """
)


def _start_child_and_wait_for_epochs(n: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    run_id = int(proc.stdout.readline())
    while int(proc.stdout.readline()) < n - 1:
        pass
    return proc, run_id


def _assert_epochs_intact(run: store.Run, at_least: int) -> None:
    assert run.epochs >= at_least
    assert run.metrics["test_acc"] == [[e / 1000, e / 500] for e in range(run.epochs)]


def test_ctrl_c_in_another_process_marks_it_interrupted_and_keeps_its_epochs():
    proc, run_id = _start_child_and_wait_for_epochs(3)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
    with store.open_store() as s:
        run = s.get_run(run_id)
    assert run.status == "interrupted" and run.shown_status == "interrupted"
    _assert_epochs_intact(run, 3)


def test_a_killed_process_leaves_its_epochs_and_shows_as_stale():
    proc, run_id = _start_child_and_wait_for_epochs(3)
    with store.open_store() as s:
        assert s.get_run(run_id).shown_status == "running"  # its writer is alive
    proc.kill()
    proc.communicate(timeout=60)  # reaped, so its pid no longer exists
    with store.open_store() as s:
        run = s.get_run(run_id)
        listed = s.list_runs()
    assert run.status == "running" and run.finished is None  # SIGKILL cannot be caught
    assert run.shown_status == "stale" and [r.shown_status for r in listed] == ["stale"]
    _assert_epochs_intact(run, 3)


# -- two writers -----------------------------------------------------------------------------
WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from statecarry import store
    go, writer = Path(sys.argv[1]), int(sys.argv[2])
    while not go.exists():
        time.sleep(0.002)
    with store.recording("run", {"task": "first-step", "writer": writer}, [0]) as rec:
        with store.open_store() as s:  # both runs exist before either writes an epoch
            while len(s.list_runs()) < 2:
                time.sleep(0.002)
        for epoch in range(150):
            rec.epoch(epoch, {"test_acc": [writer + epoch / 1000]})
    """
)


def test_two_processes_writing_at_once_both_succeed(tmp_path):
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(go), str(w)], stderr=subprocess.PIPE, text=True
        )
        for w in (1, 2)
    ]
    go.touch()  # both open a store that does not exist yet: migrations race too
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    with store.open_store() as s:
        runs = [s.get_run(r.id) for r in s.list_runs()]
    assert sorted(r.config["writer"] for r in runs) == [1, 2]
    for run in runs:
        w = run.config["writer"]
        assert run.status == "done"
        assert run.metrics["test_acc"] == [[w + e / 1000] for e in range(150)]


def test_a_store_locked_longer_than_the_timeout_is_a_store_error_and_nothing_is_lost(monkeypatch):
    monkeypatch.setattr(store.opening, "BUSY_TIMEOUT_SECONDS", 0.05)  # read where it connects
    with store.open_store() as s:
        run_id = s.start_run("run", CONFIG, [0, 1])
        other = sqlite3.connect(s.path, isolation_level=None)
        other.execute("begin immediate")  # another process holding the write lock
        with pytest.raises(StoreError, match="database is locked"):
            s.record_epoch(run_id, 0, metrics_at(0))
        other.execute("rollback")
        other.close()
        s.record_epoch(run_id, 0, metrics_at(0))
        assert s.get_run(run_id).metrics["test_acc"] == [metrics_at(0)["test_acc"]]


# -- migrations ------------------------------------------------------------------------------
def test_a_store_from_the_first_schema_opens_migrates_and_keeps_its_data():
    path = store.store_path()
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    store.migrate(db, store.MIGRATIONS[:1])
    db.execute(
        "insert into runs (kind, task, config, config_hash, seeds, status, started, finished) "
        "values (?,?,?,?,?,?,?,?)",
        ("run", "first-step", store.canonical_json(CONFIG), store.config_hash(CONFIG), "[0, 1]",
         "done", "2025-01-01T00:00:00+00:00", "2025-01-01T00:00:09+00:00"),
    )  # fmt: skip
    db.execute("insert into epochs values (1, 0, 'test_acc', '[0.5, 0.75]')")
    assert db.execute("pragma user_version").fetchone()[0] == 1
    db.close()

    with store.open_store() as s:
        assert s.db.execute("pragma user_version").fetchone()[0] == len(store.MIGRATIONS) > 1
        run = s.get_run(1)
        assert (run.config, run.seeds, run.seconds) == (CONFIG, [0, 1], 9.0)
        assert run.metrics == {"test_acc": [[0.5, 0.75]]}
        assert run.pid is None and run.shown_status == "done"
        assert s.find_done("run", CONFIG, [0, 1]) == 1  # the later migrations' index serves it
        new = s.start_run("run", CONFIG, [0])
        assert s.get_run(new).pid == os.getpid()


def test_a_store_from_a_newer_statecarry_is_refused_untouched():
    with store.open_store() as s:
        path = s.path
        s.db.execute(f"pragma user_version = {len(store.MIGRATIONS) + 5}")
    before = sha(path)
    with pytest.raises(StoreError, match="newer statecarry"):
        store.open_store()
    assert sha(path) == before


# -- files that are not ours -----------------------------------------------------------------
def _damage_schema_page(data: bytearray) -> None:
    data[100:600] = b"\xa5" * 500  # page 1's b-tree: the schema itself


def _damage_last_page(data: bytearray) -> None:
    data[-4096:] = b"\xa5" * 4096


@pytest.mark.parametrize("damage", [_damage_schema_page, _damage_last_page])
def test_a_damaged_store_is_refused_with_one_sentence_and_left_untouched(damage):
    with store.recording("run", CONFIG, [0, 1]) as rec:
        for epoch in range(20):
            rec.epoch(epoch, metrics_at(epoch))
    path = store.store_path()
    data = bytearray(path.read_bytes())
    assert len(data) >= 3 * 4096
    damage(data)
    path.write_bytes(bytes(data))
    before = sha(path)
    with pytest.raises(StoreError) as info:
        store.open_store()
    message = str(info.value)
    assert str(path) in message and "damaged" in message and "STATECARRY_HOME" in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert sha(path) == before


def test_a_foreign_sqlite_file_is_refused_and_left_untouched():
    path = store.store_path()
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("create table notes (body text)")
    db.execute("insert into notes values ('mine')")
    db.commit()
    db.close()
    before = sha(path)
    with pytest.raises(StoreError, match="SQLite database that statecarry did not write"):
        store.open_store()
    assert sha(path) == before
    db = sqlite3.connect(path)
    assert db.execute("pragma journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    db.close()


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched():
    path = store.store_path()
    path.parent.mkdir(parents=True)
    path.write_text("epoch,loss\n0,0.25\n" * 100)
    before = sha(path)
    with pytest.raises(StoreError, match="not a SQLite database"):
        store.open_store()
    assert sha(path) == before


# -- lookups, deletion, export ---------------------------------------------------------------
def test_find_done_matches_kind_config_and_seeds_of_finished_runs_only():
    with store.open_store() as s:
        assert s.find_done("run", CONFIG, [0, 1]) is None
        running = s.start_run("run", CONFIG, [0, 1])
        failed = s.start_run("run", CONFIG, [0, 1])
        s.finish(failed, "failed")
        assert s.find_done("run", CONFIG, [0, 1]) is None
        done = s.start_run("run", CONFIG, [0, 1])
        s.finish(done)
        reordered = dict(reversed(list(CONFIG.items())))
        assert s.find_done("run", reordered, [0, 1]) == done
        assert s.find_done("run", CONFIG, [0, 2]) is None
        assert s.find_done("forecast", CONFIG, [0, 1]) is None
        assert s.find_done("run", CONFIG | {"units": 4}, [0, 1]) is None
        assert running not in (None, done)


def test_delete_removes_a_run_its_children_and_their_epochs():
    with store.recording("sweep", CONFIG, [0]) as sweep:
        for units in (3, 4):
            with sweep.child("run", CONFIG | {"units": units}, [0]) as child:
                child.epoch(0, {"test_acc": [0.5]})
    with store.recording("run", CONFIG, [0]) as other:
        other.epoch(0, {"test_acc": [0.9]})
    with store.open_store() as s:
        children = [r.id for r in s.children(sweep.run_id)]
        assert len(children) == 2
        assert sorted(s.delete_run(sweep.run_id)) == sorted([sweep.run_id, *children])
        assert [r.id for r in s.list_runs()] == [other.run_id]
        assert s.db.execute("select count(*) from epochs").fetchone()[0] == 1
        with pytest.raises(store.UnknownRun, match=f"no run {sweep.run_id} in "):
            s.get_run(sweep.run_id)


def test_recording_disabled_writes_nothing():
    with store.recording("run", CONFIG, [0], enabled=False) as rec:
        rec.epoch(0, {"test_acc": [1.0]})
        with rec.child("run", CONFIG, [0]) as child:
            child.epoch(0, {"test_acc": [1.0]})
        rec.finish()
    assert rec.run_id is None and child.run_id is None
    assert not store.store_path().exists()


def test_csv_export_has_one_row_per_epoch_and_seed_with_the_recorded_values():
    seeds = [7, 8]
    with store.recording("run", CONFIG, seeds) as rec:
        for epoch in range(3):
            rec.epoch(epoch, metrics_at(epoch))
    with store.open_store() as s:
        rows = list(csv.DictReader(io.StringIO(store.to_csv(s.get_run(rec.run_id)))))
    assert len(rows) == 3 * len(seeds)
    for row in rows:
        epoch, k = int(row["epoch"]), seeds.index(int(row["seed"]))
        for metric, values in metrics_at(epoch).items():
            assert float(row[metric]) == values[k]


def test_compare_gives_the_t_interval_clipped_to_0_1_and_the_config_differences():
    finals = [[0.5, 0.6, 0.9], [1.0, 1.0, 0.98]]
    ids = []
    for mode, final in zip(("stateless", "stateful"), finals):
        with store.recording("run", CONFIG | {"mode": mode}, [0, 1, 2]) as rec:
            rec.epoch(0, {"test_acc": final})
        ids.append(rec.run_id)
    with store.open_store() as s:
        comparison = store.compare_runs([s.get_run(i, metrics=False) for i in ids])
    assert comparison["config_differences"] == {"mode": ["stateless", "stateful"]}
    for row, final in zip(comparison["runs"], finals):
        interval = scipy.stats.t.interval(
            0.95, len(final) - 1, loc=np.mean(final), scale=scipy.stats.sem(final)
        )
        assert row["test_acc"]["mean"] == pytest.approx(np.mean(final))
        measured = (row["test_acc"]["low"], row["test_acc"]["high"])
        clipped = (max(interval[0], 0.0), min(interval[1], 1.0))  # an accuracy stays in [0, 1]
        assert measured == pytest.approx(clipped, rel=1e-9)
    assert comparison["runs"][1]["test_acc"]["high"] == 1.0  # the t interval reaches past 1
    assert [r["solved"]["mean"] for r in comparison["runs"]] == pytest.approx([0, 2 / 3])


def test_compare_solves_prev_batch_on_the_determined_samples_and_clips_mae_at_0():
    """As `run`'s table: prev-batch's first labels are random, so solved counts test_known_acc
    (runs compare said 75% where run said 88%); an MAE, like an RMSE, is never below 0."""
    with store.recording("run", CONFIG | {"task": "prev-batch"}, [0, 1, 2]) as rec:
        rec.epoch(0, {"test_acc": [0.97, 0.98, 0.5], "test_known_acc": [0.995, 1.0, 0.5]})
    with store.recording("train", {"task": "t.csv"}, [0, 1]) as fitted:
        fitted.epoch(0, {"test_mae": [0.1, 1.2], "test_rmse": [0.2, 1.5]})
    with store.open_store() as s:
        comparison = store.compare_runs([s.get_run(i, metrics=False) for i in (rec.run_id, fitted.run_id)])
    assert comparison["runs"][0]["solved"]["mean"] == pytest.approx(2 / 3)
    assert comparison["runs"][1]["test_mae"]["low"] == 0.0 and comparison["runs"][1]["test_rmse"]["low"] == 0.0


def test_store_path_follows_statecarry_home_then_xdg_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("STATECARRY_HOME", str(tmp_path / "a"))
    assert store.store_path() == tmp_path / "a" / "runs.sqlite"
    monkeypatch.delenv("STATECARRY_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert store.store_path() == tmp_path / "xdg" / "statecarry" / "runs.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "share" / "statecarry" / "runs.sqlite"
    assert store.store_path() == expected
