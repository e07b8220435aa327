"""The runs table (final accuracy per run) and the claims table (each claim's verdict)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import stats
from ..experiments.tasks import UNDETERMINED_START
from .cells import ci_cell, esc, metric_names, metric_values, run_label, status_badge, table


def metrics_section(runs: Sequence[dict]) -> str:
    """Forecast, train and compare runs: each recorded metric at the last epoch over seeds."""
    names = metric_names(runs)
    rows = [
        [esc(run["id"] if run.get("id") is not None else "—"), esc(run.get("kind", "")),
         esc(run_label(run, with_id=False)), esc(len(run.get("seeds") or [])), esc(len(run["epochs"])),
         *(ci_cell(stats.mean_ci(metric_values(run, n)[-1], bounds=_bounds(n))) for n in names),
         status_badge(run.get("status", ""))]
        for run in runs
    ]  # fmt: skip
    return (
        "<section><h2>Runs</h2>"
        + table(["run", "kind", "setup", "seeds", "epochs", *(esc(n.replace("_", " ")) for n in names),
                 "status"], rows, "runs")  # fmt: skip
        + "<p class=note>Each metric at the last epoch: the mean over seeds with a Student-t 95% "
        "interval. RMSE, MAE and loss are in the units the model was trained on (a standardised "
        "target for forecast and train runs).</p></section>"
    )


# Config keys the runs table shows elsewhere: the setup label's (run_label) and its own columns.
SHOWN = {"mode", "horizon", "marker", "shuffle", "reset", "carry", "task", "batch_size", "epochs"}


def _varying(runs: Sequence[dict]) -> list[str]:
    """Config keys whose values differ between the runs and that no column shows (a sweep's
    `units`, `learning_rate`): the setup cell names them, or runs that differ read the same."""
    keys = sorted({k for run in runs for k in run["config"]} - SHOWN)
    scalar = [k for k in keys if not any(isinstance(run["config"].get(k), (list, dict)) for run in runs)]
    return [k for k in scalar if len({repr(run["config"].get(k)) for run in runs}) > 1]


def summary_section(runs: Sequence[dict]) -> str:
    rows = []
    varying = _varying(runs)
    for run in runs:
        c = run["config"]
        named = [] if run.get("label") else [f"{k}={c[k]}" for k in varying if c.get(k) is not None]  # a labelled row says it all
        setup = ", ".join([run_label(run, with_id=False), *named])
        acc = metric_values(run, "test_acc")[-1]
        known = metric_values(run, "test_known_acc")[-1]
        has_known = c.get("task") in UNDETERMINED_START and np.isfinite(known).any()
        solved = stats.solved_fraction(known if has_known else acc)
        rows.append(
            [
                esc(run["id"] if run.get("id") is not None else "—"),
                esc(c.get("task", "")),
                esc(setup),
                esc(c.get("batch_size", "")),
                esc(len(run.get("seeds") or [])),
                esc(len(run["epochs"])),
                ci_cell(stats.mean_ci(acc, bounds=stats.ACCURACY)),
                ci_cell(stats.mean_ci(known, bounds=stats.ACCURACY)) if has_known else "—",
                f"{solved.mean:.0%}" if solved.n else "—",
                status_badge(run.get("status", "")),
            ]
        )
    return (
        "<section><h2>Runs</h2>"
        + table(
            [
                "run",
                "task",
                "setup",
                "batch",
                "seeds",
                "epochs",
                "final test acc (95% CI)",
                "determined acc",
                f"solved (≥{stats.SOLVED})",
                "status",
            ],
            rows,
            "runs",
        )
        + "<p class=note>Accuracy is the mean over seeds at the last epoch with a Student-t 95% "
        "interval. In prev-batch, prev-sample and copy the first batches' labels are random by "
        "construction; <em>determined acc</em> and <em>solved</em> count only the samples whose "
        "label the inputs determine. <em>setup</em> also names the settings the runs differ in "
        "that no column shows (a sweep's units, say).</p></section>"
    )


def _bounds(metric: str) -> tuple[float, float]:
    """An accuracy's interval stays in [0, 1]; an error's (RMSE, MAE, loss) stops at 0."""
    return stats.ACCURACY if metric.endswith("acc") else stats.NON_NEGATIVE


# -- forecasts ---------------------------------------------------------------------------------
def forecast_section(run: dict) -> str:
    """A stored forecast's models, best one-step MASE first: what `runs show` prints as text."""
    result = run["result"]
    rows = []
    for m in result["models"]:
        mase = stats.mean_ci((m.get("mase_per_seed") or {}).get("1") or [], bounds=stats.NON_NEGATIVE)
        rows.append((mase.mean if mase.n else math.inf, [
            esc(m.get("model", "")), esc(m.get("series", "")), ci_cell(mase),
            _stored_ci(m.get("one_step_rmse")), _stored_ci(m.get("recursive_rmse")),
        ]))  # fmt: skip
    rows.sort(key=lambda row: row[0])
    steps = result.get("recursive_steps", "")
    return (
        f"<section><h2>Forecast: {esc(result.get('series', run.get('task', '')))}</h2>"
        + table(["model", "series", "one-step MASE (95% CI)", "one-step RMSE",
                 f"recursive RMSE ({esc(steps)} steps)"], [r for _, r in rows], "runs")  # fmt: skip
        + f"<p class=note>Run {esc(run.get('id', '—'))}: every model scored over "
        f"{esc(result.get('held_out', ''))} held-out origins, best one-step MASE first. MASE divides by the "
        "seasonal naive forecast's in-sample error (below 1 beats it); intervals are over seeds "
        "(a baseline has one). RMSE is in the series' units.</p></section>"
    )


