"""The forecasting figure (matplotlib, imported when drawing): what a forecaster looks at first.

Top: each model family's forecasts from the end of the training part against the truth.
Bottom: MASE by horizon over every held-out origin, the recurrent models' mean with its 95%
interval over seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import stats

if TYPE_CHECKING:
    from ..experiments.forecast import Comparison

FAMILIES = {
    "simple baselines": lambda r: not r.cell and r.name not in ("ETS", "SARIMA"),
    "ETS and SARIMA": lambda r: r.name in ("ETS", "SARIMA"),
    "LSTM": lambda r: r.cell == "lstm",
    "GRU": lambda r: r.cell == "gru",
}


def plot(c: Comparison, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..experiments import rolling

    start, levels = c.split.start, c.series.values
    shown = [f for f, keep in FAMILIES.items() if any(keep(r) for r in c.results)]
    fig, axes = plt.subplot_mosaic(
        [shown, ["mase"] * len(shown)], figsize=(4 * len(shown), 8), constrained_layout=True
    )
    context = np.arange(max(0, start - 3 * c.ahead), min(len(levels), start + c.ahead))
    steps = np.arange(start, start + c.ahead)
    for family in shown:
        ax = axes[family]
        ax.plot(context, levels[context], color="black", lw=1.5, label="truth")
        ax.axvline(start - 0.5, color="gray", ls=":", lw=1)
        for r in (r for r in c.results if FAMILIES[family](r)):
            pred = r.paths[:, 0, : c.ahead].mean(axis=0)
            ax.plot(steps, pred, lw=1, label=f"{r.name}" + (f" ({r.series})" if r.cell else ""))
        ax.set_title(f"{family}, from the end of training", fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=6, loc="upper left")
    axes[shown[0]].set_ylabel(c.series.name)
    ax = axes["mase"]
    horizons = np.arange(1, c.ahead + 1)
    for r in c.results:
        if r.cell and r is not rolling.best_model(c, 1, lambda x, cell=r.cell: x.cell == cell):
            continue  # one line per cell: its best one-step model
        summaries = [stats.mean_ci(rolling.mase(r, h, c.scale), bounds=stats.NON_NEGATIVE) for h in horizons]
        mean = np.array([s.mean for s in summaries])
        line = ax.plot(horizons, mean, lw=2 if r.cell else 1, ls="-" if r.cell else "--",
                       label=r.label + (f" ({r.series})" if r.cell else ""))[0]  # fmt: skip
        if r.cell and len(c.seeds) > 1:
            low, high = [s.low for s in summaries], [s.high for s in summaries]
            ax.fill_between(horizons, low, high, color=line.get_color(), alpha=0.25)
    ax.set_xlabel("horizon (steps ahead)")
    ax.set_ylabel("MASE (1 = seasonal naive's in-sample error)")
    ax.set_title(f"MASE by horizon over {c.split.n_test} rolling origins; bands: 95% CI over seeds")
    ax.legend(fontsize=7, ncol=2)
    fig.suptitle(f"{c.series.source}: {len(c.seeds)} seed(s), season {c.period}")
    import io

    from .. import files

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format=Path(path).suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    files.write_output(path, buffer.getvalue())  # exactly at `path`, whole or not at all
