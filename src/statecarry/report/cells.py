"""The pieces every section of the page shares: escaping, tables, interval cells, labels."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .. import stats
from ..experiments.tasks import TASKS


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def esc(value: Any) -> str:
    return html.escape(str(value))


def table(header: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """Cells are HTML already (escape before)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def metric_values(run: dict, name: str) -> np.ndarray:
    """(epochs, seeds) float array; missing or null values are NaN."""
    rows = [[math.nan if v is None else v for v in e.get(name) or []] for e in run["epochs"]]
    if not rows or not any(rows):
        return np.full((len(rows), len(run.get("seeds") or [0])), math.nan)
    width = max(len(r) for r in rows)
    return np.array([r + [math.nan] * (width - len(r)) for r in rows], dtype=np.float64)


def is_blog(run: dict) -> bool:
    """A run of one of the blog's tasks (accuracy, a batch layout), not forecast/train/compare."""
    return (run.get("config") or {}).get("task") in TASKS


def metric_names(runs: Sequence[dict]) -> list[str]:
    """Every per-epoch metric the runs recorded, test ones first (test_rmse, …, train_loss)."""
    names = {k for r in runs for e in r["epochs"] for k in e if k != "epoch"}
    return sorted(names, key=lambda n: (not n.startswith("test"), n))


def run_label(run: dict, with_id: bool = True) -> str:
    if run.get("label"):
        return str(run["label"])
    c = run["config"]
    if "mode" not in c or c.get("experiment") == "varlen":  # a forecast model, a varlen layout: named by task
        return (f"#{run['id']} " if with_id and run.get("id") is not None else "") + str(c.get("task", "?"))
    bits = [c["mode"]]
    if c.get("horizon", 1) != 1:
        bits.append(f"horizon {c['horizon']}")
    for key, text in (("marker", "marker"), ("shuffle", "shuffled")):
        if c.get(key):
            bits.append(text)
    if c.get("reset") == "never":
        bits.append("never reset")
    if c.get("carry") == "c":
        bits.append("carry c")
    prefix = f"#{run['id']} " if with_id and run.get("id") is not None else ""
    return prefix + ", ".join(bits)


def ci_cell(s: stats.Summary) -> str:
    if s.n == 0:
        return "—"
    if not math.isfinite(s.low):
        return f"{s.mean:.3f} <span class=ci>{stats.undefined(s.n)}</span>"
    return f"{s.mean:.3f} <span class=ci>[{s.low:.3f}, {s.high:.3f}]</span>"


def status_badge(status: str) -> str:
    return f'<span class="badge s-{esc(status)}">{esc(status)}</span>'
