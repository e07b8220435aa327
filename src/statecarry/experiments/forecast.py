"""One-step forecasting on a real series: the blog's two forecasting statements, measured.

The blog (shared/sources/000, last section) says that for one-step forecasting "a
single-time-step LSTM model is plain wrong" even when stateful, because back-propagation
"cannot teach the network to put useful information in the last time-step state", so one
must "use a multi-time-step LSTM network", and that "the series must be detrended" first.

`compare` tests both on a held-out tail, with the same seeds for every model:

- persistence (tomorrow = today) and drift (today + the mean training step): closed forms;
- stateless LSTM on sliding windows of `window` steps (the blog's recommendation);
- stateful LSTM, window 1, horizon 1: the single-time-step model the blog calls wrong;
- stateful LSTM, window 1, horizon K: the same model, with the gradient reaching K steps back;
- stateful LSTM, window `window`, horizon 1: Keras' stateful model with multi-step windows;

each trained on the raw series and on its first difference (the detrended series). Inputs
are standardised with the training part's mean and deviation only. The model's output is
Keras' sigmoid Dense, so a target is fed to it as 0.5 + TARGET_SCALE x (standardised value),
inside the sigmoid's range, and mapped back. Errors are RMSE in the series' own units, for
the one-step forecast (every held-out value predicted from the true history before it) and
for the recursive forecast (`ahead` steps from the end of the training part, each
prediction fed back as the next input).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import stats
from ..core.fit import fit
from ..core.spec import Model as sc_Model
from ..core.spec import Train
from ..data.layout import Batches, from_samples, from_series
from ..errors import ConfigError, DataError
from .recorder import Measured, Record, unrecorded
from .series import Series, difference, undifference

TARGET_SCALE = 0.1  # standardised values within ±4 deviations stay inside the sigmoid's (0, 1)


@dataclass(frozen=True)
class Setup:
    """The comparison's sizes; defaults keep the default run near a minute on 2 cores."""

    window: int = 12  # steps per window: one year of a monthly series
    horizon: int = 12  # K in "stateful, window 1, horizon K"
    units: int = 8
    epochs: int = 20
    learning_rate: float = 3e-3  # 1e-2 lets some batch-size-1 stateful seeds diverge
    batch_size: int = 8  # windows per batch for the stateless model; stateful models use 1
    test_fraction: float = 0.2  # the held-out tail
    ahead: int = 24  # steps of the recursive forecast

    def __post_init__(self) -> None:
        for name in ("window", "horizon", "units", "epochs", "batch_size", "ahead"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be a positive whole number, got {value!r}."
                )
        if not 0 < self.test_fraction < 1:
            raise ConfigError(
                f"--test-fraction must lie between 0 and 1, got {self.test_fraction}; 0.2 "
                "holds out the last fifth of the series."
            )
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"--lr must be a positive number, got {self.learning_rate}.")


@dataclass(frozen=True)
class Split:
    """Where the held-out tail starts: level targets v[start:] are forecast."""

    start: int
    n_test: int


def _train_part(n: int, setup: Setup) -> int:
    return n - max(1, round(setup.test_fraction * n))


def split(n: int, setup: Setup) -> Split:
    """Hold out the last `test_fraction` of the series, or say why the series is too short."""
    start = _train_part(n, setup)
    n_test = n - start
    # The model series has n - 1 values (both raw and differenced, see `model_series`); its
    # training part, start - 1 values, must give `batch_size` windows and a horizon.
    need = max(setup.window + setup.batch_size + 1, setup.horizon + 2, 3)
    if start < need:
        total = next(m for m in range(need, 100 * need + 100) if _train_part(m, setup) >= need)
        raise DataError(
            f"the series has {n} values, {start} before the held-out tail of {n_test}; "
            f"--window {setup.window}, --batch-size {setup.batch_size} and --horizon "
            f"{setup.horizon} need at least {need} there ({total} values in all); give a "
            "longer series or smaller sizes."
        )
    return Split(start, n_test)


@dataclass(frozen=True)
class Prepared:
    """A model series u with u[t] predicting level v[t + 1], standardised on its training part.

    raw: u = v[1:] (the very first value is dropped so both variants have the same shapes and
    share one compiled program); differenced: u = difference(v). Either way the level target
    v[t] is u[t - 1], and the training part is u[: start - 1].
    """

    levels: np.ndarray
    u: np.ndarray
    differenced: bool
    mean: float
    std: float
    start: int

    @property
    def z(self) -> np.ndarray:
        return ((self.u - self.mean) / self.std).astype(np.float32)

    def to_target(self, z: np.ndarray) -> np.ndarray:
        return (0.5 + TARGET_SCALE * z).astype(np.float32)

    def from_output(self, p: np.ndarray) -> np.ndarray:
        """Model outputs -> values of u."""
        return self.mean + self.std * (np.asarray(p, np.float64) - 0.5) / TARGET_SCALE

    def levels_one_step(self, u_hat: np.ndarray) -> np.ndarray:
        """Predicted u for the held-out targets -> predicted levels v[start:]."""
        if self.differenced:
            return self.levels[self.start - 1 : -1] + u_hat
        return u_hat

    def levels_recursive(self, u_hat: np.ndarray) -> np.ndarray:
        """Recursive predictions of u from the origin -> levels v[start : start + ahead]."""
        if self.differenced:
            return undifference(self.levels[self.start - 1], u_hat)
        return u_hat


