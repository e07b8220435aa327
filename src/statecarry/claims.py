"""The claims about stateful LSTMs, as data, and the runs that test them.

A `Claim` is a sentence, its source (with the exact words), the runs that test it and a
verdict rule (`verdicts.py`) over the seeds' results. `check(claims, seeds)` runs every config
the claims need once (a run of the same config for more epochs contains the shorter one), then
judges each claim. Adding a claim is adding a row to `CLAIMS`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import stats
from .config import Config
from .data.layout import Batches
from .verdicts import AllOf, Differs, Given, InteriorMinimum, Learns, OnlyWith, Reports, Rule, Verdict

BLOG = "blog"  # shared/sources/000: the stateful-LSTM experiments
QA = "Q&A"  # shared/sources/003: "Why does a Keras stateful LSTM model have low accuracy …"
PUBLIC = "public experiment"  # Philippe Remy's stateful LSTM example, cited by the blog

LONG = 50  # epochs for "train longer" runs (the prototype table goes to 50)


# -- the configs the claims use -----------------------------------------------------------------

FS = Config(task="first-step")
PB = Config(task="prev-batch")
RUNS: dict[str, Config] = {
    "first-step stateless": FS.replace(mode="stateless"),
    "first-step stateful": FS.replace(mode="stateful", epochs=LONG),
    "first-step stateful, marker": FS.replace(mode="stateful", marker=True, epochs=LONG),
    "first-step stateful, reset never": FS.replace(mode="stateful", reset="never"),
    "first-step stateless, shuffled": FS.replace(mode="stateless", shuffle=True),
    "first-step stateful, shuffled": FS.replace(mode="stateful", shuffle=True),
    "prev-batch stateless": PB.replace(mode="stateless"),
    "prev-batch stateful": PB.replace(mode="stateful", epochs=LONG),
    "prev-batch horizon 2": PB.replace(horizon=2, epochs=LONG),
    "prev-batch horizon 4": PB.replace(horizon=4, epochs=LONG),
    "prev-batch rtrl": PB.replace(mode="rtrl", epochs=LONG),
    "prev-batch marker, horizon 1": PB.replace(marker=True, epochs=LONG),
    "prev-batch marker, horizon 2": PB.replace(marker=True, horizon=2, epochs=LONG),
    "prev-batch marker, rtrl": PB.replace(marker=True, mode="rtrl", epochs=LONG),
    "prev-batch marker, horizon 2, c only": PB.replace(marker=True, horizon=2, carry="c", epochs=LONG),
    "prev-batch marker, horizon 2, reset never": PB.replace(marker=True, horizon=2, reset="never", epochs=LONG),
    "prev-batch marker, horizon 2, shuffled": PB.replace(marker=True, horizon=2, shuffle=True, epochs=LONG),
    "prev-sample stateful": Config(task="prev-sample", batch_size=1),
    "prev-sample marker, horizon 2": Config(task="prev-sample", batch_size=1, marker=True, horizon=2, epochs=LONG),
    # claim 8 at an equal number of updates: 100 epochs of 256 batches = 25 epochs of 1,024
    "prev-batch marker, horizon 2, 25,600 updates": PB.replace(marker=True, horizon=2, epochs=100),
    "prev-sample marker, horizon 2, 25,600 updates": Config(task="prev-sample", batch_size=1, marker=True, horizon=2, epochs=25),
    # The Q&A's examples as written: LSTM(64), BCE, 10 epochs, 1000 x 10 x 1 random inputs.
    # Its batch 32 does not divide 1000 (Keras refuses a partial batch when stateful): 992.
    "Q&A batch 32": Config(task="random-labels", units=64, loss="bce", epochs=10, time_steps=10, n_train=992, n_test=256, batch_size=32),
    "Q&A batch 1, reset per epoch": Config(task="random-labels", units=64, loss="bce", epochs=10, time_steps=10, n_train=1000, n_test=256, batch_size=1),
}


# -- custom measurements (a claim that is not just "run these configs") ------------------------


def _one_step_stream(config: Config, seed: int, every_step: bool) -> tuple[Batches, Batches]:
    """Philippe Remy's setup: first-step samples fed one step per call (batch 1, time_steps 1),
    the state reset at each sample's first step; the label is the target at every step
    (`every_step`) or only at the last. Accuracy that counts is at each sample's last step."""
    from .data.tasks import make_samples

    samples = make_samples(config.replace(time_steps=5, n_train=config.n_train // 5, n_test=config.n_test // 5), seed)

    def stream(s) -> Batches:
        n, t, f = s.x.shape
        x = s.x.reshape(n * t, 1, 1, f)
        y = np.repeat(s.y, t, axis=0).reshape(n * t, 1, 1, 1)
        step = np.tile(np.arange(t), n).reshape(n * t, 1, 1)
        last = step == t - 1
        weight = np.ones_like(last, np.float32) if every_step else last.astype(np.float32)
        return Batches(x, y, step == 0, weight, last)

    return stream(samples[0]), stream(samples[1])


def one_step_label_every_step(config: Config, seed: int) -> tuple[Batches, Batches]:
    return _one_step_stream(config, seed, every_step=True)


def one_step_label_last_step(config: Config, seed: int) -> tuple[Batches, Batches]:
    return _one_step_stream(config, seed, every_step=False)


ONE_STEP = Config(task="first-step", batch_size=1, time_steps=1, n_train=1024 * 5, n_test=256 * 5, epochs=5)


def measure_one_step(seeds: Sequence[int], run, record=None) -> dict:
    every = run(ONE_STEP, seeds, make_data=one_step_label_every_step)
    last = run(ONE_STEP, seeds, make_data=one_step_label_last_step)
    return {"one step per call, label at every step": every.metrics, "one step per call, label at last step": last.metrics}


def measure_train_log(seeds: Sequence[int], run, record=None) -> dict:
    """The epoch's running training accuracy (Keras' log) against a fresh evaluation of the
    trained model on the same training set, with the state reset first and without."""
    from .core.predict import evaluate
    from .runner import model_of, seed_batches, train_of

    config = RUNS["first-step stateful"].replace(epochs=5)
    history = run(config, seeds, keep_final=True)
    params, state = history.final_carry
    model, train = model_of(config), train_of(config)
    pick = lambda tree, k: jax_free_pick(tree, k)  # noqa: E731
    reset, kept = [], []
    for k, seed in enumerate(seeds):
        data = seed_batches(config, seed)[0]
        reset.append(evaluate(pick(params, k), data, model, train)[0]["acc"])
        kept.append(evaluate(pick(params, k), data, model, train, state=pick(state, k))[0]["acc"])
    def after_last_epoch(values: list[float]) -> np.ndarray:
        # evaluated once, after the last epoch: earlier epochs have no value (NaN), so the
        # verdict reads "epoch 5" for both sides
        rows = np.full((config.epochs, len(seeds)), np.nan, np.float32)
        rows[-1] = values
        return rows

    return {
        "training log": {"train_acc": history.metrics["train_acc"]},
        "evaluation, state reset": {"train_acc": after_last_epoch(reset)},
        "evaluation, training state kept": {"train_acc": after_last_epoch(kept)},
    }


def jax_free_pick(tree, k: int):
    """Seed k's slice of a pytree of NumPy arrays (a Fit's params or state)."""
    if isinstance(tree, dict):
        return {key: jax_free_pick(v, k) for key, v in tree.items()}
    if isinstance(tree, tuple):
        parts = [jax_free_pick(v, k) for v in tree]
        return type(tree)(*parts) if hasattr(tree, "_fields") else tuple(parts)
    return np.asarray(tree)[k]


def measure_batch_time(seeds: Sequence[int], run, record=None) -> dict:
    """Seconds per epoch (train + test pass) over batch sizes on a fixed data set of 16,384
    samples, one seed: the fastest of epochs 2-5 (epoch ends are timed), so neither the
    compile nor a stray pause elsewhere counts."""
    out = {}
    for b in BATCH_SIZES:
        config = FS.replace(mode="stateful", batch_size=b, epochs=5, n_train=16384, n_test=1024)
        stamps = []
        run(config, [0], on_epoch=lambda e, m: stamps.append(time.perf_counter()))
        out[f"batch {b}"] = {"seconds_per_epoch": np.array([np.diff(stamps).min()])}
    return out


BATCH_SIZES = (1, 4, 16, 64, 256, 1024)


def measure_carry(seeds: Sequence[int], run, record=None) -> dict:
    """What a Keras stateful LSTM carries: our forward with h and c carried vs c only, against
    Keras' own outputs; plus the learning effect on the cross-batch task."""
    from . import keras_probe

    out = {
        name: run(RUNS[name], seeds).metrics
        for name in ("prev-batch marker, horizon 2", "prev-batch marker, horizon 2, c only")
    }
    out["keras"] = keras_probe.compare()
    return out


@dataclass(frozen=True)
class KerasCarriesBoth:
    """Refuted when our forward pass matches Keras only with h carried too (to 1e-5), and
    carrying c alone moves the outputs by more than 1e-4."""

    def judge(self, evidence) -> Verdict:
        probe = evidence.get("keras") or {}
        if not probe:
            return Verdict("inconclusive", "no Keras outputs to compare with", {})
        both = float(probe["max |keras - ours|, h and c carried"][0])
        c_only = float(probe["max |keras - ours|, c only"][0])
        if both < 1e-5 and c_only > 1e-4:
            verdict = "refuted"
        elif c_only < 1e-5 and both > 1e-4:
            verdict = "confirmed"
        else:
            verdict = "inconclusive"
        return Verdict(
            verdict,
            f"second batch vs Keras LSTM(stateful=True) ({probe.get('source', 'Keras')}): carrying h and c differs by {both:.1e}, carrying c only by {c_only:.1e}",
            {"both": both, "c_only": c_only},
        )


def measure_varlen(seeds: Sequence[int], record=None) -> dict:
    from . import varlen
    from .recording import unrecorded

    # 40 epochs: at the module's default 20 a few packed seeds are still converging
    verdict, measured, _ = varlen.claim11(list(seeds), varlen.Setup(epochs=40), record=record or unrecorded)
    return {"verdict": verdict, "measured": measured}


_FORECASTS: dict = {}


def measure_forecast(seeds: Sequence[int], which: int, record=None) -> dict:
    """The forecasting comparison on the shipped CO2 series (run once for all three claims)."""
    from . import forecast
    from .recording import unrecorded

    key = tuple(seeds)
    if key not in _FORECASTS:
        _FORECASTS.clear()
        comparison = forecast.compare(forecast.default_series(), list(seeds), record=record or unrecorded)
        _FORECASTS[key] = forecast.claims(comparison)
    v = _FORECASTS[key][which]
    return {"forecast": {"verdict": v.verdict, "measured": v.measured}}


# -- the claims ---------------------------------------------------------------------------------


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
        runs=("prev-batch horizon 2", "prev-batch horizon 4", "prev-batch rtrl", "prev-batch marker, horizon 1", "prev-batch marker, horizon 2", "prev-batch marker, rtrl"),
        context=(Learns("prev-batch horizon 4"), Learns("prev-batch rtrl"), Learns("prev-batch marker, rtrl")),
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
             "monthly Mauna Loa CO2 (shipped), differenced, held-out tail: stateful window 1 (horizon 1 and K) vs persistence; one-step RMSE ratio, paired by seed"),
            ("17", "Use a multi-time-step (windowed) LSTM for one-step forecasting instead.",
             "To solve this problem we must use a multi-time-step LSTM network.",
             "same series: stateful window 1 vs stateless window 12; one-step RMSE ratio, paired by seed"),
            ("18", "Detrend the series first.",
             "the series must be detrended in the preprocessing stage",
             "same series: stateless window 12 on the raw vs the differenced series; one-step RMSE ratio, paired by seed"),
        ))
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
        from .errors import ConfigError

        raise ConfigError(f"unknown claim {', '.join(unknown) or repr(ids)}; the claims are {', '.join(known)}.")
    return tuple(known[i] for i in wanted)


