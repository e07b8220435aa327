"""One self-contained HTML page per set of runs: learning curves, claims, batch layout, provenance.

The page is static and offline: every figure is a base64 PNG inside the file, the stylesheet is
inline, and a Content-Security-Policy forbids any network fetch, so it reads the same from an
e-mail attachment as from a web server. Figures are drawn with matplotlib's Agg canvas directly
(`Figure` + `FigureCanvasAgg`, never pyplot), so nothing global changes and no display is needed.
This is the only module that imports matplotlib, and it imports it only when drawing; it never
imports JAX.

A *run* here is a plain dict in the shape of `store.Run.to_json()` (itself
`runner.History.to_json()` plus the store's metadata):

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
"""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import stats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CURVES = (
    ("train_acc", "train accuracy"),
    ("test_acc", "test accuracy"),
    ("train_loss", "train loss"),
    ("test_loss", "test loss"),
)
RUNS_PER_FIGURE = 6  # more lines than this on one panel stop being readable
MAX_CURVE_RUNS = 36  # a big sweep: draw the first ones, say how many were left out
MAX_ROWS_SHOWN = 8  # rows of a batch drawn in the layout picture
BAND = (25, 75)  # the band around the median: the inter-quartile range over seeds
# Keys of the config that change the batch layout picture (the rest do not).
LAYOUT_KEYS = (
    "batch_size",
    "n_train",
    "time_steps",
    "mode",
    "horizon",
    "reset",
    "carry",
    "shuffle",
)


# -- loading ---------------------------------------------------------------------------------
def load_runs(ids: Sequence[int] | None = None, store: Any = None) -> list[dict]:
    """Runs from the store as report dicts: each run given, followed by its child runs (a
    reproduce's claims, a sweep's grid points). No ids: the latest top-level run."""
    from . import store as store_mod

    own = store is None
    store = store_mod.open_store() if own else store
    try:
        if not ids:
            tops = [r for r in store.list_runs() if r.parent is None]
            if not tops:
                raise store_mod.StoreError(
                    f"the run store {store.path} holds no runs yet; run 'statecarry run "
                    "first-step' first, or give run ids."
                )
            ids = [tops[-1].id]
        out: list[dict] = []
        seen: set[int] = set()

        def add(run_id: int) -> None:
            if run_id in seen:
                return
            seen.add(run_id)
            out.append(store.get_run(run_id).to_json())
            for child in store.children(run_id):
                add(child.id)

        for run_id in ids:
            add(int(run_id))
        return out
    finally:
        if own:
            store.close()


def history_run(history: Any, *, kind: str = "run", run_id: int | None = None, **extra) -> dict:
    """A `runner.History` (in memory, e.g. under --no-store) as a report dict."""
    from . import store as store_mod  # versions and machine, without importing JAX

    return (
        history.to_json()
        | {
            "id": run_id,
            "kind": kind,
            "status": "done",
            "versions": store_mod.versions(),
            "machine": store_mod.machine(),
            "result": None,
        }
        | extra
    )


def write_reproduce_report(
    path: str | Path,
    result: dict,
    histories: Iterable[Any] = (),
    *,
    run_id: int | None = None,
    command: str | None = None,
) -> Path:
    """The report `statecarry reproduce` writes at its end.

    Args:
        path: where the HTML goes (parent directories are created).
        result: the reproduce result as stored, `{"claims": [{"id", "claim", "source", "setup",
            "measured", "verdict", ...}, ...], ...}`; optional keys per claim that the table
            shows: `ci` ([low, high] or {"low", "high"}), `n`/`seeds`.
        histories: the `runner.History` of every run the claims used (their learning curves
            and batch layouts go into the page). Pass `(label, history)` pairs to name them.
        run_id: the reproduce run's id in the store, if it was stored (shown in the page).
        command: the command line that produced it (shown in the provenance table).
    """
    from . import store as store_mod

    runs = [
        {
            "id": run_id,
            "kind": "reproduce",
            "task": None,
            "config": {},
            "seeds": [],
            "status": "done",
            "versions": store_mod.versions(),
            "machine": store_mod.machine(),
            "finished": _now(),
            "result": result,
            "command": command,
            "epochs": [],
        }
    ]
    for item in histories:
        label, history = item if isinstance(item, tuple) else (None, item)
        runs.append(history_run(history, kind="run", label=label))
    return write_report(runs, path)


