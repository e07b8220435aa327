"""The forecast comparison's sizes (`Setup`), where its held-out tail starts (`split`), and
the series its recurrent models train on (`model_series`: raw or differenced, standardised on
the training part). `forecast.py` runs the comparison on them and names them again."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError
from . import baselines
from .series import difference, undifference

CELLS = ("lstm", "gru")


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
    ahead: int = 24  # the longest horizon forecast from every origin
    period: int | None = None  # the season's length; None: detected (`baselines.detect_period`)
    cells: tuple[str, ...] = CELLS

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
        if self.period is not None and (isinstance(self.period, bool) or not isinstance(self.period, int) or self.period < 1):
            raise ConfigError(f"--period must be a positive whole number, got {self.period!r}.")
        if not self.cells or set(self.cells) - set(CELLS):
            given = ",".join(self.cells) or "nothing"  # as the user wrote it, not a tuple
            raise ConfigError(f"--cells must be some of {', '.join(CELLS)}, got {given}.")


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
        return baselines.Scaling(self.mean, self.std).to_z(self.u).astype(np.float32)

    def from_output(self, p: np.ndarray) -> np.ndarray:
        """Model outputs (standardised values, the linear head's) -> values of u."""
        return baselines.Scaling(self.mean, self.std).to_v(p)

    def levels_one_step(self, u_hat: np.ndarray) -> np.ndarray:
        """Predicted u for the held-out targets -> predicted levels v[start:]."""
        if self.differenced:
            return self.levels[self.start - 1 : -1] + u_hat
        return u_hat

    def levels_recursive(self, u_hat: np.ndarray, origin: int | None = None) -> np.ndarray:
        """Recursive predictions of u from `origin` (default: the held-out start) -> levels
        v[origin : origin + ahead]; u_hat may have leading axes."""
        if self.differenced:
            origin = self.start if origin is None else origin
            return undifference(self.levels[origin - 1], u_hat) if np.ndim(u_hat) == 1 else (
                self.levels[origin - 1] + np.cumsum(np.asarray(u_hat, np.float64), axis=-1))
        return np.asarray(u_hat, np.float64)


RELATIVE_SPREAD = 1e-9  # below this spread relative to the magnitude, values are one number


def is_constant(values: np.ndarray) -> bool:
    """Constant up to rounding, relative to the values' own magnitude (1e-30 or 1e200 alike)."""
    values = np.asarray(values, np.float64)
    big = float(np.max(np.abs(values))) if len(values) else 0.0
    return big == 0 or float(np.ptp(values / big)) <= RELATIVE_SPREAD


def model_series(levels: np.ndarray, start: int, differenced: bool, name: str = "the series") -> Prepared:
    """The series as the models see it; `name` says which one in a message (`y in t.csv`)."""
    u = difference(levels) if differenced else np.asarray(levels[1:], np.float64)
    train = u[: start - 1]
    if is_constant(train):
        what = "the differences of the training part" if differenced else "the training part"
        raise DataError(
            f"{what} of {name} {'are' if differenced else 'is'} constant, so there is nothing to learn; "
            "give a series that varies."
        )
    scaling = baselines.Scaling.fit(train)
    return Prepared(np.asarray(levels, np.float64), u, differenced, scaling.mean, scaling.std, start)
