"""One recurrent model for several series at once, against one model per series.

A global model is where a carried state across many sequences matters: each series is
differenced and standardised on its own training part (so no series' scale dominates), the
training parts are packed side by side with a reset at each series' start (`pack`, long
format: one row per series here) and one stateful model (window `window`, horizon 1) is
trained on all of them. A per-series model is the same model trained on one series alone
(`from_series`, batch 1), for the same epochs. Both then forecast every held-out origin of
every series (`forecast_paths.paths`) and are scored by MASE per series and horizon, paired
per origin and seed (`rolling.paired`, global / per-series).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.fit import fit
from ..data.layout import from_series, pack
from . import baselines, forecast_paths, rolling
from .forecast import (
    Model,
    ModelResult,
    Prepared,
    Setup,
    model_series,
    model_spec,
    split,
    truth_paths,
)
from .forecast_verdicts import ratio_text
from .series import Series


@dataclass
class SeriesScore:
    series: str
    scale: float  # MASE's denominator for this series
    global_: ModelResult
    alone: ModelResult


def _levels(prep: Prepared, params, spec, m: Model, start: int, ahead: int) -> np.ndarray:
    z_paths = forecast_paths.paths(params, spec, m, prep.z[:-1], start - 1, ahead)
    u = prep.from_output(z_paths)
    return np.stack([prep.levels_recursive(u[j], o) for j, o in enumerate(range(start, len(prep.levels)))])


def compare_global(many: Sequence[Series], seeds: Sequence[int], setup: Setup, cell: str = "lstm") -> list[SeriesScore]:
    """The global model and each per-series model, every held-out origin of every series."""
    seeds = [int(s) for s in seeds]
    m = Model(f"stateful, window {setup.window}, horizon 1", "stateful", setup.window, cell=cell)
    spec, train = model_spec(m, setup)
    starts = [split(len(s.values), setup).start for s in many]
    preps = [model_series(s.values, start, differenced=True) for s, start in zip(many, starts)]
    parts = [p.z[: start - 1, None] for p, start in zip(preps, starts)]
    together = fit(pack(parts, len(parts), setup.window), spec, train, seeds)
    out = []
    for s, prep, start in zip(many, preps, starts):
        alone = fit(from_series(prep.z[: start - 1], 1, setup.window), spec, train, seeds)
        truth = truth_paths(s.values, start, setup.ahead)
        made = [
            ModelResult(f"{m.name}, {which}", "differenced", np.stack([
                _levels(prep, fitted.params_of(seed), fitted.model, m, start, setup.ahead) for seed in seeds
            ]), truth, cell)
            for which, fitted in (("global", together), ("per series", alone))
        ]  # fmt: skip
        period = setup.period or baselines.detect_period(s.values[:start])
        out.append(SeriesScore(s.name, baselines.mase_scale(s.values[:start], period), *made))
    return out


def rows(scores: list[SeriesScore], ahead: int, margin: float = 0.05) -> list[list[str]]:
    """Per series and horizon: per-series and global MASE, and global / per-series paired."""
    from .. import stats

    def fmt(values) -> str:
        return str(stats.mean_ci(values, bounds=stats.NON_NEGATIVE))

    table = []
    for sc in scores:
        for h in (h for h in rolling.HORIZONS if h <= ahead):
            if not np.isfinite(sc.global_.truth[:, h - 1]).any():
                continue
            r = rolling.paired(sc.global_, sc.alone, h, sc.scale)
            table.append([sc.series, str(h), fmt(rolling.mase(sc.alone, h, sc.scale)),
                          fmt(rolling.mase(sc.global_, h, sc.scale)),
                          ratio_text(r).removeprefix("ratio "), rolling.ratio_word(r, margin, len(sc.global_.paths))])  # fmt: skip
    return table
