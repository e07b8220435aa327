"""Executors: where the units of work run. `LocalExecutor` runs them one after another in this
process (today's behaviour); `RayExecutor` runs each as a Ray task on a worker (one CPU each
by default) and yields them as they finish, so the driver can store each at once.

A task is `(config as a dict, seeds)`, small and plain, so it travels to any machine; what comes
back is a `Chunk`: per-epoch metrics for those seeds and the timings. Ray retries a task whose
worker dies (its `max_retries`), and the driver stores a task only when its result arrives, so
each is stored exactly once.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError


class Task(NamedTuple):
    config: dict[str, Any]  # a blog Config as a dict (JSON-able, picklable)
    seeds: tuple[int, ...]


class Chunk(NamedTuple):
    """A task's result: metrics (name -> (epochs, len(seeds))) and timings in seconds."""

    metrics: dict[str, np.ndarray]
    timings: dict[str, float]


def train_chunk(task: Task) -> Chunk:
    """Train one config over one chunk of seeds with `fit` (via the blog adapter): the work a
    Ray worker does. Sets the worker's XLA devices up first if JAX has not started yet."""
    from ..core import runtime
    from ..experiments.blog import run, step_sizes
    from ..experiments.config import Config

    config = Config(**task.config)
    if not runtime.jax_started():  # a fresh worker: as many XLA devices as the task's cores
        inherited = os.environ.get("XLA_FLAGS", "").split()  # the driver's, via Ray
        kept = [f for f in inherited if "xla_force_host_platform_device_count" not in f]
        os.environ["XLA_FLAGS"] = " ".join(kept)
        # the first task's steps decide for the worker (XLA reads its flags once)
        runtime.use_cpu_cores(int(os.environ.get("STATECARRY_WORKER_CORES", "1")),
                              **step_sizes([config], len(task.seeds)))  # fmt: skip
    runtime.enable_compile_cache()
    history = run(config, list(task.seeds))
    timings = {"compile_seconds": history.compile_seconds, "run_seconds": history.run_seconds}
    return Chunk({k: np.asarray(v) for k, v in history.metrics.items()}, timings)


class LocalExecutor:
    """In this process, one task after another."""

    name = "local"

    def map(self, fn: Callable[[Task], Chunk], tasks: Iterable[Task]) -> Iterator[tuple[Task, Chunk]]:
        for task in tasks:
            yield task, fn(task)


class RayExecutor:
    """Ray tasks, `cpus` each, on the cluster at `address` (None: start a local one with every
    core of this machine). Results are yielded in the order they finish."""

    name = "ray"

    def __init__(
        self, address: str | None = None, cpus: float = 1, gpus: float = 0, max_retries: int = 3
    ):
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "--executor ray needs Ray; install it with pip install 'statecarry[ray]'."
            ) from None
        self.ray = ray
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "logging_level": logging.ERROR}  # no INFO lines
            if address:
                _reachable(address)
                options["address"] = address
            try:
                with warnings.catch_warnings():
                    # JAX warns on any fork; Ray's fork is subprocess' fork-exec, which is safe.
                    warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
                    ray.init(**options)
            except ConnectionError as e:
                raise ConfigError(f"cannot reach the Ray cluster at {address}: {e}") from None
        self.cpus, self.gpus = cpus, gpus
        self.max_retries = max_retries

    def map(self, fn: Callable[[Task], Chunk], tasks: Iterable[Task]) -> Iterator[tuple[Task, Chunk]]:
        remote = self.ray.remote(
            num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.max_retries
        )(fn)
        pending = {remote.remote(task): task for task in tasks}
        try:
            while pending:
                done, _ = self.ray.wait(list(pending), num_returns=1)
                for ref in done:
                    yield pending.pop(ref), self.ray.get(ref)
        finally:  # Ctrl-C or an error: stop what has not finished
            for ref in pending:
                self.ray.cancel(ref, force=True)


PROBE_SECONDS = 10  # Ray itself retries an address that answers nothing for many minutes


def _reachable(address: str) -> None:
    """Refuse, within PROBE_SECONDS, a HOST:PORT (or ray://HOST:PORT) that takes no connection:
    Ray retries such an address for many minutes, printing only its own log lines. The probe
    runs in a daemon thread, so a name lookup that hangs (its time is not the socket's timeout)
    is bounded too and never holds the process at exit."""
    import socket
    import threading

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local" and other forms are Ray's to read
    outcome: list = []

    def probe() -> None:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(e)

    thread = threading.Thread(target=probe, name="ray-probe", daemon=True)
    thread.start()
    thread.join(PROBE_SECONDS)
    error = outcome[0] if outcome else TimeoutError()
    if error is not None:
        why = (f"no answer within {PROBE_SECONDS} s" if isinstance(error, TimeoutError)
               else (error.strerror or str(error)).lower())  # fmt: skip
        raise ConfigError(f"cannot reach the Ray cluster at {address} ({why}); "
                          "start it with 'ray start --head' there, or check --address.") from None  # fmt: skip


def make_executor(name: str, address: str | None = None, gpus: float = 0):
    if name == "local":
        if address or gpus:
            raise ConfigError("--address and --task-gpus are for --executor ray.")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, gpus=gpus)
    raise ConfigError(f"unknown executor {name!r}; choose local or ray.")
