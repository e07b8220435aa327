"""The claims about stateful LSTMs, as data.

A `Claim` is a sentence, its source (with the exact words), the runs that test it and a
verdict rule (`verdicts.py`) over the seeds' results. `reproduce.check(claims, seeds)` runs
every config the claims need once, then judges each claim. Adding a claim is adding a row to
`CLAIMS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .claim_runs import BLOG, LONG, PUBLIC, QA, RUNS  # noqa: F401  (RUNS: the claims' runs by name)
from .measures import (
    BATCH_SIZES,
    KerasCarriesBoth,
    measure_batch_time,
    measure_carry,
    measure_forecast,
    measure_one_step,
    measure_train_log,
    measure_varlen,
)
from .verdicts import AllOf, Differs, Given, InteriorMinimum, Learns, OnlyWith, Reports, Rule


@dataclass(frozen=True)
class Claim:
    id: str
    sentence: str
    source: str
    quote: str  # the source's own words
    setup: str
    rule: Rule
    runs: tuple[str, ...] = ()  # names in RUNS
    measure: Callable | None = None  # (seeds, run, record) -> evidence, for what is not a plain run
    context: tuple[Rule, ...] = ()  # reported beside the verdict, not part of it
    max_seeds: int | None = None  # cap for expensive claims


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "1", "A stateless LSTM learns first-step within 1–2 epochs.", BLOG,
        "The network learns the pattern in the first epoch itself and achieves 100% accuracy on test set",
        "first-step, stateless, LSTM(3), batch 4, MSE, Adam 1e-3; solved = test acc ≥ 0.99 after epoch 2",
        Learns("first-step stateless", epoch=1, metric="test_acc"),
        runs=("first-step stateless",),
        context=(Learns("first-step stateless", epoch=4, metric="test_acc"),),
    ),
    Claim(
        "2", "Making it stateful hinders learning on first-step; results improve with more epochs.", BLOG,
        "Making the LSTM ‘stateful’ is hindering LSTM’s in learning for this specific problem. Although the result do seem to improve with successive epochs.",
        "first-step stateful vs stateless after 5 epochs; stateful at 5 vs 50 epochs",
        AllOf((
            Differs("first-step stateful", "first-step stateless", "less", epoch_a=4, epoch_b=4),
            Differs("first-step stateful", "first-step stateful", "greater", epoch_a=-1, epoch_b=4),
        )),
        runs=("first-step stateless", "first-step stateful", "first-step stateful, marker"),
        context=(Learns("first-step stateful, marker", metric="test_acc"), Learns("first-step stateful", metric="test_acc")),
    ),
    Claim(
        "3", "Neither stateless nor stateful learns prev-batch in 5 epochs.", BLOG,
        "The model fails to learn anything … Surprisingly, stateful LSTM also fails on this problem",
        "prev-batch (label = step 0 of the collocated sample one batch back), 5 epochs",
        AllOf((Learns("prev-batch stateless", expect=False), Learns("prev-batch stateful", expect=False, epoch=4))),
        runs=("prev-batch stateless", "prev-batch stateful"),
    ),
    Claim(
        "4", "With batch size 1 and the label in the previous sample, it still fails.", BLOG,
        "I tried keeping the batch size as 1 while changing the data such that current sample’s labels is present in previous sample. But couldn’t get accurate results even then.",
        "prev-sample, batch 1, stateful (gradient stops at each batch), 5 epochs",
        Learns("prev-sample stateful", expect=False),
        runs=("prev-sample stateful",),
    ),
    Claim(
        "5", "The cause is that back-propagation does not cross the batch boundary.", BLOG,
        "the backpropagation cannot pass through batch boundary. And hence it would be unable to train the network to produce a useful information after the last time step.",
        f"prev-batch, {LONG} epochs: gradient through 2 or 4 batches, or exact RTRL, vs horizon 1 (intervention); with and without a start-of-sample marker",
        AllOf((
            Learns("prev-batch marker, horizon 2"),
            Learns("prev-batch marker, horizon 1", expect=False),
            Learns("prev-batch horizon 2"),
        )),
        runs=("prev-batch horizon 2", "prev-batch horizon 4", "prev-batch rtrl", "prev-batch marker, horizon 1", "prev-batch marker, horizon 2", "prev-batch marker, rtrl",
              "prev-batch marker, snap1", "prev-batch marker, uoro"),
        context=(Learns("prev-batch horizon 4"), Learns("prev-batch rtrl"), Learns("prev-batch marker, rtrl"),
                 Learns("prev-batch marker, snap1"), Learns("prev-batch marker, uoro")),
    ),
    Claim(
        "6", "Training longer might let stateful pick up the cross-batch pattern.", BLOG,
        "Maybe I should have trained it for longer and with a random chance, the network would have eventually picked up the pattern.",
        f"prev-batch, stateful (horizon 1), {LONG} epochs",
        Learns("prev-batch stateful"),
        runs=("prev-batch stateful",),
        context=(Differs("prev-batch stateful", "prev-batch stateful", "greater", metric="test_known_acc", epoch_b=4),),
    ),
    Claim(
        "7", "Only the cell state is passed to the next batch.", BLOG,
        "State = Cell-State that gets passed to next time-step. Not hidden state",
        "Keras LSTM(stateful=True) vs our forward carrying (h, c) or c only; prev-batch marker horizon 2 learning with each",
        KerasCarriesBoth(),
        measure=measure_carry,
        context=(Differs("prev-batch marker, horizon 2, c only", "prev-batch marker, horizon 2", "less", metric="test_known_acc"),),
    ),
    Claim(
        "8", "The batch size must be 1 for a stateful LSTM.", QA,
        "The batch size must be 1 when using a stateful LSTM.  Larger batch sizes break the sequential processing.",
        "the cross-batch task with batch 1 (prev-sample) vs batch 4 (prev-batch), marker, horizon 2, the same 25,600 updates (25 vs 100 epochs)",
        OnlyWith("prev-sample marker, horizon 2, 25,600 updates", "prev-batch marker, horizon 2, 25,600 updates"),
        runs=("prev-batch marker, horizon 2, 25,600 updates", "prev-sample marker, horizon 2, 25,600 updates"),
    ),
    Claim(
        "9", "The state must be reset after each epoch, otherwise the model overfits to the order.", QA,
        "Failure to reset the state leads to the model essentially \"memorizing\" the previous epoch's data and consequently overfitting to the sequence order",
        "reset every epoch vs never: first-step stateful (5 epochs) and prev-batch marker horizon 2 (50 epochs), test accuracy",
        AllOf((
            Differs("first-step stateful, reset never", "first-step stateful", "less", epoch_b=4),
            Differs("prev-batch marker, horizon 2, reset never", "prev-batch marker, horizon 2", "less", metric="test_known_acc"),
        )),
        runs=("first-step stateful", "first-step stateful, reset never", "prev-batch marker, horizon 2", "prev-batch marker, horizon 2, reset never"),
    ),
    Claim(
        "10a", "Shuffling breaks a stateful LSTM (on first-step, where each label is in its own sample).", QA,
        "shuffling the training data before feeding it to a stateful LSTM is problematic.  The model expects sequential data; shuffling disrupts this inherent order.",
        "first-step, 5 epochs, samples reshuffled every epoch vs in order; stateful (and stateless for contrast)",
        Differs("first-step stateful, shuffled", "first-step stateful", "less", epoch_b=4),
        runs=("first-step stateful", "first-step stateful, shuffled", "first-step stateless", "first-step stateless, shuffled"),
        context=(Differs("first-step stateless, shuffled", "first-step stateless", "less"),),
    ),
    Claim(
        "10b", "Shuffling breaks a stateful LSTM (on prev-batch, where the label is in the previous batch).", QA,
        "shuffling the training data before feeding it to a stateful LSTM is problematic.",
        f"prev-batch, marker, horizon 2, {LONG} epochs, reshuffled every epoch vs in order",
        Differs("prev-batch marker, horizon 2, shuffled", "prev-batch marker, horizon 2", "less", metric="test_known_acc"),
        runs=("prev-batch marker, horizon 2", "prev-batch marker, horizon 2, shuffled"),
    ),
    Claim(
        "11", "Variable-length sequences must be padded to one length.", QA,
        "Each sequence must be of the same length, padded appropriately if necessary.",
        "variable-length first-bit classification: padding with masking vs packing with per-row resets (statecarry varlen), paired by seed",
        Given("variable-length"),
        measure=lambda seeds, run, record: {"variable-length": measure_varlen(seeds, record)},
    ),
    Claim(
        "12", "The Q&A's example: stateful with batch 32 is incorrect, batch 1 with a reset per epoch is correct.", QA,
        "This example demonstrates a common mistake. The `batch_size` is set to 32, violating the requirement of a stateful LSTM.",
        "random inputs 1000×10×1, random 0/1 labels, LSTM(64), BCE, Adam, 10 epochs, stateful; batch 32 (992 samples: 1000 is not divisible) vs batch 1; test on 256 fresh random samples",
        # a "correct" setup should do at least 5 points better on fresh data
        Differs("Q&A batch 1, reset per epoch", "Q&A batch 32", "greater", margin=0.05),
        runs=("Q&A batch 32", "Q&A batch 1, reset per epoch"),
        context=tuple(Reports(r, m) for r in ("Q&A batch 32", "Q&A batch 1, reset per epoch") for m in ("train_acc", "test_acc")),
        max_seeds=8,
    ),
    Claim(
        "13", "A stateful model tested on its own training data scores lower than its training log suggests.", QA,
        "Why does a Keras stateful LSTM model have low accuracy when tested on the training data?",
        "first-step stateful, 5 epochs: the last epoch's running train accuracy vs evaluating the trained model on the training set (state reset first, and kept)",
        Differs("evaluation, state reset", "training log", "less", metric="train_acc"),
        measure=measure_train_log,
        context=(Differs("evaluation, training state kept", "training log", "less", metric="train_acc"),),
    ),
    Claim(
        "14", "Time per epoch first falls, then rises, as the batch size grows.", BLOG,
        "The time spent per epoch will decrease first (due to better parallelism) and then start increasing (hardware limitation).",
        "first-step stateful, 16,384 samples, one seed, batch sizes " + ", ".join(map(str, BATCH_SIZES)) + " (statecarry on this CPU)",
        InteriorMinimum(tuple(f"batch {b}" for b in BATCH_SIZES)),
        measure=measure_batch_time,
    ),
    Claim(
        "15", "Batch 1, one step per call, a reset per sequence: it learns when the label is visible at the first step.", PUBLIC,
        "a stateful LSTM with batch 1, one step per call and a reset per sequence learns when the label is visible at the first step (reached 1.0)",
        "first-step samples streamed one step per call (batch 1, time_steps 1, gradient stops at every step), reset per sample; target at every step vs only at the last; accuracy at each sample's last step",
        Learns("one step per call, label at every step"),
        measure=measure_one_step,
        context=(Learns("one step per call, label at last step"),),
    ),
    *(
        Claim(id_, sentence, BLOG, quote, setup, Given("forecast"), max_seeds=16,
              measure=lambda seeds, run, record, which=which: measure_forecast(seeds, which, record))
        for which, (id_, sentence, quote, setup) in enumerate((
            ("16", "One-step forecasting with a single-time-step stateful LSTM is plain wrong.",
             "Trying to solve this problem with a single-time-step LSTM model is plain wrong.",
             "monthly Mauna Loa CO2 (shipped), LSTM with a linear head on the differenced series, every held-out value from the true history: stateful window 1 (horizon 1 and K) vs naive; one-step RMSE ratio, paired by seed"),
            ("17", "Use a multi-time-step (windowed) LSTM for one-step forecasting instead.",
             "To solve this problem we must use a multi-time-step LSTM network.",
             "same series: stateful window 1 vs stateless window 12; one-step RMSE ratio, paired by seed"),
            ("18", "Detrend the series first.",
             "the series must be detrended in the preprocessing stage",
             "same series: stateless window 12 on the raw vs the differenced series; one-step RMSE ratio, paired by seed"),
            ("19", "A (stateful) LSTM is a good one-step forecaster for a series like this.",
             "the practice the blog's forecasting section implies: forecast the series with a (stateful) LSTM",
             "same series: the best stateful LSTM vs the best of naive, seasonal naive, drift, seasonal naive + drift, ETS, SARIMA (0,1,1)(0,1,1)12, AR(p); one-step MASE ratio over every held-out origin, paired per origin and seed; confirmed if its 95% CI is at or below 1.05"),
        ))
    ),
    Claim(
        # Ben's point as the blog reports it: the state crosses the boundary, the gradient does not.
        # An intervention on the gradient alone (marker on, so the state knows where a sample
        # starts): horizon 1 must fail, and crossing the boundary must lift it well clear (by 0.2;
        # at 50 epochs only about half the seeds of horizon 2 or RTRL reach "solved").
        "20", "The state crosses the batch boundary but the gradient stops there, so horizon 1 cannot learn a label one batch back.", BLOG,
        "Ben points out that although making the LSTMs stateful does allow transfer of information across batches, the backpropagation cannot pass through batch boundary.",
        f"prev-batch with a start-of-sample marker, {LONG} epochs: horizon 1 fails, and horizon 2 and exact RTRL each beat it by ≥ 0.2 in determined test accuracy (paired by seed); SnAp-1 and UORO beside them",
        AllOf((
            Learns("prev-batch marker, horizon 1", expect=False),
            *(Differs(f"prev-batch marker, {m}", "prev-batch marker, horizon 1", "greater", metric="test_known_acc", margin=0.2)
              for m in ("horizon 2", "rtrl")),
        )),
        runs=("prev-batch marker, horizon 1", "prev-batch marker, horizon 2", "prev-batch marker, rtrl",
              "prev-batch marker, snap1", "prev-batch marker, uoro"),
        context=(
            *(Learns(f"prev-batch marker, {m}") for m in ("horizon 2", "rtrl", "snap1", "uoro")),
            *(Differs(f"prev-batch marker, {m}", "prev-batch marker, horizon 1", "greater", metric="test_known_acc", margin=0.2)
              for m in ("snap1", "uoro")),
        ),
    ),
)


def select(ids: str | None) -> tuple[Claim, ...]:
    """The claims named in "5,6,8" (all when None); an unknown id is a ConfigError."""
    if ids is None:
        return CLAIMS
    known = {c.id: c for c in CLAIMS}
    wanted = list(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))  # once each
    unknown = [i for i in wanted if i not in known]
    if unknown or not wanted:
        from ..errors import ConfigError

        parts = [k for k in known if unknown and k.rstrip("ab") == unknown[0] != k]  # 10: 10a and 10b
        hint = f" Claim {unknown[0]} has parts: {' and '.join(parts)}." if parts else ""
        raise ConfigError(f"unknown claim {', '.join(unknown) or repr(ids)}; the claims are {', '.join(known)}.{hint}")
    return tuple(known[i] for i in wanted)