# -- the page ----------------------------------------------------------------------------------
def write_report(runs: Sequence[dict], path: str | Path) -> Path:
    """Write one self-contained HTML page for `runs` (see the module docstring for the shape)
    and return its path. Runs without epochs (a reproduce's summary run) contribute their
    claims and provenance only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(runs), encoding="utf-8")
    return path


def render(runs: Sequence[dict]) -> str:
    runs = list(runs)
    if not runs:
        from .errors import StatecarryError

        raise StatecarryError(
            "there are no runs to report; give run ids from 'statecarry runs list'."
        )
    trained = [r for r in runs if r.get("epochs") and r.get("config")]
    claims = [c for r in runs for c in ((r.get("result") or {}).get("claims") or [])]
    parts = [_header(runs)]
    if trained:
        parts.append(_summary_section(trained))
    if claims:
        parts.append(_claims_section(claims))
    if trained:
        parts.append(_curves_section(trained))
        parts.append(_layout_section(trained))
    parts.append(_provenance_section(runs))
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
        f"<p class=sub>{len(runs)} run(s) · written {_now()[:16].replace('T', ' ')} UTC · "
        "everything on this page is inside this one file</p></header>"
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """Cells are HTML already (escape before)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _metric(run: dict, name: str) -> np.ndarray:
    """(epochs, seeds) float array; missing or null values are NaN."""
    rows = [[math.nan if v is None else v for v in e.get(name) or []] for e in run["epochs"]]
    if not rows or not any(rows):
        return np.full((len(rows), len(run.get("seeds") or [0])), math.nan)
    width = max(len(r) for r in rows)
    return np.array([r + [math.nan] * (width - len(r)) for r in rows], dtype=np.float64)


def _label(run: dict, with_id: bool = True) -> str:
    if run.get("label"):
        return str(run["label"])
    c = run["config"]
    bits = [c.get("mode", "?")]
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


