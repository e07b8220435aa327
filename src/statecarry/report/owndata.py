"""The page `statecarry compare` writes: the verdict, each model's interval and paired gain,
and the learning curves (mean over seeds with its 95% interval, per epoch)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import stats
from ..files import write_output
from .canvas import figure, img
from .cells import ci_cell, esc, now, table
from .style import PAGE, SCRIPT, STYLE


def curves_figure(results: Sequence, names: Sequence[str]):
    """One panel per metric: every model's mean over seeds and its 95% band, per epoch."""
    fig = figure(4.2 * len(names), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        for i, r in enumerate(results):
            values = r.metrics[name]
            summaries = [stats.mean_ci(v) for v in values]
            mean = np.array([s.mean for s in summaries])
            low = np.array([s.low if np.isfinite(s.low) else s.mean for s in summaries])
            high = np.array([s.high if np.isfinite(s.high) else s.mean for s in summaries])
            epochs = np.arange(len(values))
            ax.plot(epochs, mean, color=f"C{i}", lw=1.8, label=r.name)
            ax.fill_between(epochs, low, high, color=f"C{i}", alpha=0.18, lw=0)
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return fig


def write_compare(results: Sequence, verdict: str, notes: Sequence[str], source: str, path: str | Path) -> Path:
    """Write the comparison page and return its path."""
    path = Path(path)
    test = [m for m in results[0].metrics if m.startswith("test_") and not m.endswith("known_acc")]
    train = [m for m in results[0].metrics if m == "train_loss"]
    rows = [[esc(r.name), ci_cell(stats.mean_ci(r.final)),
             "baseline" if r.difference is None else ci_cell(r.difference)] for r in results]  # fmt: skip
    n = len(results[0].final)
    body = [
        f"<header><h1>{esc(source)}: does carrying state help?</h1>"
        f"<p class=sub>{n} seeds · written {now()[:16].replace('T', ' ')} UTC</p></header>",
        f"<section><h2>Verdict: {esc(verdict)}</h2>",
        table(["model", "final test metric, mean [95% CI]", "gain vs stateless windows, paired [95% CI]"], rows),
        "".join(f"<p class=note>{esc(note)}</p>" for note in notes),
        "</section><section><h2>Learning curves</h2>",
        img(curves_figure(results, train + test), "learning curves of every model"),
        "</section>",
    ]
    write_output(path, PAGE.format(title=html.escape(f"statecarry compare: {source}"), style=STYLE, script=SCRIPT,
                                body="\n".join(body)))  # fmt: skip  (whole or not at all)
    return path
