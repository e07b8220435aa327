"""Summaries over seeds (NumPy and the standard library only, so it imports instantly).

Each seed is one independent run, so a metric over seeds is a sample: we report its mean with
a Student-t 95% confidence interval, and the fraction of seeds that solved the task with a
Wilson score interval (well-behaved at 0 and 1, unlike the normal approximation).
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

SOLVED = 0.99  # a seed "solved" a task when its test accuracy reaches this


class Summary(NamedTuple):
    mean: float
    low: float  # 95% CI
    high: float
    n: int

    def __str__(self) -> str:
        """"mean ± half", or "mean [low, high]" when clipped to the metric's bounds; an
        interval that too few seeds leave undefined is "—" with why, never "nan"."""
        if self.n < 2:
            return undefined(self.n) if self.n == 0 else f"{_decimals(self.mean)} ± {undefined(1)}"
        if abs((self.high - self.mean) - (self.mean - self.low)) < 1e-9 * max(1.0, abs(self.mean)):
            return f"{_decimals(self.mean)} ± {_decimals(self.half_width)}"
        return f"{_decimals(self.mean)} {self.bracket()}"  # clipped to its bounds

    def bracket(self, spec: str = ".3f") -> str:
        """The interval alone, "[low, high]" in `spec`, or "— (1 seed)" when undefined (a
        t interval needs two seeds; a Wilson interval over one seed is defined, and shown)."""
        ends = (self.low, self.high)  # None: read back from stored JSON, where NaN is null
        if self.n == 0 or any(v is None or not math.isfinite(v) for v in ends):
            return undefined(self.n)
        if spec == ".3f":
            return f"[{_decimals(self.low)}, {_decimals(self.high)}]"
        return f"[{self.low:{spec}}, {self.high:{spec}}]"

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


# Values past this are divided by their largest before a sum or a square (near 1e300 either
# overflows); below it nothing is divided, so ordinary numbers keep their bits.
OVERFLOW_SCALE = 1e150


def _decimals(x: float) -> str:
    """3 decimals, or 4 significant digits from 1e5 on (an error in a series' units near 1e300
    printed 300 digits)."""
    return f"{x:.3f}" if not math.isfinite(x) or abs(x) < 1e5 else f"{x:.4g}"


def undefined(n: int) -> str:
    """What every table prints for an interval `n` finite seeds cannot give (n < 2)."""
    return "— (1 seed)" if n == 1 else "— (no finite seed)" if n == 0 else "—"


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    # Converges in O(sqrt(max(a, b))) terms: a t with df = 10^6 needs about a thousand.
    for m in range(1, 20_000):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1 - math.exp(log_front) * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    x = t * t / (df + t * t)
    if x < 0.5:
        # Near 0, df / (df + t²) rounds to 1: use the complement I_x(1/2, df/2) instead.
        half = 0.5 * betainc(0.5, df / 2, x)
        return 0.5 + half if t > 0 else 0.5 - half
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


@functools.lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """Inverse of the Student-t CDF, by bisection (exact to ~1e-12); cached per (p, df)."""
    if not 0 < p < 1:
        return -math.inf if p <= 0 else math.inf
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:  # widen the bracket: df = 1 needs t ≈ 6366 for p = 0.99995
        lo *= 2
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


ACCURACY = (0.0, 1.0)  # `bounds` for an accuracy or a fraction
NON_NEGATIVE = (0.0, math.inf)  # `bounds` for a loss or an RMSE


def mean_ci(values, confidence: float = 0.95, bounds: tuple[float, float] | None = None) -> Summary:
    """Mean and Student-t confidence interval; NaNs (undefined metrics) are dropped.

    `bounds` clips the interval to the values the metric can take (an accuracy's t interval
    can reach past 1 when most seeds sit at 1).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0)
    big = float(np.abs(x).max())
    scale = big if big > OVERFLOW_SCALE else 1.0
    mean = float((x / scale).mean()) * scale if scale != 1.0 else float(x.mean())
    if n == 1:
        return Summary(mean, math.nan, math.nan, 1)
    std = float((x / scale).std(ddof=1)) * scale if scale != 1.0 else float(x.std(ddof=1))
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Summary(mean, low, high, n)


def wilson(successes: int, n: int, confidence: float = 0.95) -> Summary:
    """Wilson score interval for a proportion."""
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # The interval always contains p; clamp so round-off at p = 0 or 1 cannot exclude it.
    return Summary(p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)), n)


def solved_fraction(test_acc, threshold: float = SOLVED) -> Summary:
    acc = np.asarray(test_acc, dtype=np.float64).ravel()
    acc = acc[np.isfinite(acc)]
    return wilson(int((acc >= threshold).sum()), len(acc))
