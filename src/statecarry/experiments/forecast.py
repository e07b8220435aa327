"""One-step forecasting on a real series: the blog's two forecasting statements, measured.

The blog (shared/sources/000, last section) says that for one-step forecasting "a
single-time-step LSTM model is plain wrong" even when stateful, because back-propagation
"cannot teach the network to put useful information in the last time-step state", so one
must "use a multi-time-step LSTM network", and that "the series must be detrended" first.

`compare` tests both on a held-out tail, with the same seeds for every model:

- the classical ladder of `baselines.py` (naive, seasonal naive, drift, seasonal naive with
  drift, ETS, SARIMA): what a forecaster would try first;
- stateless LSTM on sliding windows of `window` steps (the blog's recommendation);
- stateful LSTM, window 1, horizon 1: the single-time-step model the blog calls wrong;
- stateful LSTM, window 1, horizon K: the same model, with the gradient reaching K steps back;
- stateful LSTM, window `window`, horizon 1: Keras' stateful model with multi-step windows;

each with an LSTM and a GRU cell (`Setup.cells`), trained on the raw series and on its first
difference (the detrended series), with a linear head on values standardised with the
training part's mean and deviation only. Every model is fitted on the training part once and
then forecasts from every held-out position (a rolling origin, reading the true history up
to it) `ahead` steps, each prediction fed back as the next input; `rolling.py` scores the
paths by horizon (RMSE in the series' units, MASE against seasonal naive).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.fit import fit
from ..core.spec import Model as sc_Model
from ..core.spec import Train
from ..data.layout import Batches, from_samples, from_series
from ..errors import DataError
from . import baselines, forecast_paths
from .forecast_setup import (  # noqa: F401  (named here too: forecast.Setup, forecast.split, ...)
    CELLS,
    RELATIVE_SPREAD,
    Prepared,
    Setup,
    Split,
    is_constant,
    model_series,
    split,
)
from .recorder import Measured, Record, unrecorded
from .scores import rmse, rmse_ci, show  # noqa: F401  (show: for forecast_verdicts)
from .series import Series

# -- the recurrent models --------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    name: str  # the layout, e.g. "stateful, window 1, horizon 1"
    mode: str  # "stateless" (sliding windows) or "stateful" (one stream, batch size 1)
    window: int
    horizon: int = 1
    cell: str = "lstm"


def models(setup: Setup) -> list[Model]:
    w, k = setup.window, setup.horizon
    return [
        model
        for cell in setup.cells
        for model in (
            Model(f"stateless, window {w}", "stateless", w, cell=cell),
            Model("stateful, window 1, horizon 1", "stateful", 1, cell=cell),
            Model(f"stateful, window 1, horizon {k}", "stateful", 1, k, cell=cell),
            Model(f"stateful, window {w}, horizon 1", "stateful", w, cell=cell),
        )
    ]


def sliding_windows(z: np.ndarray, window: int, first: int, stop: int) -> np.ndarray:
    """Windows z[j - window : j] for targets j in [first, stop): (count, window, 1)."""
    index = np.arange(first, stop)[:, None] + np.arange(-window, 0)[None, :]
    return z[index][..., None]


def training_batches(prep: Prepared, m: Model, setup: Setup) -> Batches:
    """The training part of the model series in the model's layout; targets are the next
    standardised values (the linear head predicts them directly)."""
    z = prep.z
    n_train = prep.start - 1  # u[: n_train] is the training part
    if m.mode == "stateless":
        count = n_train - m.window
        count -= count % setup.batch_size  # whole batches; the oldest windows are dropped
        first = n_train - count
        x = sliding_windows(z, m.window, first, n_train)
        return from_samples(x, z[first:n_train], setup.batch_size)
    return from_series(z[:n_train], 1, m.window)


def model_spec(m: Model, setup: Setup) -> tuple[sc_Model, Train]:
    """One recurrent layer with a linear head, trained on mean squared error."""
    train = Train(
        mode=m.mode,
        horizon=m.horizon,
        shuffle=m.mode == "stateless",  # Keras' fit shuffles by default; a stream must not be
        epochs=setup.epochs,
        learning_rate=setup.learning_rate,
        loss="mse",
    )
    return sc_Model(cell=m.cell, units=setup.units, head="linear"), train


def model_record(series: Series, m: Model, differenced: bool, setup: Setup) -> dict:
    """What identifies a forecasting model's runs in the store (and lets `--resume` reuse them)."""
    variant = "differenced" if differenced else "raw"
    return {"experiment": "forecast", "task": f"{m.cell.upper()} {m.name}, {variant}",
            "series": series.source, "column": series.name, "model": m.name, "cell": m.cell,
            "differenced": differenced, **setup.__dict__}  # fmt: skip


