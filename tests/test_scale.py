"""Runs on a real local Ray (2 CPUs, loopback): the same numbers as the local executor seed by
seed, a worker that dies mid-run is retried and its task stored once, and Ctrl-C of the driver
keeps every finished task for `--resume`."""

import os
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'statecarry[ray]'")

from statecarry import store  # noqa: E402
from statecarry.cli._record import stored_tasks  # noqa: E402
from statecarry.experiments import blog  # noqa: E402
from statecarry.experiments.config import Config  # noqa: E402
from statecarry.scale import executor as executors  # noqa: E402
from statecarry.scale.prefetch import Prefetched, prefetch, tasks_of  # noqa: E402

SMALL = Config(task="first-step", units=2, n_train=64, n_test=32, epochs=2)
JOBS = [(SMALL, [0, 1, 2, 3, 4]), (SMALL.replace(units=3, mode="stateless"), [0, 1, 2, 3, 4])]
CHUNK = 2  # 3 tasks a job, the last one short


@pytest.fixture(scope="module")
def ray_executor(tmp_path_factory):
    cache = tmp_path_factory.mktemp("worker-cache")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"XDG_CACHE_HOME": str(cache)}},  # not the user's home
    )
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # tasks defined here
    yield executors.RayExecutor()
    ray.shutdown()


def local(config, seeds):
    return blog.run(config, seeds).metrics


def test_ray_gives_the_local_numbers_seed_by_seed(ray_executor):
    results = prefetch(JOBS, ray_executor, chunk_seeds=CHUNK)
    for config, seeds in JOBS:
        got = results[(config, tuple(seeds))]
        assert got.seeds == seeds
        for name, values in local(config, seeds).items():
            np.testing.assert_array_equal(got.metrics[name], values, err_msg=name)
    # a run asked for later, for fewer epochs, is the first epochs of the prefetched one
    shorter = Prefetched(results, lambda *a, **k: pytest.fail("ran again"))(SMALL.replace(epochs=1), JOBS[0][1])
    np.testing.assert_array_equal(shorter.metrics["test_acc"], local(SMALL, JOBS[0][1])["test_acc"][:1])


def dies_once(marker: str):
    """A task function whose worker process dies the first time it meets seeds (2, 3)."""

    def work(task):
        if task.seeds == (2, 3) and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker is gone, mid-task, as if killed
        return executors.train_chunk(task)

    return work


def test_a_worker_that_dies_is_retried_and_every_task_is_stored_once(ray_executor, tmp_path):
    seeds = list(range(6))
    with store.recording("sweep", {"test": "dies"}, seeds) as rec:
        keep, find = stored_tasks(rec)
        results = prefetch([(SMALL, seeds)], ray_executor, keep=keep, find=find,
                           chunk_seeds=CHUNK, work=dies_once(str(tmp_path / "died")))  # fmt: skip
    assert (tmp_path / "died").exists()  # the worker really died once
    children = store.open_store().children(rec.run_id)
    assert sorted(tuple(c.seeds) for c in children) == [(0, 1), (2, 3), (4, 5)]
    assert all(c.status == "done" for c in children)
    np.testing.assert_array_equal(results[(SMALL, tuple(seeds))].metrics["test_acc"],
                                  local(SMALL, seeds)["test_acc"])  # fmt: skip


def test_ctrl_c_keeps_finished_tasks_and_resume_runs_only_the_rest(ray_executor):
    seeds = list(range(6))
    job = [(SMALL.replace(horizon=2), seeds)]
    with (
        pytest.raises(KeyboardInterrupt),
        store.recording("sweep", {"test": "ctrl-c"}, seeds) as rec,
    ):
        keep, find = stored_tasks(rec)

        def keep_then_interrupt(task, chunk):
            keep(task, chunk)
            raise KeyboardInterrupt  # what SIGINT raises while the driver waits

        prefetch(job, ray_executor, keep=keep_then_interrupt, find=find, chunk_seeds=CHUNK)
    s = store.open_store()
    assert s.get_run(rec.run_id).status == "interrupted"
    assert [c.status for c in s.children(rec.run_id)] == ["done"]

    ran = []

    def counted(task):
        ran.append(task.seeds)
        return executors.train_chunk(task)

    with store.recording("sweep", {"test": "ctrl-c"}, seeds) as again:
        keep, find = stored_tasks(again, resume=True)
        results = prefetch(job, executors.LocalExecutor(), keep=keep, find=find,
                           chunk_seeds=CHUNK, work=counted)  # fmt: skip
    assert len(ran) == len(tasks_of(job, CHUNK)) - 1  # the finished chunk was not run again
    np.testing.assert_array_equal(results[(job[0][0], tuple(seeds))].metrics["test_loss"],
                                  local(*job[0])["test_loss"])  # fmt: skip


