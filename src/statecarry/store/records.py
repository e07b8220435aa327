"""A run as read back from the store (`Run`), and the helpers that turn values into its JSON.

Also the provenance every run records: installed versions and the machine, read from package
metadata and `platform` (never by importing JAX).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import socket
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

MAIN_METRICS = ("test_acc", "test_rmse", "train_rmse", "train_acc")


@dataclasses.dataclass
class Run:
    id: int
    kind: str
    task: str | None
    config: dict
    config_hash: str
    seeds: list[int]
    status: str
    started: str
    finished: str | None
    timings: dict
    versions: dict
    machine: dict
    result: dict | None
    parent: int | None
    pid: int | None
    host: str | None
    error: str | None
    epochs: int = 0
    final: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    metrics: dict[str, list[list[float]]] = dataclasses.field(default_factory=dict)

    @property
    def shown_status(self) -> str:
        """"stale" for a run still marked running whose writer (on this host) has gone."""
        if self.status == "running" and not writer_may_live(self.pid, self.host):
            return "stale"
        return self.status

    @property
    def main_metric(self) -> str | None:
        """What the run is judged by: test accuracy, else test RMSE (a linear head), else the
        training RMSE or accuracy (a forecast model's run scores its forecasts in its parent)."""
        return next((m for m in MAIN_METRICS if self.final.get(m)), None)

    @property
    def title(self) -> str:
        """The task, and for a `forecast` run the series it forecast (`forecast nile`)."""
        if self.kind == "forecast" and self.task == "forecast" and self.config.get("series"):
            return f"forecast {str(self.config['series']).split(' (')[0]}"
        return self.task or "—"

    @property
    def seconds(self) -> float | None:
        """Wall-clock time from start to finish (None while running)."""
        if not self.finished:
            return None
        return (_parse(self.finished) - _parse(self.started)).total_seconds()

    def to_json(self, include_epochs: bool = True) -> dict:
        """Every field; "epochs" is the per-epoch list (as `statecarry run --json` prints it),
        or with include_epochs=False the number of epochs recorded plus "final"."""
        fields = dataclasses.asdict(self)
        metrics = fields.pop("metrics")
        fields["shown_status"] = self.shown_status
        if include_epochs:
            fields.pop("final")
            fields["epochs"] = [
                {"epoch": e} | {m: values[e] for m, values in metrics.items()}
                for e in range(self.epochs)
            ]
        return _json_safe(fields)


def writer_may_live(pid: int | None, host: str | None) -> bool:
    """False only when the writer ran on this host and its process is gone: a pid from
    another host says nothing about a process here."""
    mine = pid and host == socket.gethostname()
    return not (mine and not _alive(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _nulls(values: Sequence[float]) -> list[float | None]:
    return [None if (v is None or math.isnan(v)) else v for v in values]


def _json_safe(value: Any) -> Any:
    """NaN and infinities -> null, so exported JSON is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(_json_safe(value), sort_keys=True, separators=(",", ":"))


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(config)).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    """Installed versions, from package metadata (importing JAX here would cost seconds)."""
    out: dict[str, str | None] = {}
    for name in ("statecarry", "jax", "jaxlib", "optax", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


@functools.lru_cache(maxsize=1)
def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def _as_dict(config: Any) -> dict:
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


RUN_COLUMNS = (
    "id, kind, task, config, config_hash, seeds, status, started, finished, timings, "
    "versions, machine, result, parent, pid, host, error"
)


class BadValue(ValueError):
    """A stored value that does not decode; its message names where (a column, an epoch)."""


def _loads(text: str, where: str, shape: type) -> Any:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        raise BadValue(where) from None
    if not isinstance(value, shape):
        raise BadValue(where)
    return value


def _run_from_row(row: tuple) -> Run:
    """A `runs` row as a `Run`; BadValue names the first column that does not decode."""
    (id_, kind, task, config, chash, seeds, status, started, finished, timings, vers, mach,
     result, parent, pid, host, error) = row  # fmt: skip
    seeds = _loads(seeds, "column seeds", list)
    if not all(isinstance(s, int) for s in seeds):
        raise BadValue("column seeds")
    return Run(
        id_, kind, task, _loads(config, "column config", dict), chash, seeds, status, started,
        finished, _loads(timings or "{}", "column timings", dict),
        _loads(vers or "{}", "column versions", dict), _loads(mach or "{}", "column machine", dict),
        _loads(result, "column result", dict) if result else None, parent, pid, host, error,
    )  # fmt: skip


def _floats(value: str, where: str = "value") -> list[float]:
    values = _loads(value, where, list)
    try:
        return [math.nan if v is None else float(v) for v in values]
    except (ValueError, TypeError):
        raise BadValue(where) from None
