"""Grids of configs over many seeds: `statecarry sweep TASK --grid "horizon=1,2 units=3,8"`.

Every grid point is one vectorised run over the seeds (the same seeds at every point, so
points are paired). A combination the config rejects (say `horizon=2` with `mode=rtrl`) is
kept as a skipped row with the reason, not silently dropped.
"""

from __future__ import annotations

import difflib
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .. import stats
from ..errors import ConfigError, TooLargeForMemory
from .config import Config, field_names
from .tasks import test_labels_determined

ALIASES = {"lr": "learning_rate", "batch": "batch_size", "steps": "time_steps"}
# Above these a sweep asks for --yes: points are built before anything runs (a million take
# minutes on their own), and the time is estimated from the first point's compile and run.
CONFIRM_POINTS = 10_000
CONFIRM_SECONDS = 3600.0
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _convert(key: str, text: str) -> Any:
    default = {f.name: f.default for f in fields(Config)}[key]
    try:
        if isinstance(default, bool):
            if text.lower() in TRUE:
                return True
            if text.lower() in FALSE:
                return False
            raise ValueError
        if isinstance(default, int) or default is None:
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        kind = ("a yes/no value (" + ", ".join(sorted(TRUE)) + " or " + ", ".join(sorted(FALSE)) + ")"
                if isinstance(default, bool) else "an integer" if not isinstance(default, float) else "a number")
        raise ConfigError(f"grid value {text!r} for {key} is not {kind}.") from None
    return text


def parse_grid(text: str) -> list[tuple[str, list[Any]]]:
    """`"horizon=1,2,4 units=3,8 lr=1e-3,1e-2"` -> [(field, values), ...] in the given order."""
    grid = []
    for token in text.split():
        key, sep, values = token.partition("=")
        if not sep or not values:
            raise ConfigError(f"grid entry {token!r} is not KEY=V1,V2,…; e.g. --grid \"horizon=1,2 lr=1e-3,1e-2\".")
        name = ALIASES.get(key.lower(), key.lower().replace("-", "_"))  # HORIZON, Learning-Rate: the key meant
        keys = [k for k in field_names() if k != "task"]
        if name not in keys:
            close = difflib.get_close_matches(name, keys + list(ALIASES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            if name in ("seeds", "seed", "first_seed"):  # the seeds are the sweep's, not a point's
                hint = " Seeds are not a grid key: every point runs the same seeds, --seeds N."
            raise ConfigError(f"unknown grid key {key!r}; use one of {', '.join(field_names()[1:])}.{hint}")
        if any(name == k for k, _ in grid):
            raise ConfigError(f"grid key {key!r} appears twice; give all its values once: {key}=a,b.")
        parts = values.split(",")
        if "" in parts:
            raise ConfigError(f"grid entry {token!r} has an empty value; write {key}=a,b.")
        converted = [_convert(name, v) for v in parts]
        twice = next((parts[i] for i, v in enumerate(converted) if v in converted[:i]), None)
        if twice is not None:  # the same point would train twice
            raise ConfigError(f"grid entry {token!r} gives {twice!r} twice; give each value once.")
        grid.append((name, converted))
    if not grid:
        raise ConfigError('the grid is empty; e.g. --grid "horizon=1,2 units=3,8".')
    return grid


def grid_size(grid: Sequence[tuple[str, list[Any]]]) -> int:
    """How many points the grid has (skipped ones included), without building them."""
    return math.prod(len(values) for _, values in grid)


def too_many_points(grid: Sequence[tuple[str, list[Any]]], seeds: int) -> str | None:
    """Why a sweep this big needs --yes before it starts (None: it does not)."""
    n = grid_size(grid)
    if n <= CONFIRM_POINTS:
        return None
    return (
        f"this grid has {n:,} points × {seeds:,} seeds, more than {CONFIRM_POINTS:,} points; add "
        "--yes to run them all, or give --grid fewer values."
    )


def estimate(first: Point, remaining: int) -> float:
    """Seconds the `remaining` points would take, each as long as the first (compile + run).

    An upper bound when later points reuse the first one's compiled program (only traced
    values such as lr change), a rough one when they grow the model."""
    return first.seconds * remaining


def too_slow(first: Point, remaining: int, seeds: int) -> str | None:
    """Why the rest of a sweep needs --yes, from its first point's time (None: it does not)."""
    seconds = estimate(first, remaining)
    if seconds <= CONFIRM_SECONDS:
        return None
    return (
        f"the first point to train took {first.seconds:.1f} s with {seeds:,} seeds, so the other "
        f"{remaining:,} points would take about {duration(seconds)}; add --yes to run them "
        "(--resume reuses the stored first point), or give --grid fewer values."
    )


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:,.1f} h"


@dataclass
class Point:
    values: dict[str, Any]
    config: Config | None  # None when skipped
    skipped: str = ""
    test_acc: stats.Summary | None = None
    known_acc: stats.Summary | None = None
    solved: stats.Summary | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        out = {"values": self.values, "skipped": self.skipped or None, "seconds": self.seconds}
        for name in ("test_acc", "known_acc", "solved"):
            s = getattr(self, name)
            out[name] = s._asdict() if s is not None else None
        return out


def points(base: Config, grid: Sequence[tuple[str, list[Any]]]) -> list[Point]:
    from . import blog

    keys = [k for k, _ in grid]
    out = []
    for combo in itertools.product(*(v for _, v in grid)):
        values = dict(zip(keys, combo))
        try:
            config = base.replace(**values)
            test_labels_determined(config)  # a point whose test set has no determined label: skipped
            blog.check_memory(config, 1)  # one seed must fit; more stream through in waves
            out.append(Point(values, config))
        except (ConfigError, TooLargeForMemory) as e:
            out.append(Point(values, None, skipped=str(e)))
    # A value that fails with every other value is a mistake, not a combination to skip.
    for key, options in grid:
        for value in options:
            mine = [p for p in out if p.values[key] is value or p.values[key] == value]
            if all(p.config is None for p in mine):
                raise ConfigError(f"grid value {key}={value} is invalid: {mine[0].skipped}")
    return out


def sweep(
    base: Config,
    grid: Sequence[tuple[str, list[Any]]],
    seeds: Sequence[int],
    run: Callable | None = None,
    on_point: Callable[[Point], None] | None = None,
    on_first: Callable[[Point, int], None] | None = None,
) -> list[Point]:
    """Run every valid grid point over `seeds`; summarise the final epoch.

    `on_first(point, remaining)` is called once the first point has trained (a point answered
    from the store, which has no timings, does not count), with the number of points still to
    run: it may print an estimate, or raise to stop the sweep there."""
    if run is None:
        from . import blog

        run = blog.run
    result = points(base, grid)
    todo = sum(p.config is not None for p in result)
    for p in result:
        trained = False
        if p.config is not None:
            t0 = time.perf_counter()
            history = run(p.config, list(seeds))
            p.seconds = history.seconds(time.perf_counter() - t0)
            p.test_acc = stats.mean_ci(history.final("test_acc"), bounds=stats.ACCURACY)
            known = history.final("test_known_acc")
            p.known_acc = stats.mean_ci(known, bounds=stats.ACCURACY)
            # no determined labels (random-labels): solved counts all of them
            p.solved = stats.solved_fraction(known if np.isfinite(known).any() else history.final("test_acc"))
            trained = history.compile_seconds + history.run_seconds > 0
        if on_point:
            on_point(p)
        todo -= p.config is not None
        if trained and on_first is not None:
            on_first(p, todo)
            on_first = None
    return result
