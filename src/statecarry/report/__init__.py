"""One self-contained HTML page per set of runs: learning curves, claims, batch layout, provenance.

The page is static and offline: every figure is a base64 PNG inside the file, the stylesheet is
inline, and a Content-Security-Policy forbids any network fetch, so it reads the same from an
e-mail attachment as from a web server. Figures are drawn with matplotlib's Agg canvas directly
(`Figure` + `FigureCanvasAgg`, never pyplot), so nothing global changes and no display is needed.
This is the only package that imports matplotlib, and it imports it only when drawing; it never
imports JAX.

A *run* here is a plain dict in the shape of `store.Run.to_json()` (itself
`blog.History.to_json()` plus the store's metadata):

    {"id", "kind", "task", "config": {...}, "seeds": [...], "status", "versions", "machine",
     "started", "finished", "result": {...} | None, "command" (optional),
     "epochs": [{"epoch": e, "train_loss": [per seed], "train_acc": [...], ...}, ...]}

Public functions:

    write_report(runs, path) -> Path          the page for these runs
    load_runs(ids, store=None) -> list[dict]  runs from the store (and their children);
                                              no ids = the latest top-level run
    write_reproduce_report(path, result, histories, *, run_id=None, command=None) -> Path
                                              what `reproduce` calls at the end
    layout_figure(config) -> Figure           the batch-layout picture alone

Layout (imports flow down this list, never up):

    cells.py       escaping, tables and the cells every section shares
    canvas.py      matplotlib's Agg canvas and the PNG inside the page (imported when drawing)
    tables.py      the runs table and the claims table
    curves.py      learning curves
    layout.py      the batch-layout picture and its caption
    provenance.py  the config, the equivalent command and the versions
    style.py       the page's stylesheet, script and skeleton
    page.py        `render` and `write_report`: the sections in order
    sources.py     where runs come from: the store, a History in memory, a reproduce
"""

from __future__ import annotations

from .curves import BAND, CURVES, MAX_CURVE_RUNS, RUNS_PER_FIGURE, curves_figure
from .layout import LAYOUT_KEYS, MAX_ROWS_SHOWN, layout_caption, layout_figure, layout_plan
from .page import render, write_report
from .provenance import FLAG_NAMES, equivalent_command
from .sources import history_run, load_runs, write_reproduce_report
from .style import PAGE, SCRIPT, STYLE

__all__ = [
    "BAND",
    "CURVES",
    "FLAG_NAMES",
    "LAYOUT_KEYS",
    "MAX_CURVE_RUNS",
    "MAX_ROWS_SHOWN",
    "PAGE",
    "RUNS_PER_FIGURE",
    "SCRIPT",
    "STYLE",
    "curves_figure",
    "equivalent_command",
    "history_run",
    "layout_caption",
    "layout_figure",
    "layout_plan",
    "load_runs",
    "render",
    "write_report",
    "write_reproduce_report",
]