def test_the_sweep_command_on_ray_equals_the_local_one(ray_executor):
    import json

    from click.testing import CliRunner

    from statecarry.cli import cli

    args = ["sweep", "first-step", "--grid", "units=2,3", "--seeds", "3", "--epochs", "2",
            "--n-train", "64", "--n-test", "32", "--json", "--no-store"]  # fmt: skip
    on_ray = CliRunner().invoke(cli, args + ["--executor", "ray"])
    here = CliRunner().invoke(cli, args)
    assert on_ray.exit_code == 0 and here.exit_code == 0, on_ray.output + here.output
    strip = lambda out: [{k: v for k, v in p.items() if k != "seconds"} for p in json.loads(out)["points"]]  # noqa: E731
    assert strip(on_ray.stdout) == strip(here.stdout)


def test_executor_errors_are_sentences():
    from statecarry.errors import ConfigError

    with pytest.raises(ConfigError, match="--address and --task-gpus are for --executor ray"):
        executors.make_executor("local", "ray://x:1")
    with pytest.raises(ConfigError, match="unknown executor 'dask'"):
        executors.make_executor("dask")


def test_an_address_that_takes_no_connection_is_refused_before_ray_tries_it(monkeypatch):
    """Ray retried `--address 127.0.0.1:1` for over 10 minutes, printing only its own logs."""
    import socket

    ray = pytest.importorskip("ray")
    from statecarry.errors import ConfigError

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **options: pytest.fail("ray.init was called"))
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(ConfigError, match=rf"^cannot reach the Ray cluster at {address} \(connection refused\); "
                                              r"start it with 'ray start --head' there, or check --address\.$"):  # fmt: skip
            executors.RayExecutor(address)


def test_a_name_lookup_that_hangs_is_bounded_by_the_probe(monkeypatch):
    """DNS is not bounded by a socket's timeout; the probe's thread is."""
    import socket
    import threading
    import time

    from statecarry.errors import ConfigError

    release = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: release.wait(30) and [])
    monkeypatch.setattr(executors, "PROBE_SECONDS", 0.5)
    start = time.perf_counter()
    try:
        with pytest.raises(ConfigError, match=r"at cluster\.example:6379 \(no answer within 0\.5 s\)"):
            executors._reachable("cluster.example:6379")
    finally:
        release.set()  # let the probe's thread finish
    assert time.perf_counter() - start < 5


def test_the_local_executor_never_imports_ray(tmp_path):
    import subprocess

    code = (
        "import sys; from click.testing import CliRunner; from statecarry.cli import cli; "
        "r = CliRunner().invoke(cli, ['sweep', 'first-step', '--grid', 'units=2', '--seeds', '1', "
        "'--epochs', '1', '--n-train', '16', '--n-test', '8', '--no-store', '-q']); "
        "print(r.exit_code, 'ray' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=os.environ | {"XDG_CACHE_HOME": str(tmp_path)}, timeout=300)  # fmt: skip
    assert done.stdout.split()[-2:] == ["0", "False"], done.stdout + done.stderr[-2000:]


def test_starting_ray_from_the_command_line_prints_nothing_but_progress(tmp_path):
    """A user's `--executor ray` shows our progress lines, not Ray's INFO lines or JAX's warning
    about the fork Ray starts its processes with."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "statecarry", "sweep", "first-step", "--grid", "units=2", "--seeds",
         "1", "--epochs", "1", "--n-train", "16", "--n-test", "8", "--no-store", "--executor", "ray"],
        capture_output=True, text=True, timeout=300,
        env=os.environ | {"XDG_CACHE_HOME": str(tmp_path), "RAY_AUTH_MODE": "disabled"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    noise = [line for line in done.stderr.splitlines() if "INFO" in line or "os.fork" in line]
    assert not noise, done.stderr[-2000:]


def test_an_experiment_answered_from_prefetched_results_reports_its_training_time():
    """With --executor ray the driver gets finished Histories back at once; the experiment's
    seconds are then the time its tasks trained, not the near-zero wall time of the lookup."""
    from statecarry.experiments import reproduce
    from statecarry.experiments.blog import History

    metrics = {m: np.full((5, 2), 0.5, np.float32) for m in ("test_acc", "test_known_acc")}

    def answered(config, seeds):
        return History(config, list(seeds), metrics, compile_seconds=3.0, run_seconds=4.0)

    results = reproduce.reproduce([0, 1], run=answered)
    assert [r.seconds for r in results] == [7.0] * len(reproduce.BLOG_EXPERIMENTS)