def model_series(levels: np.ndarray, start: int, differenced: bool) -> Prepared:
    u = difference(levels) if differenced else np.asarray(levels[1:], np.float64)
    train = u[: start - 1]
    std = float(train.std())
    if not std > 0:
        raise DataError(
            "the training part of the series is constant, so there is nothing to learn; give "
            "a series that varies."
        )
    return Prepared(np.asarray(levels, np.float64), u, differenced, float(train.mean()), std, start)


# -- baselines -------------------------------------------------------------------------------


def persistence(levels: np.ndarray, start: int) -> np.ndarray:
    """One-step persistence: v_hat[t] = v[t - 1] for the held-out t >= start."""
    return np.asarray(levels, np.float64)[start - 1 : -1]


def drift(levels: np.ndarray, start: int) -> np.ndarray:
    """One-step drift: v_hat[t] = v[t - 1] + the mean step of the training part."""
    v = np.asarray(levels, np.float64)
    return v[start - 1 : -1] + (v[start - 1] - v[0]) / (start - 1)


def rmse(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Root mean squared error over the last axis."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    return np.sqrt(np.mean((pred - truth) ** 2, axis=-1))


# -- the LSTM models -------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    name: str
    mode: str  # "stateless" (sliding windows) or "stateful" (one stream, batch size 1)
    window: int
    horizon: int = 1


def models(setup: Setup) -> list[Model]:
    w, k = setup.window, setup.horizon
    return [
        Model(f"stateless, window {w}", "stateless", w),
        Model("stateful, window 1, horizon 1", "stateful", 1),
        Model(f"stateful, window 1, horizon {k}", "stateful", 1, k),
        Model(f"stateful, window {w}, horizon 1", "stateful", w),
    ]


def sliding_windows(z: np.ndarray, window: int, first: int, stop: int) -> np.ndarray:
    """Windows z[j - window : j] for targets j in [first, stop): (count, window, 1)."""
    index = np.arange(first, stop)[:, None] + np.arange(-window, 0)[None, :]
    return z[index][..., None]


def training_batches(prep: Prepared, m: Model, setup: Setup) -> Batches:
    """The training part of the model series in the model's layout."""
    z = prep.z
    n_train = prep.start - 1  # u[: n_train] is the training part
    if m.mode == "stateless":
        count = n_train - m.window
        count -= count % setup.batch_size  # whole batches; the oldest windows are dropped
        first = n_train - count
        x = sliding_windows(z, m.window, first, n_train)
        y = prep.to_target(z[first:n_train])
        return from_samples(x, y, setup.batch_size)
    batches = from_series(z[:n_train], 1, m.window)
    return batches._replace(y=prep.to_target(batches.y[..., 0])[..., None])


def model_spec(m: Model, setup: Setup) -> tuple[sc_Model, Train]:
    """One LSTM with the sigmoid head the series is squeezed into (`TARGET_SCALE`)."""
    train = Train(
        mode=m.mode,
        horizon=m.horizon,
        shuffle=m.mode == "stateless",  # Keras' fit shuffles by default; a stream must not be
        epochs=setup.epochs,
        learning_rate=setup.learning_rate,
        loss="mse",
    )
    return sc_Model(cell="lstm", units=setup.units, head="sigmoid"), train


def forecasts(params: dict, spec: sc_Model, m: Model, z: np.ndarray, ahead: int, origin: int):
    """One seed's one-step predictions at every position of the model series (NaN where a
    window does not fit yet), and the recursive forecast of `ahead` values from `origin`."""
    from ..core.predict import predict, rollout  # JAX: only when forecasting
    if m.mode == "stateless":
        index = np.arange(m.window, len(z) + 1)[:, None] + np.arange(-m.window, 0)[None, :]
        windows = z[index][None, :, :, None]  # one batch, a window per row
        pred, _ = predict(params, windows, spec, train=Train(mode="stateless"))
        one = np.concatenate([np.full(m.window - 1, np.nan), pred[0, :, -1, 0]])
        window = m.window
    else:
        pred, _ = predict(params, z[None, None, :, None], spec)
        one, window = pred[0, 0, :, 0], None
    rec = rollout(params, z[:origin], ahead, spec, window=window, scale=TARGET_SCALE, shift=0.5)
    return one, rec[:, 0]


def model_record(series: Series, m: Model, differenced: bool, setup: Setup) -> dict:
    """What identifies a forecasting model's runs in the store (and lets `--resume` reuse them)."""
    variant = "differenced" if differenced else "raw"
    return {"experiment": "forecast", "task": f"{m.name}, {variant}", "series": series.source,
            "column": series.name,
            "model": m.name, "differenced": differenced, **setup.__dict__}  # fmt: skip


@dataclass
class ModelResult:
    name: str
    series: str  # "raw", "differenced", or "levels" for the baselines
    one_step_rmse: np.ndarray  # (seeds,) or (1,) for a baseline
    recursive_rmse: np.ndarray
    one_step: np.ndarray  # predicted held-out levels, (seeds, n_test)
    recursive: np.ndarray  # (seeds, ahead)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "model": self.name,
            "series": self.series,
            "one_step_rmse": stats.mean_ci(self.one_step_rmse, bounds=stats.NON_NEGATIVE)._asdict(),
            "recursive_rmse": stats.mean_ci(self.recursive_rmse, bounds=stats.NON_NEGATIVE)._asdict(),
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
    results: list[ModelResult] = field(default_factory=list)

    @property
    def truth(self) -> np.ndarray:
        return self.series.values[self.split.start :]

    def get(self, name: str, series: str) -> ModelResult:
        for r in self.results:
            if r.name == name and r.series == series:
                return r
        raise KeyError((name, series))

    def to_json(self) -> dict:
        return {
            "series": self.series.source,
            "column": self.series.name,
            "length": len(self.series.values),
            "held_out": self.split.n_test,
            "recursive_steps": self.ahead,
            "seeds": self.seeds,
            "setup": self.setup.__dict__,
            "models": [r.to_json() for r in self.results],
        }


def compare(
    series: Series,
    seeds: Sequence[int],
    setup: Setup = Setup(),
    on_progress: Callable[[str, int, int], None] | None = None,
    record: Record = unrecorded,
) -> Comparison:
    """Every model on the raw and the differenced series, the same seeds, one held-out tail.
    Each model's training is one run for `record` (see `recording.py`)."""

    levels = series.values
    sp = split(len(levels), setup)
    ahead = min(setup.ahead, sp.n_test)
    truth = levels[sp.start :]
    out = Comparison(series, setup, [int(s) for s in seeds], sp, ahead)
    v_origin = levels[sp.start - 1]
    for name, pred, rec in (
        ("persistence", persistence(levels, sp.start), np.full(ahead, v_origin)),
        (
            "drift",
            drift(levels, sp.start),
            v_origin + (v_origin - levels[0]) / (sp.start - 1) * np.arange(1, ahead + 1),
        ),
    ):
        out.results.append(
            ModelResult(
                name, "levels", rmse(pred, truth)[None], rmse(rec, truth[:ahead])[None],
                pred[None], rec[None],
            )
        )
    todo = [(m, d) for m in models(setup) for d in (False, True)]
    for i, (m, differenced) in enumerate(todo):
        t0 = time.perf_counter()
        prep = model_series(levels, sp.start, differenced)

        def compute(on_epoch, m=m, prep=prep) -> Measured:
            spec, train = model_spec(m, setup)
            fitted = fit(training_batches(prep, m, setup), spec, train, out.seeds, on_epoch=on_epoch)
            ones, recs = [], []
            for seed in out.seeds:
                one, rec = forecasts(fitted.params_of(seed), fitted.model, m, prep.z, ahead, sp.start - 1)
                # position p of the model series predicts u[p + 1], and v[t] = u[t - 1]: p = t - 2
                ones.append(prep.levels_one_step(prep.from_output(one[sp.start - 2 : -1])))
                recs.append(prep.levels_recursive(prep.from_output(rec)))
            return Measured(
                fitted.metrics,
                result={"one_step": np.stack(ones).tolist(), "recursive": np.stack(recs).tolist()},
                timings={"compile_seconds": fitted.compile_seconds, "run_seconds": fitted.run_seconds},
            )

        measured = record("forecast", model_record(series, m, differenced, setup), out.seeds, compute)
        one_levels = np.asarray(measured.result["one_step"], np.float64)
        rec_levels = np.asarray(measured.result["recursive"], np.float64)
        out.results.append(
            ModelResult(
                m.name,
                "differenced" if differenced else "raw",
                rmse(one_levels, truth),
                rmse(rec_levels, truth[:ahead]),
                one_levels,
                rec_levels,
                time.perf_counter() - t0,
            )
        )
        if on_progress:
            on_progress("models", i + 1, len(todo))
    return out