# -- running them --------------------------------------------------------------------------------


@dataclass
class ClaimResult:
    claim: Claim
    verdict: Verdict
    context: list[Verdict]
    seconds: float
    seeds: int

    def to_json(self) -> dict:
        c = self.claim
        return {
            "id": c.id,
            "claim": c.sentence,
            "source": c.source,
            "quote": c.quote,
            "setup": c.setup,
            "measured": self.verdict.measured,
            "verdict": self.verdict.verdict,
            "numbers": self.verdict.numbers,
            "context": [v.to_json() for v in self.context],
            "seeds": self.seeds,
            "seconds": self.seconds,
        }


class RunCache:
    """Runs each config once per seed list; a shorter run of the same config is a slice."""

    def __init__(self, run_fn: Callable, on_run: Callable | None = None):
        self.run_fn = run_fn
        self.on_run = on_run
        self.histories: dict = {}

    def __call__(self, config: Config, seeds: Sequence[int], **kwargs):
        if kwargs:  # custom data or kept carries: not shareable
            return self.run_fn(config, seeds, **kwargs)
        key = (config.replace(epochs=1), tuple(seeds))
        have = self.histories.get(key)
        if have is None or have.epochs < config.epochs:
            have = self.run_fn(config, seeds)
            self.histories[key] = have
            if self.on_run:
                self.on_run(config, have)
        return have.upto(config.epochs)