@dataclass
class ModelResult:
    name: str
    series: str  # "raw", "differenced", or "levels" for the baselines
    paths: np.ndarray  # (seeds, origins, ahead) forecast levels; (1, ...) for a baseline
    truth: np.ndarray  # (origins, ahead) the levels forecast, NaN past the end
    cell: str = ""  # "lstm" / "gru"; "" for a baseline
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.cell.upper()} {self.name}" if self.cell else self.name

    @property
    def one_step_rmse(self) -> np.ndarray:
        """(seeds,): every held-out value predicted from the true history before it."""
        return rmse(self.paths[:, :, 0], self.truth[None, :, 0])

    @property
    def recursive_rmse(self) -> np.ndarray:
        """(seeds,): the forecast from the end of the training part, all `ahead` steps."""
        n = int(np.sum(np.isfinite(self.truth[0])))
        return rmse(self.paths[:, 0, :n], self.truth[None, 0, :n])

    def to_json(self) -> dict:
        def ci(x):
            return rmse_ci(x)._asdict()

        return {
            "model": self.label,
            "cell": self.cell,
            "series": self.series,
            "one_step_rmse": ci(self.one_step_rmse),
            "recursive_rmse": ci(self.recursive_rmse),
            "one_step_rmse_per_seed": self.one_step_rmse.tolist(),
            "recursive_rmse_per_seed": self.recursive_rmse.tolist(),
            "seconds": self.seconds,
        }


