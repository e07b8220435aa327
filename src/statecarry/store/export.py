"""Runs out of the store: CSV for pandas or a spreadsheet, and a side-by-side comparison."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

from .records import Run, _json_safe, canonical_json


def to_csv(runs: Run | Sequence[Run]) -> str:
    """One row per (run, epoch, seed), one column per metric any of `runs` has (empty where a
    run lacks it): ready for pandas or a spreadsheet. A sweep's points are its child runs."""
    runs = [runs] if isinstance(runs, Run) else list(runs)
    names = sorted({m for run in runs for m in run.metrics})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run_id", "epoch", "seed", *names])
    for run in runs:
        for epoch in range(run.epochs):
            for k, seed in enumerate(run.seeds):
                values = (run.metrics[m][epoch][k] if m in run.metrics else math.nan for m in names)
                cells = ("" if math.isnan(v) else repr(v) for v in values)
                writer.writerow([run.id, epoch, seed, *cells])
    return out.getvalue()


def compare_runs(runs: Sequence[Run]) -> dict:
    """Final test accuracy and loss (mean and 95% CI over seeds) per run, and the config keys
    whose values differ between the runs."""
    from .. import stats  # NumPy: only when comparing
    from ..experiments.tasks import UNDETERMINED_START

    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "id": run.id, "kind": run.kind, "task": run.title, "status": run.shown_status,
            "seeds": len(run.seeds), "epochs": run.epochs, "main_metric": run.main_metric,
        }  # fmt: skip
        for metric in ("test_acc", "test_loss", "test_rmse", "test_mae", "train_rmse"):
            if metric in run.final:
                bounds = metric_bounds(metric)
                row[metric] = stats.mean_ci(run.final[metric], bounds=bounds)._asdict()
        # solved as `run`'s table counts it: on the determined samples where the first labels are not
        solved_on = "test_known_acc" if run.config.get("task") in UNDETERMINED_START else "test_acc"
        if solved_on in run.final:
            row["solved"] = stats.solved_fraction(run.final[solved_on])._asdict()
        rows.append(row)
    keys = sorted({k for run in runs for k in run.config})
    differences = {
        k: [run.config.get(k) for run in runs]
        for k in keys
        if len({canonical_json(run.config.get(k)) for run in runs}) > 1
    }
    return _json_safe({"runs": rows, "config_differences": differences})


def metric_bounds(metric: str) -> tuple[float, float] | None:
    """The values `metric` can take, so its interval is clipped the way `run`'s table clips it:
    a t interval over seeds that mostly sit at accuracy 1 would otherwise reach past 1."""
    from .. import stats

    if metric.endswith("acc"):
        return stats.ACCURACY
    if metric.endswith(("loss", "rmse", "mae")):
        return stats.NON_NEGATIVE
    return None