def _summary_section(runs: Sequence[dict]) -> str:
    rows = []
    for run in runs:
        c = run["config"]
        acc = _metric(run, "test_acc")[-1]
        known = _metric(run, "test_known_acc")[-1]
        has_known = c.get("task") in ("prev-batch", "prev-sample") and np.isfinite(known).any()
        solved = stats.solved_fraction(known if has_known else acc)
        rows.append(
            [
                _e(run["id"] if run.get("id") is not None else "—"),
                _e(c.get("task", "")),
                _e(_label(run, with_id=False)),
                _e(c.get("batch_size", "")),
                _e(len(run.get("seeds") or [])),
                _e(len(run["epochs"])),
                _ci(stats.mean_ci(acc, bounds=stats.ACCURACY)),
                _ci(stats.mean_ci(known, bounds=stats.ACCURACY)) if has_known else "—",
                f"{solved.mean:.0%}" if solved.n else "—",
                _status(run.get("status", "")),
            ]
        )
    return (
        "<section><h2>Runs</h2>"
        + _table(
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
        "interval. In prev-batch and prev-sample the first batch's labels are random by "
        "construction; <em>determined acc</em> and <em>solved</em> count only the samples whose "
        "label the inputs determine.</p></section>"
    )


def _ci(s: stats.Summary) -> str:
    if s.n == 0:
        return "—"
    if not math.isfinite(s.low):
        return f"{s.mean:.3f}"
    return f"{s.mean:.3f} <span class=ci>[{s.low:.3f}, {s.high:.3f}]</span>"


def _status(status: str) -> str:
    return f'<span class="badge s-{_e(status)}">{_e(status)}</span>'


# -- claims ------------------------------------------------------------------------------------
def _claims_section(claims: Sequence[dict]) -> str:
    rows = []
    for claim in claims:
        verdict = str(claim.get("verdict", ""))
        rows.append(
            [
                _e(claim.get("id", "")),
                _e(claim.get("claim", "")),
                f"<span class=src>{_e(claim.get('source', ''))}</span>",
                _e(claim.get("setup", "")),
                _measured(claim.get("measured", "")),
                _claim_ci(claim),
                f'<span class="badge v-{_e(verdict.split()[0] if verdict else "none")}">{_e(verdict)}</span>',
            ]
        )
    counts = {}
    for claim in claims:
        counts[str(claim.get("verdict", ""))] = counts.get(str(claim.get("verdict", "")), 0) + 1
    tally = " · ".join(f"{n} {_e(v)}" for v, n in counts.items())
    return (
        f"<section><h2>Claims</h2><p class=note>{len(claims)} claims: {tally}. A verdict is a rule "
        "over the seeds' results, decided before the run; the interval is a 95% CI.</p>"
        + _table(["#", "claim", "source", "setup", "measured", "95% CI", "verdict"], rows, "claims")
        + "</section>"
    )


def _measured(value: Any) -> str:
    if isinstance(value, dict):
        return "<br>".join(f"{_e(k)}: {_e(_fmt(v))}" for k, v in value.items())
    return _e(_fmt(value))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _claim_ci(claim: dict) -> str:
    ci = claim.get("ci", claim.get("ci95"))
    if isinstance(ci, dict):
        ci = (ci.get("low"), ci.get("high"))
    if ci is None and "low" in claim and "high" in claim:
        ci = (claim["low"], claim["high"])
    if (
        isinstance(ci, (list, tuple))
        and len(ci) == 2
        and all(isinstance(v, (int, float)) for v in ci)
    ):
        return f"[{ci[0]:.3g}, {ci[1]:.3g}]"
    return _e(ci) if ci else "—"


# -- figures -----------------------------------------------------------------------------------
def _figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=144, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _img(fig: Figure, alt: str) -> str:
    """The figure as an <img> with a base64 PNG, shown at its size in CSS pixels (crisp on
    high-density screens, since it is drawn at 1.5×)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=144, metadata={"Software": None})
    width = round(fig.get_figwidth() * 96)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class=fig style="width:{width}px" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _groups(runs: Sequence[dict]) -> list[tuple[str, list[dict]]]:
    by_task: dict[str, list[dict]] = {}
    for run in runs[:MAX_CURVE_RUNS]:
        by_task.setdefault(str(run["config"].get("task", "?")), []).append(run)
    out = []
    for task, group in by_task.items():
        for i in range(0, len(group), RUNS_PER_FIGURE):
            out.append((task, group[i : i + RUNS_PER_FIGURE]))
    return out


def curves_figure(runs: Sequence[dict]) -> Figure:
    """Train and test accuracy and loss per epoch: per run the median over seeds (line) and
    the inter-quartile range (band)."""
    fig = _figure(9.0, 5.6)
    axes = fig.subplots(2, 2, sharex=True)
    colors = [f"C{i}" for i in range(10)]
    for ax, (name, title) in zip(axes.ravel(), CURVES):
        for i, run in enumerate(runs):
            values = _metric(run, name)
            epochs = np.array([e.get("epoch", k) for k, e in enumerate(run["epochs"])])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN epoch: no point
                median = np.nanmedian(values, axis=1)
                low, high = np.nanpercentile(values, BAND, axis=1)
            color = colors[i % len(colors)]
            ax.plot(
                epochs,
                median,
                color=color,
                lw=1.8,
                marker="o" if len(epochs) <= 12 else None,
                ms=3.5,
                label=_label(run),
            )
            if values.shape[1] > 1:
                ax.fill_between(epochs, low, high, color=color, alpha=0.18, lw=0)
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        if name.endswith("acc"):
            ax.set_ylim(-0.02, 1.02)
            ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    from matplotlib.ticker import MaxNLocator

    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=min(3, len(labels)),
        fontsize=8.5,
        frameon=False,
    )
    return fig


def _curves_section(runs: Sequence[dict]) -> str:
    parts = ["<section><h2>Learning curves</h2>"]
    for task, group in _groups(runs):
        seeds = sorted({len(r.get("seeds") or []) for r in group})
        n = "/".join(str(s) for s in seeds)
        fig = curves_figure(group)
        parts.append(
            f"<figure>{_img(fig, f'learning curves for {task}')}<figcaption><b>{_e(task)}</b>: "
            f"train and test accuracy and loss per epoch. Line: median over {n} seeds; band: "
            f"the {BAND[0]}th–{BAND[1]}th percentile over seeds (half the seeds lie inside). "
            "Dotted: chance accuracy 0.5.</figcaption></figure>"
        )
    left = len(runs) - min(len(runs), MAX_CURVE_RUNS)
    if left:
        parts.append(f"<p class=note>{left} more runs are not drawn; report them by id.</p>")
    return "\n".join(parts) + "</section>"


def _layout_section(runs: Sequence[dict]) -> str:
    parts = ["<section><h2>Batch layout</h2>"]
    seen: dict[tuple, list[dict]] = {}
    for run in runs:
        seen.setdefault(tuple(run["config"].get(k) for k in LAYOUT_KEYS), []).append(run)
    for key, group in list(seen.items())[:8]:
        config = dict(zip(LAYOUT_KEYS, key), tasks=sorted({r["config"].get("task") for r in group}))
        names = [str(r["id"]) if r.get("id") is not None else _label(r) for r in group]
        fig = layout_figure(config)
        parts.append(
            f"<figure>{_img(fig, 'batch layout')}<figcaption>{layout_caption(config)} "
            f"<span class=muted>(run {', '.join(names[:10])})</span></figcaption></figure>"
        )
    if len(seen) > 8:
        parts.append(f"<p class=note>{len(seen) - 8} more layouts are not drawn.</p>")
    return "\n".join(parts) + "</section>"


# -- the batch layout picture ------------------------------------------------------------------
def layout_plan(config: dict) -> dict:
    """What the layout picture shows, as data (the figure only draws it).

    Returns a dict:
        columns: ("batch", epoch, k) | ("gap",) | ("boundary",), left to right;
        rows: the row indices drawn, None for a vertical ellipsis;
        cells: {(batch, row): sample index}, sample n -> batch n // B, row n % B;
        target: the batch whose gradient is drawn;
        window: the first batch that gradient reaches (None = every batch since training began);
        carry: whether state crosses batch boundaries; carry_across_epoch: and epoch boundaries.
    """
    b = int(config.get("batch_size") or 1)
    n_batches = max(1, int(config.get("n_train") or b) // b)
    mode = config.get("mode", "stateful")
    horizon = int(config.get("horizon") or 1)
    reset = config.get("reset", "epoch")
    shown = list(range(n_batches)) if n_batches <= 4 else [0, 1, 2, None, n_batches - 1]
    columns: list[tuple] = [("batch", 0, k) if k is not None else ("gap",) for k in shown]
    columns += [("boundary",), ("batch", 1, 0)]
    rows: list[int | None] = list(range(b))
    if b > MAX_ROWS_SHOWN:
        rows = list(range(MAX_ROWS_SHOWN - 2)) + [None, b - 1]
    carry = mode != "stateless"
    reach = 1 if mode == "stateless" else horizon
    if mode == "rtrl":
        target = n_batches - 1
        window = 0 if reset == "epoch" else None
    else:
        near = min(2, n_batches - 1)
        target = near if reach - 1 <= near else n_batches - 1
        window = target - reach + 1
    # sample n -> batch n // b, row n % b (Keras' order with shuffle=False)
    cells = {
        (k, r): k * b + r
        for c in columns
        if c[0] == "batch"
        for k in [c[2]]
        for r in rows
        if r is not None
    }
    return {
        "columns": columns,
        "rows": rows,
        "cells": cells,
        "target": target,
        "window": window,
        "carry": carry,
        "carry_across_epoch": carry and reset == "never",
        "n_batches": n_batches,
        "batch_size": b,
    }


def layout_caption(config: dict) -> str:
    plan = layout_plan(config)
    b, nb, t = plan["batch_size"], plan["n_batches"], plan["target"]
    mode = config.get("mode", "stateful")
    text = [
        (
            f"<b>{_e(mode)}</b>, batch size {b}, {nb} batches per epoch: sample <i>n</i> sits in "
            f"batch <i>n</i> // {b}, row <i>n</i> % {b}."
        )
    ]
    if config.get("shuffle"):
        text.append(
            "Samples are <b>reshuffled every epoch</b>, so the numbers above are the "
            "unshuffled order: the state carried along a row reaches an unrelated sample."
        )
    if not plan["carry"]:
        text.append(
            "Stateless: the state is zeroed before every batch, so nothing crosses a "
            f"batch boundary and the gradient of batch {t} stays inside it."
        )
    else:
        what = (
            "the cell state c only (h restarts at zero)"
            if config.get("carry") == "c"
            else "the state (h, c)"
        )
        text.append(f"Arrows: {what} handed to the collocated row of the next batch.")
        if plan["carry_across_epoch"]:
            text.append(
                "reset=never: the last batch of an epoch hands its state to the first batch of the next."
            )
        else:
            text.append("The state is zeroed at the start of every epoch (reset=epoch).")
        if plan["window"] is None:
            text.append(
                f"Shaded: the batches the gradient of batch {t}'s loss reaches with rtrl: "
                "every batch since training began (the state is never reset)."
            )
        elif mode == "rtrl":
            text.append(
                f"Shaded: rtrl's gradient of batch {t}'s loss reaches every batch since the "
                "last reset (the start of the epoch)."
            )
        else:
            k = t - plan["window"] + 1
            text.append(
                f"Shaded: the {k} batch{'es' if k > 1 else ''} the gradient of batch {t}'s loss "
                f"reaches (horizon {k}):"
            )
            if plan["window"] == 0 and not plan["carry_across_epoch"]:
                text.append("they reach back to the start of the epoch, where the state is zero.")
            else:
                text.append(
                    f"the red line is where it stops: the state entering batch {plan['window']} "
                    "is used as a constant."
                    + (" Keras stops at every batch boundary." if k == 1 else "")
                )
    tasks = config.get("tasks") or [config.get("task")]
    if "prev-batch" in tasks or ("prev-sample" in tasks and b == 1):
        text.append(
            f"In {'prev-batch' if 'prev-batch' in tasks else 'prev-sample'} a sample's label is "
            f"the first step of the sample one batch back in the same row ({b} sample"
            f"{'s' if b > 1 else ''} earlier): its gradient must cross one batch boundary."
        )
    return " ".join(text)


def layout_figure(config: dict) -> Figure:
    """Which sample sits in which row of which batch, the state carried to the collocated row,
    and the batches one gradient reaches: the picture the blog drew by hand."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

    plan = layout_plan(config)
    cols, slots, t, window = plan["columns"], plan["rows"], plan["target"], plan["window"]
    steps = min(int(config.get("time_steps") or 1), 12)
    shuffled = bool(config.get("shuffle"))
    # Geometry in data units (1 unit = SCALE inches): column x, row y (top of each cell).
    width = {"batch": 1.3, "gap": 0.6, "boundary": 0.8}
    space, cell_h, row_gap = 0.5, 0.42, 0.14
    xs = np.cumsum([0.0] + [width[c[0]] + space for c in cols[:-1]])
    ys = -np.arange(len(slots)) * (cell_h + row_gap)
    right_edge = xs[-1] + width[cols[-1][0]]
    bottom = ys[-1] - cell_h
    x_lim, y_lim = (-1.0, right_edge + 0.35), (bottom - 0.6, 1.05)
    scale = 0.78
    fig = _figure((x_lim[1] - x_lim[0]) * scale, (y_lim[1] - y_lim[0]) * scale, layout=None)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    col_of = {c[1:]: i for i, c in enumerate(cols) if c[0] == "batch"}
    gap_col = next((i for i, c in enumerate(cols) if c[0] == "gap"), None)
    small, text = 8.5, 9.5

    # The gradient's reach: shaded from the first batch it reaches to the target batch.
    t_col = col_of[(0, t)]
    if window is None:
        left = x_lim[0]
    else:
        first = col_of.get((0, window), gap_col)
        left = xs[first] - space / 2
    right = xs[t_col] + width["batch"] + space / 2
    ax.add_patch(
        FancyBboxPatch(
            (left, bottom - 0.12),
            right - left,
            -bottom + 0.62,
            boxstyle="round,pad=0,rounding_size=0.1",
            fc="#fde7c8",
            ec="none",
            zorder=0,
        )
    )
    ax.text(
        (max(left, 0) + right) / 2,
        bottom - 0.2,
        f"the gradient of batch {t}'s loss reaches these batches"
        + (" (and every one before)" if window is None else ""),
        ha="center",
        va="top",
        fontsize=small,
        color="#9a5400",
    )
    reset_at_window = window == 0 and not (plan["carry_across_epoch"])
    if plan["carry"] and window is not None and not reset_at_window:
        ax.plot([left, left], [bottom - 0.12, 0.5], color="#c62828", lw=2.2, zorder=6)
        ax.text(
            left, 0.55, "gradient stops", ha="center", va="bottom", fontsize=small, color="#c62828"
        )

    for j, row in enumerate(slots):
        label = "⋮" if row is None else f"row {row}"
        ax.text(
            -0.12, ys[j] - cell_h / 2, label, ha="right", va="center", fontsize=small, color="0.35"
        )
    for i, col in enumerate(cols):
        x0 = xs[i]
        if col[0] == "gap":
            ax.text(
                x0 + width["gap"] / 2,
                bottom / 2,
                "…",
                ha="center",
                va="center",
                fontsize=16,
                color="0.4",
            )
            continue
        if col[0] == "boundary":
            mid = x0 + width["boundary"] / 2
            ax.plot([mid, mid], [bottom - 0.05, 0.45], color="0.3", lw=1.2, ls=(0, (4, 3)))
            ax.text(
                mid, 0.72, "epoch boundary", ha="center", va="bottom", fontsize=small, color="0.3"
            )
            if plan["carry"] and not plan["carry_across_epoch"]:
                ax.text(
                    mid,
                    0.45,
                    "state := 0",
                    ha="center",
                    va="bottom",
                    fontsize=small,
                    color="#1b5e20",
                    bbox={"fc": "white", "ec": "none", "pad": 0.5},
                )
            continue
        _, epoch, k = col
        title = f"batch {k}" if epoch == 0 else f"batch {k}, next epoch"
        ax.text(
            x0 + width["batch"] / 2,
            0.06,
            title,
            ha="center",
            va="bottom",
            fontsize=text,
            weight="bold" if (epoch, k) == (0, t) else "normal",
        )
        if not plan["carry"]:
            ax.text(
                x0 + width["batch"] / 2,
                0.45,
                "state := 0",
                ha="center",
                va="bottom",
                fontsize=small,
                color="#1b5e20",
            )
        for j, row in enumerate(slots):
            y0 = ys[j] - cell_h
            if row is None:
                ax.text(
                    x0 + width["batch"] / 2,
                    y0 + cell_h / 2,
                    "⋮",
                    ha="center",
                    va="center",
                    fontsize=text,
                )
                continue
            ax.add_patch(
                Rectangle(
                    (x0, y0), width["batch"], cell_h, fc="white", ec="#37474f", lw=0.9, zorder=2
                )
            )
            for s in range(1, steps):  # the sample's time steps, faintly
                sx = x0 + width["batch"] * s / steps
                ax.plot(
                    [sx, sx], [y0 + 0.05, y0 + cell_h - 0.05], color="#cfd8dc", lw=0.7, zorder=3
                )
            ax.text(
                x0 + width["batch"] / 2,
                y0 + cell_h / 2,
                str(plan["cells"][(k, row)]),
                ha="center",
                va="center",
                fontsize=text,
                zorder=4,
                style="italic" if shuffled else "normal",
                color="0.45" if shuffled else "black",
                bbox={"fc": "white", "ec": "none", "pad": 0.6},
            )

    if plan["carry"]:  # the state handed to the collocated row of the next batch
        color = "#ef6c00" if shuffled else "#1565c0"
        for i in range(len(cols) - 1):
            a, z = i, i + 1
            if cols[a][0] == "boundary":
                continue
            if cols[z][0] == "boundary":
                if not plan["carry_across_epoch"]:
                    continue
                z += 1
            x_from = xs[a] + (width["batch"] if cols[a][0] == "batch" else width["gap"] * 0.75)
            x_to = xs[z] + (0 if cols[z][0] == "batch" else width["gap"] * 0.25)
            for j, row in enumerate(slots):
                if row is not None:
                    y = ys[j] - cell_h / 2
                    ax.add_patch(
                        FancyArrowPatch(
                            (x_from + 0.03, y),
                            (x_to - 0.03, y),
                            arrowstyle="-|>",
                            mutation_scale=10,
                            color=color,
                            lw=1.2,
                            zorder=5,
                            ls=(0, (3, 2)) if shuffled else "-",
                        )
                    )
    return fig


# -- provenance --------------------------------------------------------------------------------
def _defaults() -> dict:
    from .config import Config  # NumPy only; no JAX

    return Config().to_dict()


FLAG_NAMES = {"learning_rate": "--lr"}


def equivalent_command(run: dict) -> str:
    """A `statecarry run` command line that repeats this run (from its config and seeds)."""
    c, defaults = run.get("config") or {}, _defaults()
    parts = ["statecarry", "run", str(c.get("task", ""))]
    for key, value in c.items():
        if key == "task" or key not in defaults or value == defaults[key] or value is None:
            continue
        flag = FLAG_NAMES.get(key, "--" + key.replace("_", "-"))
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + flag[2:])
        else:
            parts.append(f"{flag} {value}")
    seeds = list(run.get("seeds") or [])
    if seeds and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        parts.append(f"--seeds {len(seeds)}")
        if seeds[0]:
            parts.append(f"--first-seed {seeds[0]}")
    return " ".join(parts)