@dataclass
class Comparison:
    series: Series
    setup: Setup
    seeds: list[int]
    split: Split
    ahead: int
    period: int = 1
    scale: float = 1.0  # MASE's denominator (seasonal naive's in-sample MAE)
    results: list[ModelResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why it was left out

    @property
    def truth(self) -> np.ndarray:
        return self.series.values[self.split.start :]

    def get(self, name: str, series: str, cell: str = "lstm") -> ModelResult:
        for r in self.results:
            if r.name == name and r.series == series and r.cell in (cell, ""):
                return r
        raise KeyError((name, series, cell))

    def to_json(self) -> dict:
        return {
            "series": self.series.source,
            "column": self.series.name,
            "length": len(self.series.values),
            "held_out": self.split.n_test,
            "recursive_steps": self.ahead,
            "period": self.period,
            "mase_scale": self.scale,
            "seeds": self.seeds,
            "setup": {k: v for k, v in self.setup.__dict__.items()} | {"cells": list(self.setup.cells)},
            "models": [r.to_json() | {"mase_per_seed": self.mase_by_horizon(r)} for r in self.results],
            "skipped": self.skipped,
        }


    def mase_by_horizon(self, r: ModelResult) -> dict[str, list[float]]:
        """Per-seed MASE at every horizon the held-out part can check (see `rolling.py`)."""
        out = {}
        for h in range(1, self.ahead + 1):
            keep = np.isfinite(r.truth[:, h - 1])
            errors = np.abs(r.paths[:, keep, h - 1] - r.truth[None, keep, h - 1]) / self.scale
            out[str(h)] = errors.mean(axis=1).tolist()
        return out


def truth_paths(levels: np.ndarray, start: int, ahead: int) -> np.ndarray:
    """(origins, ahead): v[o + h - 1] for every held-out origin o, NaN past the end."""
    index = np.arange(start, len(levels))[:, None] + np.arange(ahead)[None, :]
    return np.where(index < len(levels), np.asarray(levels, np.float64)[np.minimum(index, len(levels) - 1)], np.nan)


def period_of(levels: np.ndarray, start: int, setup: Setup) -> int:
    """The season: `setup.period`, or detected on the training part; refused if too long."""
    m = setup.period or baselines.detect_period(levels[:start])
    if 2 * m + 1 >= start:
        raise DataError(
            f"a period of {m} needs more than {2 * m + 1} values before the held-out tail, which "
            f"has {start}; give a longer series or a shorter --period."
        )
    return m


def diverged(seeds: Sequence[int], n_seeds: int, setup: Setup) -> str:
    """Why a model whose training diverged (or whose forecasts overflowed) is left out."""
    shown = ", ".join(map(str, seeds[:8])) + (" …" if len(seeds) > 8 else "")
    return (
        f"training diverged (its loss or forecasts became NaN or infinite) for seed"
        f"{'s' if len(seeds) > 1 else ''} {shown} of {n_seeds}; try a lower --lr than "
        f"{setup.learning_rate:g} (e.g. {setup.learning_rate / 10:.1g})."
    )


def compare(
    series: Series,
    seeds: Sequence[int],
    setup: Setup = Setup(),  # noqa: B008 (frozen: one shared default is safe)
    on_progress: Callable[[str, int, int], None] | None = None,
    record: Record = unrecorded,
) -> Comparison:
    """The ladder and every recurrent model on the raw and the differenced series, the same
    seeds, every held-out origin. Each model's training is one run for `record`."""
    levels = series.values
    sp = split(len(levels), setup)
    period = period_of(levels, sp.start, setup)
    truth = truth_paths(levels, sp.start, setup.ahead)
    out = Comparison(series, setup, [int(s) for s in seeds], sp, min(setup.ahead, sp.n_test),
                     period, baselines.mase_scale(levels[: sp.start], period))  # fmt: skip
    origins = np.arange(sp.start, len(levels))
    ladder, out.skipped = baselines.ladder(levels, sp.start, origins, setup.ahead, period)
    out.results += [ModelResult(b.name, "levels", b.paths[None], truth) for b in ladder]
    variants = [False]
    try:
        model_series(levels, sp.start, True)
        variants.append(True)
    except DataError as e:
        out.skipped["differenced models"] = f"skipped: {e}"
    todo = [(m, d) for m in models(setup) for d in variants]
    for i, (m, differenced) in enumerate(todo):
        t0 = time.perf_counter()
        prep = model_series(levels, sp.start, differenced)

        def compute(on_epoch, m=m, prep=prep) -> Measured:
            spec, train = model_spec(m, setup)
            fitted = fit(training_batches(prep, m, setup), spec, train, out.seeds, on_epoch=on_epoch)
            found = []
            for seed in out.seeds:  # model position p predicts u[p], and v[t] = u[t - 1]
                if seed in fitted.diverged:  # NaN parameters forecast nothing: no paths
                    found.append(np.full((len(origins), setup.ahead), np.nan))
                    continue
                z_paths = forecast_paths.paths(fitted.params_of(seed), fitted.model, m, prep.z[:-1], sp.start - 1, setup.ahead)
                u = prep.from_output(z_paths)
                found.append(np.stack([prep.levels_recursive(u[j], o) for j, o in enumerate(origins)]))
            return Measured(
                fitted.metrics,
                result={"paths": np.stack(found).tolist()},
                timings={"compile_seconds": fitted.compile_seconds, "run_seconds": fitted.run_seconds},
            )

        measured = record("forecast", model_record(series, m, differenced, setup), out.seeds, compute)
        result = ModelResult(m.name, "differenced" if differenced else "raw",
                             np.asarray(measured.result["paths"], np.float64), truth, m.cell,
                             time.perf_counter() - t0)  # fmt: skip
        gone = [seed for seed, p in zip(out.seeds, result.paths) if not np.isfinite(p).all()]
        if gone:  # its seeds are paired with every other model's: all of them, or none
            out.skipped[f"{result.label}, {result.series}"] = diverged(gone, len(out.seeds), setup)
        else:
            out.results.append(result)
        if on_progress:
            on_progress("models", i + 1, len(todo))
    return out