def _stored_ci(summary: dict | None) -> str:
    """A mean and interval as the store keeps them ({"mean", "low", "high", "n"}; one seed: nulls)."""
    if not summary or summary.get("mean") is None:
        return "—"
    n, low, high = summary.get("n", 0), summary.get("low"), summary.get("high")
    return ci_cell(stats.Summary(summary["mean"], math.nan if low is None else low,
                                 math.nan if high is None else high, n))  # fmt: skip


# -- claims ------------------------------------------------------------------------------------
def claims_section(claims: Sequence[dict]) -> str:
    rows = []
    for claim in claims:
        verdict = str(claim.get("verdict", ""))
        rows.append(
            [
                esc(claim.get("id", "")),
                esc(claim.get("claim", "")),
                f"<span class=src>{esc(claim.get('source', ''))}</span>",
                esc(claim.get("setup", "")),
                _measured(claim.get("measured", "")),
                _claim_ci(claim),
                f'<span class="badge v-{esc(verdict.split()[0] if verdict else "none")}">{esc(verdict)}</span>',
            ]
        )
    counts = {}
    for claim in claims:
        counts[str(claim.get("verdict", ""))] = counts.get(str(claim.get("verdict", "")), 0) + 1
    tally = " · ".join(f"{n} {esc(v)}" for v, n in counts.items())
    return (
        f"<section><h2>Claims</h2><p class=note>{len(claims)} claims: {tally}. A verdict is a rule "
        "over the seeds' results, decided before the run; the interval is a 95% CI.</p>"
        + table(["#", "claim", "source", "setup", "measured", "95% CI", "verdict"], rows, "claims")
        + "</section>"
    )


def _measured(value: Any) -> str:
    if isinstance(value, dict):
        return "<br>".join(f"{esc(k)}: {esc(_fmt(v))}" for k, v in value.items())
    return esc(_fmt(value))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _claim_ci(claim: dict) -> str:
    """The 95% interval(s) that decided the verdict.

    A claim as `reproduce` stores it keeps its intervals inside `numbers`, the verdict rule's
    own record (`verdicts.py`): a paired difference's t interval, or the Wilson interval of
    the fraction of seeds that solved a run, nested under "with"/"without" and "parts" when a
    rule combines others. An explicit `ci` ([low, high] or {"low", "high"}) wins.
    """
    ci = claim.get("ci", claim.get("ci95"))
    if isinstance(ci, dict):
        ci = (ci.get("low"), ci.get("high"))
    if ci is None and "low" in claim and "high" in claim:
        ci = (claim["low"], claim["high"])
    if ci is not None:
        if _numbers(ci):
            return f"[{ci[0]:.3g}, {ci[1]:.3g}]"
        return esc(ci) if ci else "—"
    found = _intervals(claim.get("numbers"))
    return "<br>".join(found) if found else "—"


def _intervals(numbers: Any) -> list[str]:
    """Every interval in a verdict's `numbers`, in the order its `measured` text gives them."""
    if not isinstance(numbers, dict):
        return []
    out = []
    difference = numbers.get("difference")
    if isinstance(difference, dict) and _numbers((difference.get("low"), difference.get("high"))):
        out.append(f"Δ [{difference['low']:+.3f}, {difference['high']:+.3f}]")
    solved = numbers.get("solved")
    if isinstance(solved, dict) and _numbers((solved.get("low"), solved.get("high"))):
        run = f"{esc(numbers['run'])} " if numbers.get("run") else ""
        out.append(f"{run}solved [{solved['low']:.0%}, {solved['high']:.0%}]")
    # Rules built from rules (OnlyWith, AllOf, AnyOf) keep each part's verdict, numbers inside.
    parts = [numbers.get("with"), numbers.get("without"), *(numbers.get("parts") or [])]
    for part in parts:
        if isinstance(part, dict):
            out += _intervals(part.get("numbers"))
    return out


def _numbers(pair: Any) -> bool:
    """A [low, high] of two finite numbers (a one-seed interval is stored as nulls)."""
    return (
        isinstance(pair, (list, tuple))
        and len(pair) == 2
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in pair)
    )