def _provenance_section(runs: Sequence[dict]) -> str:
    """Shared config once, then one row per run: what differs, the command, when, versions."""
    defaults = _defaults()
    configs = [r.get("config") or {} for r in runs]
    trained = [c for c in configs if c]
    keys = list(dict.fromkeys(k for c in trained for k in c))
    shared = [k for k in keys if len({repr(c.get(k)) for c in trained}) == 1]
    varying = [k for k in keys if k not in shared]

    def value(key: str, v: Any) -> str:
        text = f"{_e(key)}={_e(v)}"
        return f"<b>{text}</b>" if key in defaults and v != defaults[key] else text

    parts = ["<section><h2>Config and provenance</h2>"]
    if shared:
        parts.append(
            "<p class=note>Config shared by every run (bold: not the default):</p>"
            f"<p class=cfg>{', '.join(value(k, trained[0].get(k)) for k in shared)}</p>"
        )
    rows = []
    for run, config in zip(runs, configs):
        if run.get("command") or config:
            command = run.get("command") or equivalent_command(run)
            command_html = _command_html(command) + (
                "" if run.get("command") else " <span class=muted>(equivalent)</span>"
            )
        else:
            command_html = "—"
        differs = ", ".join(value(k, config[k]) for k in varying if k in config)
        when = _e((run.get("finished") or run.get("started") or "")[:19].replace("T", " "))
        rows.append(
            [
                _e(run.get("id", "") if run.get("id") is not None else "—"),
                _e(run.get("kind", "")),
                command_html,
                f"<span class=cfg>{differs}</span>" if differs else "",
                when,
                _status(run.get("status", "")),
            ]
        )
    parts.append(
        _table(
            ["run", "kind", "command", "config (where runs differ)", "finished (UTC)", "status"],
            rows,
            "prov",
        )
    )
    env = []
    for key, title in (("versions", "versions"), ("machine", "machine")):
        seen = list(dict.fromkeys(_pairs(r.get(key)) for r in runs if r.get(key)))
        for text in seen:
            env.append([title, _e(text)])
    errors = [[f"run {_e(r.get('id'))} error", _e(r["error"])] for r in runs if r.get("error")]
    if env or errors:
        parts.append(_table(["", ""], env + errors, "env"))
    return "\n".join(parts) + "</section>"