def check(
    claims: Sequence[Claim] = CLAIMS,
    seeds: Sequence[int] = range(32),
    run: Callable | None = None,
    on_claim: Callable[[ClaimResult], None] | None = None,
    record: Callable | None = None,
) -> list[ClaimResult]:
    """Run what the claims need over `seeds` and judge each claim. `run` trains a blog config
    (`runner.run`, or one that stores and resumes); `record` stores the other experiments'
    runs (varlen, forecast; see `recording.py`)."""
    if run is None:
        from . import runner

        run = RunCache(runner.run)
    results = []
    for claim in claims:
        t0 = time.perf_counter()
        claim_seeds = list(seeds)[: claim.max_seeds] if claim.max_seeds else list(seeds)
        evidence = {}
        for name in claim.runs:
            evidence[name] = run(RUNS[name], claim_seeds).metrics
        if claim.measure is not None:
            evidence.update(claim.measure(claim_seeds, run, record))
        result = ClaimResult(
            claim,
            claim.rule.judge(evidence),
            [r.judge(evidence) for r in claim.context],
            time.perf_counter() - t0,
            len(claim_seeds),
        )
        results.append(result)
        if on_claim:
            on_claim(result)
    return results


# -- the blog's four experiments, beside the numbers it reported --------------------------------


