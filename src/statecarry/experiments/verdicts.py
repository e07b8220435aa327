"""Verdict rules: small, data-like objects that judge per-seed results.

A rule looks at named runs (`Evidence`: run name -> per-epoch, per-seed metrics) and returns a
`Verdict`: confirmed, refuted or inconclusive, with the numbers that decided it. Each rule can
come out every way: tests/test_verdicts.py feeds each synthetic results for all three.

Decisions use 95% intervals over seeds: a Wilson interval for "how many seeds solved it" and a
Student-t interval for a mean or a paired difference (the same seeds run in both arms, so the
per-seed difference removes the seed-to-seed spread).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .. import stats

CONFIRMED, REFUTED, INCONCLUSIVE, NOT_TESTED = "confirmed", "refuted", "inconclusive", "not yet tested"

Evidence = Mapping[str, Mapping[str, np.ndarray]]  # run -> metric -> (epochs, seeds)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    measured: str
    numbers: dict

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "measured": self.measured, "numbers": self.numbers}


class Rule(Protocol):
    def judge(self, evidence: Evidence) -> Verdict: ...


def _at(evidence: Evidence, run: str, metric: str, epoch: int) -> np.ndarray:
    values = np.asarray(evidence[run][metric], dtype=np.float64)
    return values[epoch]


def _epoch_name(epoch: int, evidence: Evidence, run: str) -> int:
    n = np.asarray(next(iter(evidence[run].values()))).shape[0]
    return (epoch % n) + 1


@dataclass(frozen=True)
class Learns:
    """Most seeds solve `run` (metric ≥ stats.SOLVED) by `epoch` — or, with `expect=False`,
    most seeds do not. Decided by the Wilson interval of the solved fraction against 1/2."""

    run: str
    expect: bool = True
    epoch: int = -1
    metric: str = "test_known_acc"

    def judge(self, evidence: Evidence) -> Verdict:
        acc = _at(evidence, self.run, self.metric, self.epoch)
        solved = stats.solved_fraction(acc)
        mean = stats.mean_ci(acc, bounds=stats.ACCURACY)
        if solved.low > 0.5:
            learned = True
        elif solved.high < 0.5:
            learned = False
        else:
            learned = None
        verdict = INCONCLUSIVE if learned is None else (CONFIRMED if learned == self.expect else REFUTED)
        epoch = _epoch_name(self.epoch, evidence, self.run)
        text = (
            f"{self.run} after {epoch} epoch(s): {self.metric.replace('_', ' ')} {mean}, "
            f"solved {solved.mean:.0%} of {solved.n} seeds {solved.bracket('.0%')}"
        )
        return Verdict(verdict, text, {"run": self.run, "epoch": epoch, "mean": mean._asdict(), "solved": solved._asdict()})


@dataclass(frozen=True)
class Differs:
    """`a` minus `b` (paired over seeds) is below zero (`expect="less"`) or above it
    (`"greater"`) by at least `margin`.

    Confirmed when the whole 95% interval of the difference lies beyond `margin` in the claimed
    direction; refuted when the interval excludes an effect of size `margin` in that direction
    (no effect, or the opposite one); inconclusive otherwise.
    """

    a: str
    b: str
    expect: str  # "less" | "greater"
    metric: str = "test_acc"
    epoch_a: int = -1
    epoch_b: int = -1
    margin: float = 0.02

    def judge(self, evidence: Evidence) -> Verdict:
        diff = _at(evidence, self.a, self.metric, self.epoch_a) - _at(evidence, self.b, self.metric, self.epoch_b)
        s = stats.mean_ci(diff)
        sign = -1.0 if self.expect == "less" else 1.0
        low, high = sorted((sign * s.low, sign * s.high))
        if low > self.margin:
            verdict = CONFIRMED
        elif high < self.margin:
            verdict = REFUTED
        else:
            verdict = INCONCLUSIVE
        ea, eb = _epoch_name(self.epoch_a, evidence, self.a), _epoch_name(self.epoch_b, evidence, self.b)
        text = (
            f"{self.metric.replace('_', ' ')}: {self.a} (epoch {ea}) − {self.b} (epoch {eb}) "
            f"= {s.mean:+.3f} {s.bracket('+.3f')}"
        )
        return Verdict(verdict, text, {"difference": s._asdict(), "margin": self.margin})


@dataclass(frozen=True)
class OnlyWith:
    """The claim "X is needed": the setup `with_` learns and the setup `without` does not.

    Confirmed when `with_` learns and `without` fails; refuted when `without` learns anyway;
    inconclusive otherwise (for instance when neither learns: the runs cannot tell).
    """

    with_: str
    without: str
    metric: str = "test_known_acc"

    def judge(self, evidence: Evidence) -> Verdict:
        w = Learns(self.with_, metric=self.metric).judge(evidence)
        wo = Learns(self.without, metric=self.metric).judge(evidence)
        if wo.verdict == CONFIRMED:
            verdict = REFUTED
        elif w.verdict == CONFIRMED and wo.verdict == REFUTED:
            verdict = CONFIRMED
        else:
            verdict = INCONCLUSIVE
        return Verdict(verdict, f"{w.measured}; {wo.measured}", {"with": w.to_json(), "without": wo.to_json()})


@dataclass(frozen=True)
class Given:
    """A verdict measured elsewhere (a whole experiment of its own), read from the evidence."""

    key: str

    def judge(self, evidence: Evidence) -> Verdict:
        given = evidence[self.key]
        return Verdict(given["verdict"], given["measured"], dict(given.get("numbers", {})))


def _combine(parts: Sequence[Rule], evidence: Evidence, decisive: str, other: str) -> Verdict:
    """One `decisive` part decides; `other` needs every part to agree; else inconclusive."""
    judged = [p.judge(evidence) for p in parts]
    kinds = [v.verdict for v in judged]
    if decisive in kinds:
        verdict = decisive
    elif all(k == other for k in kinds):
        verdict = other
    else:
        verdict = INCONCLUSIVE
    text = "; ".join(f"{v.measured} ({v.verdict})" for v in judged)
    return Verdict(verdict, text, {"parts": [v.to_json() for v in judged]})


@dataclass(frozen=True)
class AllOf:
    """Every part must hold: refuted if any part is refuted, confirmed if all are confirmed."""

    parts: Sequence[Rule]

    def judge(self, evidence: Evidence) -> Verdict:
        return _combine(self.parts, evidence, decisive=REFUTED, other=CONFIRMED)


@dataclass(frozen=True)
class AnyOf:
    """Some part must hold: confirmed if any part is confirmed, refuted if all are refuted."""

    parts: Sequence[Rule]

    def judge(self, evidence: Evidence) -> Verdict:
        return _combine(self.parts, evidence, decisive=CONFIRMED, other=REFUTED)


@dataclass(frozen=True)
class InteriorMinimum:
    """A curve (`metric` over a swept value, one run per value) first falls, then rises: its
    minimum is neither at the first nor at the last value, by more than `tolerance` (relative)."""

    runs: Sequence[str]  # in order of the swept value
    metric: str = "seconds_per_epoch"
    tolerance: float = 0.1

    def judge(self, evidence: Evidence) -> Verdict:
        values = [float(np.median(np.asarray(evidence[r][self.metric]))) for r in self.runs]
        best = int(np.argmin(values))
        lowest = values[best]
        ends_higher = all(v > lowest * (1 + self.tolerance) for v in (values[0], values[-1]))
        if 0 < best < len(values) - 1 and ends_higher:
            verdict = CONFIRMED
        elif best in (0, len(values) - 1) and all(
            v > lowest * (1 + self.tolerance) for i, v in enumerate(values) if i != best
        ):
            verdict = REFUTED
        else:
            verdict = INCONCLUSIVE
        text = ", ".join(f"{r}: {v * 1e3:.1f} ms" for r, v in zip(self.runs, values))
        return Verdict(verdict, f"{self.metric.replace('_', ' ')}: {text}; minimum at {self.runs[best]}", {"values": dict(zip(self.runs, values))})


@dataclass(frozen=True)
class Reports:
    """Context only: a run's metric, mean ± 95% CI over seeds (it decides nothing)."""

    run: str
    metric: str = "test_acc"
    epoch: int = -1

    def judge(self, evidence: Evidence) -> Verdict:
        bounds = stats.ACCURACY if self.metric.endswith("acc") else stats.NON_NEGATIVE
        s = stats.mean_ci(_at(evidence, self.run, self.metric, self.epoch), bounds=bounds)
        epoch = _epoch_name(self.epoch, evidence, self.run)
        return Verdict("", f"{self.run}: {self.metric.replace('_', ' ')} {s} after {epoch} epoch(s)", {"mean": s._asdict()})


@dataclass(frozen=True)
class NotYetTested:
    reason: str

    def judge(self, evidence: Evidence) -> Verdict:
        return Verdict(NOT_TESTED, self.reason, {})