def _command_html(command: str) -> str:
    """A command line that wraps between arguments, never inside `--flag value`."""
    tokens, out = command.split(" "), []
    for token in tokens:
        if out and not token.startswith("-") and out[-1].startswith("-"):
            out[-1] += " " + token
        else:
            out.append(token)
    return "<code>" + " ".join(f"<span class=tok>{_e(t)}</span>" for t in out) + "</code>"


def _pairs(mapping: dict | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in (mapping or {}).items() if v is not None)


STYLE = """
:root { --ink:#1d2733; --muted:#607080; --line:#dde3ea; --accent:#1565c0; --bg:#fbfcfd; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
main { max-width: 1060px; margin: 0 auto; padding: 28px 28px 60px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 10px; }
h1 { font-size: 24px; margin: 0 0 2px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub, .note, .muted { color: var(--muted); }
.note { font-size: 13.5px; max-width: 880px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 13.5px; background: white;
  box-shadow: 0 0 0 1px var(--line); border-radius: 6px; overflow: hidden; }
th { text-align: left; background: #eef2f6; font-weight: 600; padding: 7px 9px; white-space: nowrap; }
td { padding: 6px 9px; border-top: 1px solid var(--line); vertical-align: top; }
tbody tr:nth-child(even) td { background: #f8fafb; }
table.runs td:nth-child(2), table.runs td:nth-child(n+4) { white-space: nowrap; }
table.claims td:first-child { font-weight: 600; color: var(--muted); }
table.claims td:nth-child(2) { min-width: 240px; }
table.claims td:nth-child(6), table.claims td:nth-child(7) { white-space: nowrap; }
table.prov td:nth-child(5) { white-space: nowrap; }
table.env thead { display: none; }
table.env td:first-child { width: 120px; color: var(--muted); white-space: nowrap; }
p.cfg { background: white; padding: 8px 12px; border-radius: 6px; box-shadow: 0 0 0 1px var(--line); }
.tok { white-space: nowrap; }
.ci { color: var(--muted); font-size: 12.5px; }
.src { color: var(--muted); font-size: 12.5px; }
.cfg { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
  background: #eef2f6; padding: 1px 5px; border-radius: 4px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12.5px; font-weight: 600;
  background: #eceff1; color: #37474f; }
.v-confirmed, .s-done { background: #e3f4e6; color: #1b5e20; }
.v-refuted, .s-failed { background: #fde4e4; color: #b71c1c; }
.v-inconclusive, .s-interrupted, .s-stale, .s-running { background: #fff3d6; color: #8a5a00; }
figure { margin: 14px 0 22px; background: white; padding: 12px; border-radius: 6px;
  box-shadow: 0 0 0 1px var(--line); }
img.fig { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 13.5px; color: #3c4a58; margin-top: 8px; max-width: 900px; }
"""

# Marks the page for tests and tools: every figure decoded and any error or blocked fetch counted.
SCRIPT = """
var errors = 0;
window.addEventListener("error", function () { errors += 1; }, true);
document.addEventListener("securitypolicyviolation", function () { errors += 1; });
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var mark = document.getElementById("render-check");
  mark.setAttribute("data-images", imgs.length);
  mark.setAttribute("data-rendered", ok);
  mark.setAttribute("data-errors", errors);
  mark.setAttribute("data-done", "1");
});
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>{style}</style>
<script>{script}</script>
</head><body><main>
{body}
<footer class=note><span id="render-check" data-done="0"></span>Written by statecarry. Figures are PNG images inside this file; it needs no network.</footer>
</main></body></html>
"""