@dataclass(frozen=True)
class Experiment:
    name: str
    config: Config
    reported: float | None = None  # the source's final test accuracy, when it gave one
    source: str = BLOG


BLOG_EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("first-step, stateless", Config(task="first-step", mode="stateless"), 1.00),
    Experiment("first-step, stateful", Config(task="first-step", mode="stateful"), 0.66),
    Experiment("prev-batch, stateless", Config(task="prev-batch", mode="stateless"), 0.50),
    Experiment("prev-batch, stateful", Config(task="prev-batch", mode="stateful"), 0.51),
)


@dataclass
class ExperimentResult:
    experiment: Experiment
    test_acc: stats.Summary  # final epoch, over seeds
    known_acc: stats.Summary  # final epoch, on targets the inputs determine
    solved: stats.Summary  # fraction of seeds with test accuracy >= stats.SOLVED
    seconds: float
    history: object = field(repr=False)  # runner.History

    def to_json(self) -> dict:
        return {
            "experiment": self.experiment.name,
            "source": self.experiment.source,
            "reported_test_acc": self.experiment.reported,
            "test_acc": self.test_acc._asdict(),
            "known_test_acc": self.known_acc._asdict(),
            "solved": self.solved._asdict(),
            "seconds": self.seconds,
            "config": self.experiment.config.to_dict(),
        }


def reproduce(
    seeds: Sequence[int],
    experiments: Sequence[Experiment] = BLOG_EXPERIMENTS,
    epochs: int | None = None,
    run: Callable | None = None,
) -> list[ExperimentResult]:
    """Run every experiment over `seeds` (all seeds of one experiment in one program)."""
    if run is None:
        from . import runner

        run = runner.run
    results = []
    for exp in experiments:
        config = exp.config if epochs is None else exp.config.replace(epochs=epochs)
        t0 = time.perf_counter()
        history = run(config, list(seeds))
        acc = history.final("test_acc")
        results.append(
            ExperimentResult(
                exp,
                stats.mean_ci(acc, bounds=stats.ACCURACY),
                stats.mean_ci(history.final("test_known_acc"), bounds=stats.ACCURACY),
                stats.solved_fraction(acc),
                time.perf_counter() - t0,
                history,
            )
        )
    return results
