"""The forecasting figure: forecasts against the truth (matplotlib, imported when drawing)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..experiments.forecast import Comparison


def plot(c: Comparison, path: str | Path) -> None:
    """Forecasts against the truth: rows raw / differenced, columns one-step / recursive.
    Each model's line is the mean over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start, levels = c.split.start, c.series.values
    t_test = np.arange(start, len(levels))
    context = np.arange(max(0, start - 3 * c.setup.window), len(levels))
    fig, axes = plt.subplots(2, 2, figsize=(13, 8), sharey="row", constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, variant in enumerate(("raw", "differenced")):
        for col, kind in enumerate(("one-step", "recursive")):
            ax = axes[row, col]
            ax.plot(context, levels[context], color="black", lw=1.5, label="truth")
            ax.axvline(start - 0.5, color="gray", ls=":", lw=1)
            base = c.get("persistence", "levels")
            pred = base.one_step[0] if kind == "one-step" else base.recursive[0]
            ax.plot(t_test[: len(pred)], pred, color="gray", ls="--", lw=1, label="persistence")
            lstm = [r for r in c.results if r.series == variant]
            for k, r in enumerate(lstm):
                pred = (r.one_step if kind == "one-step" else r.recursive).mean(axis=0)
                color = colors[k % len(colors)]
                ax.plot(t_test[: len(pred)], pred, color=color, lw=1, label=r.name)
            ax.set_title(f"{kind} forecast, LSTM on the {variant} series")
            ax.set_xlabel(f"step (held-out tail starts at {start})")
            if col == 0:
                ax.set_ylabel(c.series.name)
            if kind == "recursive":
                ax.set_xlim(context[0], start + c.ahead + c.setup.window)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    axes[1, 0].legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"{c.series.source}: mean over {len(c.seeds)} seeds, held-out tail of {c.split.n_test}"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
