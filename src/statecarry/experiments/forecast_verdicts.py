"""The blog's forecasting statements judged from a `forecast.Comparison`, and its table."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import stats
from . import rolling
from .forecast import Comparison, rmse_ci, show
from .scores import number


@dataclass(frozen=True)
class Verdict:
    claim: str
    verdict: str  # confirmed / refuted / inconclusive
    measured: str

    def to_json(self) -> dict:
        return {"claim": self.claim, "verdict": self.verdict, "measured": self.measured}


SINGLE_STEP = (
    "One-step forecasting with a single-time-step stateful LSTM is plain wrong: back-propagation "
    "cannot teach it what to keep in its state, so it may not learn to predict at all."
)
USE_WINDOWS = "Use a multi-time-step LSTM (windows) instead of a single-time-step one."
DETREND = "Detrend the series first (a trend hurts an LSTM's forecasts)."
GOOD_FORECASTER = (
    "A (stateful) LSTM is a good one-step forecaster for a series like this: as good as the "
    "classical baselines a forecaster would try first."
)


def ratio_verdict(
    worse: np.ndarray, better: np.ndarray, margin: float = 0.05
) -> tuple[str, stats.Summary]:
    """Is `worse` really worse than `better`? Judged on log(RMSE ratio), paired by seed.

    'confirmed' when the 95% CI of the mean log ratio lies above log(1 + margin) (worse by more
    than `margin`, 5% by default), 'refuted' when it lies at or below it, else 'inconclusive'.
    A log ratio is scale-free and keeps one diverged seed from swamping the mean. The summary
    returned is of the ratio itself (exp of the mean log and of its CI bounds)."""
    logs = np.log(np.asarray(worse, np.float64) / np.asarray(better, np.float64))
    s = stats.mean_ci(logs)
    ratio = stats.Summary(*(math.exp(v) if math.isfinite(v) else v for v in s[:3]), s.n)
    if s.n < 2:
        return "inconclusive", ratio
    if s.low > math.log1p(margin):
        return "confirmed", ratio
    if s.high <= math.log1p(margin):
        return "refuted", ratio
    return "inconclusive", ratio


def ratio_text(r: stats.Summary) -> str:
    """"ratio 1.23 [1.10, 1.40]"; past 1e5 (a baseline that is all but exact) in 3 significant
    digits, not hundreds."""
    if r.mean == math.inf:  # rolling.paired: the baseline is exact and the model is not
        return "ratio inf (the baseline is exact)"
    spec = ".2f" if all(not math.isfinite(v) or abs(v) < 1e5 for v in (r.mean, r.low, r.high)) else ".3g"
    return f"ratio {r.mean:{spec}} {r.bracket(spec)}"


def claims(c: Comparison, margin: float = 0.05) -> list[Verdict]:
    """The blog's forecasting statements (LSTMs, linear head), on one-step RMSE over the
    held-out tail (every value from the true history before it), paired by seed (see
    `ratio_verdict`), on the differenced series (the setting the blog recommends); then the
    practice they imply, judged against the classical ladder (`good_forecaster`).

    - plain wrong: naive (persistence) against the single-time-step stateful model (stateful, window
      1, horizon 1). Confirmed if the model is not better than persistence (it did not learn
      to predict), refuted if it is better by more than `margin`. Its cause, tested by
      intervention, is reported beside it: the same model with the gradient reaching K steps
      back (horizon K).
    - use windows: the single-time-step model against the stateless windowed model.
    - detrend: the windowed model on the raw against the differenced series.
    """
    try:
        blog = _blog(c, margin)
    except KeyError as e:  # an LSTM the claims need was not trained, skipped or diverged
        blog = [Verdict(claim, "inconclusive", f"not measured ({_missing(c, *e.args[0])})")
                for claim in (SINGLE_STEP, USE_WINDOWS, DETREND)]  # fmt: skip
    try:
        return blog + [good_forecaster(c, margin)]
    except KeyError as e:
        return blog + [Verdict(GOOD_FORECASTER, "inconclusive", f"not measured ({_missing(c, *e.args[0])})")]


def _missing(c: Comparison, name: str, series: str, cell: str) -> str:
    """Why the model a claim needs is not there, in words (`Comparison.get`'s KeyError)."""
    if cell not in c.setup.cells:
        return f"no {cell.upper()} was trained: --cells {','.join(c.setup.cells)}"
    label = f"{cell.upper()} {name}" + (f", {series}" if series in ("raw", "differenced") else " model")
    why = c.skipped.get(label) or (c.skipped.get("differenced models") if series == "differenced" else None)
    why = why or next((v for k, v in c.skipped.items() if k.startswith(f"{cell.upper()} {name}")), None)
    return f"no {label}" + (f": {why.removeprefix('skipped: ').rstrip('.')}" if why else "")


def good_forecaster(c: Comparison, margin: float = 0.05) -> Verdict:
    """The best stateful LSTM (raw or differenced, lowest mean one-step MASE) against the best
    baseline at horizon 1, paired per origin and seed (`rolling.paired`): confirmed when the
    95% interval of the MASE ratio lies at or below 1 + margin, refuted when above."""
    base = rolling.best_baseline(c, 1)
    if not any(r.cell == "lstm" and "stateful" in r.name for r in c.results):
        raise KeyError(("stateful", "", "lstm"))
    lstm = rolling.best_model(c, 1, lambda r: r.cell == "lstm" and "stateful" in r.name)
    r = rolling.paired(lstm, base, 1, c.scale)
    word = rolling.ratio_word(r, margin, len(c.seeds))
    verdict = {"as good or better": "confirmed", "worse": "refuted"}.get(word, "inconclusive")
    m = stats.mean_ci(rolling.mase(lstm, 1, c.scale), bounds=stats.NON_NEGATIVE)
    return Verdict(
        GOOD_FORECASTER,
        verdict,
        f"one-step MASE over {c.split.n_test} held-out origins: best stateful LSTM "
        f"({lstm.name}, {lstm.series}) {m}, best baseline ({base.name}) "
        f"{number(float(rolling.mase(base, 1, c.scale)[0]))}; LSTM / baseline {ratio_text(r)}"
        + (" (1 seed: no verdict on one seed)" if len(c.seeds) < 2 else ""),
    )


def _blog(c: Comparison, margin: float) -> list[Verdict]:
    w, k = c.setup.window, c.setup.horizon
    persist = c.get("naive", "levels").one_step_rmse
    single = c.get("stateful, window 1, horizon 1", "differenced").one_step_rmse
    window = c.get(f"stateless, window {w}", "differenced").one_step_rmse
    longer = c.get(f"stateful, window 1, horizon {k}", "differenced").one_step_rmse
    raw = c.get(f"stateless, window {w}", "raw").one_step_rmse
    learned, r1 = ratio_verdict(np.full_like(single, persist[0]), single, margin)
    v2, r2 = ratio_verdict(single, window, margin)
    v3, r3 = ratio_verdict(raw, window, margin)
    _, r4 = ratio_verdict(single, longer, margin)
    _, r5 = ratio_verdict(longer, window, margin)
    plain_wrong = {"confirmed": "refuted", "refuted": "confirmed"}.get(learned, learned)
    def m(values: np.ndarray) -> str:  # an RMSE: its interval stops at 0
        return show(rmse_ci(values))
    return [
        Verdict(
            SINGLE_STEP,
            plain_wrong,
            f"one-step RMSE, LSTM on the differenced series: naive {number(persist[0])}, window 1 "
            f"horizon 1 {m(single)} (naive / model {ratio_text(r1)}); with horizon {k} {m(longer)} "
            f"(horizon 1 / horizon {k} {ratio_text(r4)})",
        ),
        Verdict(
            USE_WINDOWS,
            v2,
            f"one-step RMSE, differenced series: window 1 horizon 1 {m(single)}, window {w} "
            f"{m(window)} ({ratio_text(r2)}); window 1 horizon {k} / window {w} {ratio_text(r5)}",
        ),
        Verdict(
            DETREND,
            v3,
            f"one-step RMSE, stateless window {w}: raw {m(raw)}, differenced {m(window)} "
            f"({ratio_text(r3)})",
        ),
    ]


# -- output ----------------------------------------------------------------------------------


def table_rows(c: Comparison) -> list[list[str]]:
    """One row per model: MASE at each horizon (mean ± 95% CI over seeds), one-step RMSE."""
    def fmt(s: stats.Summary, r) -> str:  # a baseline is one deterministic number
        return number(s.mean) if not r.cell else show(s)  # one seed: "mean ± — (1 seed)"

    return [
        [r.label, r.series,
         *(fmt(stats.mean_ci(rolling.mase(r, h, c.scale), bounds=stats.NON_NEGATIVE), r) for h in rolling.horizons(c)),
         number(r.one_step_rmse[0]) if not r.cell else show(rmse_ci(r.one_step_rmse)), f"{r.seconds:.1f}"]
        for r in c.results
    ]  # fmt: skip


def versus_rows(c: Comparison, margin: float = 0.05) -> list[list[str]]:
    """Per horizon: the best LSTM/GRU against the best baseline, paired per origin and seed."""
    rows = []
    for h in rolling.horizons(c):
        base = rolling.best_baseline(c, h)
        for cell in c.setup.cells:
            if not any(r.cell == cell for r in c.results):  # every one diverged: see "left out"
                continue
            model = rolling.best_model(c, h, lambda r, cell=cell: r.cell == cell)
            r = rolling.paired(model, base, h, c.scale)
            rows.append([str(h), model.label + f" ({model.series})", base.name,
                         ratio_text(r).removeprefix("ratio "), rolling.ratio_word(r, margin, len(c.seeds))])  # fmt: skip
    return rows
