"""Learning curves: accuracy and loss per epoch, the median over seeds and a band around it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .canvas import figure, img
from .cells import esc, metric_names, metric_values, run_label

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
BAND = (25, 75)  # the band around the median: the inter-quartile range over seeds


def _groups(runs: Sequence[dict], blog: bool) -> list[tuple[str, list[dict]]]:
    by_task: dict[str, list[dict]] = {}
    for run in runs[:MAX_CURVE_RUNS]:  # blog runs by task; forecast/train/compare runs by kind
        key = run["config"].get("task", "?") if blog else run.get("kind") or "run"
        by_task.setdefault(str(key), []).append(run)
    out = []
    for task, group in by_task.items():
        for i in range(0, len(group), RUNS_PER_FIGURE):
            out.append((task, group[i : i + RUNS_PER_FIGURE]))
    return out


def curves_figure(runs: Sequence[dict], curves: Sequence[tuple[str, str]] = CURVES) -> Figure:
    """Train and test accuracy and loss per epoch (or up to four other `curves`): per run the
    median over seeds (line) and the inter-quartile range (band)."""
    fig = figure(9.0, 5.6)
    axes = fig.subplots(2, 2, sharex=True)
    colors = [f"C{i}" for i in range(10)]
    for ax in axes.ravel()[len(curves):]:
        ax.set_visible(False)
    for ax, (name, title) in zip(axes.ravel(), curves):
        for i, run in enumerate(runs):
            values = metric_values(run, name)
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
                label=run_label(run),
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


def curves_section(runs: Sequence[dict], blog: bool = True) -> str:
    """Blog runs: accuracy and loss; other runs (`blog=False`): the metrics they recorded."""
    parts = ["<section><h2>Learning curves</h2>"]
    for task, group in _groups(runs, blog):
        seeds = sorted({len(r.get("seeds") or []) for r in group})
        n = "/".join(str(s) for s in seeds)
        curves = CURVES if blog else [(m, m.replace("_", " ")) for m in metric_names(group)[:4]]
        what = "train and test accuracy and loss" if blog else ", ".join(t for _, t in curves)
        fig = curves_figure(group, curves)
        parts.append(
            f"<figure>{img(fig, f'learning curves for {task}')}<figcaption><b>{esc(task)}</b>: "
            f"{esc(what)} per epoch. Line: median over {n} seeds; band: "
            f"the {BAND[0]}th–{BAND[1]}th percentile over seeds (half the seeds lie inside)."
            f"{' Dotted: chance accuracy 0.5.' if blog else ''}</figcaption></figure>"
        )
    left = len(runs) - min(len(runs), MAX_CURVE_RUNS)
    if left:
        parts.append(f"<p class=note>{left} more runs are not drawn; report them by id.</p>")
    return "\n".join(parts) + "</section>"
