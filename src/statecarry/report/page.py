"""The page: its sections in order, written to one self-contained HTML file."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from .cells import is_blog, now
from .curves import curves_section
from .layout import layout_section
from .provenance import provenance_section
from .style import PAGE, SCRIPT, STYLE
from .tables import claims_section, forecast_section, metrics_section, summary_section


def write_report(runs: Sequence[dict], path: str | Path) -> Path:
    """Write one self-contained HTML page for `runs` (see the module docstring for the shape)
    and return its path. Runs without epochs (a reproduce's summary run) contribute their
    claims and provenance only."""
    from ..files import write_output

    path = Path(path)
    write_output(path, render(runs))  # all or nothing: a full disk leaves no partial page
    return path


def render(runs: Sequence[dict]) -> str:
    runs = list(runs)
    if not runs:
        from ..errors import StatecarryError

        raise StatecarryError(
            "there are no runs to report; give run ids from 'statecarry runs list'."
        )
    trained = [r for r in runs if r.get("epochs") and r.get("config")]
    # the blog's tasks are read as accuracy on a batch layout; forecast, train and compare
    # runs as the metrics they recorded (RMSE, MAE, loss or accuracy per epoch)
    blog = [r for r in trained if is_blog(r)]
    other = [r for r in trained if not is_blog(r)]
    claims = [c for r in runs for c in ((r.get("result") or {}).get("claims") or [])]
    parts = [_header(runs)]
    if blog:
        parts.append(summary_section(blog))
    if other:
        parts.append(metrics_section(other))
    parts += [forecast_section(r) for r in runs if (r.get("result") or {}).get("models")]
    if claims:
        parts.append(claims_section(claims))
    if blog:
        parts.append(curves_section(blog))
    if other:
        parts.append(curves_section(other, blog=False))
    if blog:
        parts.append(layout_section(blog))
    parts.append(provenance_section(runs))
    return PAGE.format(
        title=html.escape(_title(runs)), style=STYLE, script=SCRIPT, body="\n".join(parts)
    )


def _title(runs: Sequence[dict]) -> str:
    ids = [str(r["id"]) for r in runs if r.get("id") is not None]
    kinds = [r.get("kind") for r in runs if r.get("kind") not in (None, "run")]
    tasks = list(dict.fromkeys(r["task"] for r in runs if r.get("task")))
    what = [kinds[0]] if kinds else []
    if ids:
        shown = ", ".join(ids[:6]) + ("…" if len(ids) > 6 else "")
        what.append(f"run{'s' if len(ids) > 1 else ''} {shown}")
    if tasks:
        what.append(", ".join(tasks[:4]) + ("…" if len(tasks) > 4 else ""))
    return "statecarry report: " + " · ".join(what or ["runs"])


def _header(runs: Sequence[dict]) -> str:
    return (
        f"<header><h1>{html.escape(_title(runs))}</h1>"
        f"<p class=sub>{len(runs)} run(s) · written {now()[:16].replace('T', ' ')} UTC · "
        "everything on this page is inside this one file</p></header>"
    )
