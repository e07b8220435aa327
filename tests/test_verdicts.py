"""Every verdict rule, on synthetic per-seed results, can confirm, refute and stay inconclusive."""

import numpy as np
import pytest

from statecarry.errors import ConfigError
from statecarry.experiments import claims
from statecarry.experiments.verdicts import (
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    AllOf,
    AnyOf,
    Differs,
    Given,
    InteriorMinimum,
    Learns,
    OnlyWith,
)

SEEDS = 32


def run(acc_per_seed, epochs=1, metric="test_known_acc"):
    """Evidence for one run: the same per-seed values at every epoch."""
    values = np.asarray(acc_per_seed, dtype=float)
    return {metric: np.tile(values, (epochs, 1)), "test_acc": np.tile(values, (epochs, 1))}


def solved(k, n=SEEDS):
    """k of n seeds solved (1.0), the rest at chance (0.5)."""
    return np.r_[np.ones(k), np.full(n - k, 0.5)]


@pytest.mark.parametrize(
    ("k", "expect", "verdict"),
    [(30, True, CONFIRMED), (2, True, REFUTED), (16, True, INCONCLUSIVE), (2, False, CONFIRMED), (30, False, REFUTED)],
)
def test_learns_decides_on_the_wilson_interval_of_solved_seeds(k, expect, verdict):
    assert Learns("r", expect=expect).judge({"r": run(solved(k))}).verdict == verdict


def test_learns_reads_the_requested_epoch():
    evidence = {"r": {"test_known_acc": np.stack([solved(0), solved(32)])}}
    assert Learns("r", epoch=0).judge(evidence).verdict == REFUTED
    assert Learns("r", epoch=-1).judge(evidence).verdict == CONFIRMED


def noisy(mean, sd=0.01, seed=0):
    return mean + sd * np.random.default_rng(seed).standard_normal(SEEDS)


@pytest.mark.parametrize(
    ("shift", "verdict"),
    [(-0.2, CONFIRMED), (0.0, REFUTED), (+0.1, REFUTED), (-0.02, INCONCLUSIVE)],
)
def test_differs_is_a_paired_interval_against_a_margin(shift, verdict):
    base = noisy(0.7, sd=0.05, seed=1)
    a = base + shift + noisy(0, sd=0.01, seed=2)
    rule = Differs("a", "b", "less", metric="test_acc", margin=0.02)
    assert rule.judge({"a": run(a), "b": run(base)}).verdict == verdict


def test_differs_greater_mirrors_less():
    base = noisy(0.5, seed=3)
    evidence = {"a": run(base + 0.3), "b": run(base)}
    assert Differs("a", "b", "greater").judge(evidence).verdict == CONFIRMED
    assert Differs("a", "b", "less").judge(evidence).verdict == REFUTED


def test_differs_compares_two_epochs_of_one_run():
    evidence = {"r": {"test_acc": np.stack([noisy(0.5, seed=4), noisy(0.9, seed=5)])}}
    assert Differs("r", "r", "greater", epoch_a=-1, epoch_b=0).judge(evidence).verdict == CONFIRMED


@pytest.mark.parametrize(
    ("with_k", "without_k", "verdict"),
    [(32, 0, CONFIRMED), (32, 32, REFUTED), (0, 0, INCONCLUSIVE)],
)
def test_only_with_needs_the_contrast(with_k, without_k, verdict):
    evidence = {"w": run(solved(with_k)), "wo": run(solved(without_k))}
    assert OnlyWith("w", "wo").judge(evidence).verdict == verdict


def test_all_of_and_any_of_combine_parts():
    evidence = {"yes": run(solved(32)), "no": run(solved(0)), "maybe": run(solved(16))}
    yes, no, maybe = Learns("yes"), Learns("no"), Learns("maybe")
    assert AllOf((yes, yes)).judge(evidence).verdict == CONFIRMED
    assert AllOf((yes, no)).judge(evidence).verdict == REFUTED
    assert AllOf((yes, maybe)).judge(evidence).verdict == INCONCLUSIVE
    assert AnyOf((no, yes)).judge(evidence).verdict == CONFIRMED
    assert AnyOf((no, no)).judge(evidence).verdict == REFUTED
    assert AnyOf((no, maybe)).judge(evidence).verdict == INCONCLUSIVE


@pytest.mark.parametrize(
    ("times", "verdict"),
    [((4, 2, 1, 3), CONFIRMED), ((4, 3, 2, 1), REFUTED), ((1, 2, 3, 4), REFUTED), ((2, 1.95, 1.9, 2.0), INCONCLUSIVE)],
)
def test_interior_minimum(times, verdict):
    names = [f"b{i}" for i in range(len(times))]
    evidence = {n: {"seconds_per_epoch": np.array([t])} for n, t in zip(names, times)}
    assert InteriorMinimum(names).judge(evidence).verdict == verdict


def test_given_passes_a_measured_verdict_through():
    v = Given("x").judge({"x": {"verdict": REFUTED, "measured": "packed = padded"}})
    assert (v.verdict, v.measured) == (REFUTED, "packed = padded")


def test_keras_carries_both_rule():
    rule = claims.KerasCarriesBoth()
    both, c_only = "max |keras - ours|, h and c carried", "max |keras - ours|, c only"
    assert rule.judge({"keras": {both: [1e-7], c_only: [0.1]}}).verdict == REFUTED
    assert rule.judge({"keras": {both: [0.1], c_only: [1e-7]}}).verdict == CONFIRMED
    assert rule.judge({"keras": {}}).verdict == INCONCLUSIVE


def test_every_claim_names_runs_that_exist_and_a_rule():
    ids = [c.id for c in claims.CLAIMS]
    assert len(ids) == len(set(ids)) >= 15
    for c in claims.CLAIMS:
        assert all(name in claims.RUNS for name in c.runs), c.id
        assert c.runs or c.measure is not None, c.id
        assert hasattr(c.rule, "judge")


def test_select_claims_by_id_and_reject_unknown():
    assert [c.id for c in claims.select("5,1")] == ["5", "1"]
    with pytest.raises(ConfigError, match="unknown claim"):
        claims.select("99")
    with pytest.raises(ConfigError, match=r"unknown claim 10; .* Claim 10 has parts: 10a and 10b\.$"):
        claims.select("10")


@pytest.mark.parametrize(
    ("h1", "crossing", "verdict"),
    [
        (0.57, 0.92, CONFIRMED),  # the measured picture: horizon 1 stuck, crossing lifts it by ~0.35
        (1.0, 1.0, REFUTED),  # horizon 1 learns anyway: the gradient was not needed across
        (0.57, 0.60, REFUTED),  # crossing the boundary does not help: not the gradient's stop
        (0.57, 0.77, INCONCLUSIVE),  # lifted, but the interval straddles the 0.2 margin
    ],
)
def test_claim_20_needs_horizon_1_to_fail_and_the_crossing_modes_to_beat_it(h1, crossing, verdict):
    rule = claims.select("20")[0].rule
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.02, SEEDS)
    stuck = np.full(SEEDS, h1) + (noise if h1 < 1 else 0)
    evidence = {"prev-batch marker, horizon 1": run(stuck)}
    for m in ("horizon 2", "rtrl"):
        evidence[f"prev-batch marker, {m}"] = run(np.clip(crossing + rng.normal(0, 0.05, SEEDS), 0, 1))
    assert rule.judge(evidence).verdict == verdict
