"""The rules: each reads a `Setup` and returns the findings it sees (none, most of the time)."""

from __future__ import annotations

import math

from .findings import Finding
from .setup import BLOG_PREV_BATCH_ACC, Setup, reset_interval


def check_setup(setup: Setup) -> list[Finding]:
    """Every rule on sizes and flags; the order is the order to fix them in."""
    findings: list[Finding] = []
    for rule in RULES:
        findings += rule(setup)
    return findings


def _divides(s: Setup) -> list[Finding]:
    out = []
    b = s.batch_size
    for name, n in (("training set", s.n_train), ("validation set", s.n_validation)):
        if not s.stateful or n is None or n % b == 0:
            continue
        lower, upper = n - n % b, n - n % b + b
        out.append(
            Finding(
                "batch-size-divides",
                "error",
                f"batch_size {b} does not divide the {name} ({n} samples): the last batch has only "
                f"{n % b} samples, which a stateful layer built for {b} rows rejects (or, with a "
                "flexible batch size, its rows stop lining up with the streams).",
                f"use {f'{lower} or ' if lower else ''}{upper} samples, or a batch_size that divides {n} "
                f"(e.g. {_divisor_near(n, b)}).",
            )
        )
    return out


NEAR_DIVISOR_STEPS = 100_000  # sizes checked either side of b: instant, also for 23-digit n


def _divisor_near(n: int, b: int) -> int:
    """The divisor of `n` nearest `b` (the smaller on a tie), without listing n's divisors.

    1 divides everything, so the answer is at most b - 1 away: stepping outward from b finds it
    after at most that many steps, exact for any b up to NEAR_DIVISOR_STEPS. Past that (a batch
    size of millions) we stop there and fall back on gcd(n, b), a divisor of n in closed form."""
    for step in range(min(b, NEAR_DIVISOR_STEPS + 1)):
        for d in (b - step, b + step):
            if 0 < d <= n and n % d == 0:
                return d
    return math.gcd(n, b)


def _model_batch(s: Setup) -> list[Finding]:
    if s.model_batch_size is None or s.model_batch_size == s.batch_size:
        return []
    return [
        Finding(
            "model-batch-size",
            "error",
            f"the model was built for batches of {s.model_batch_size} but fit gets batch_size "
            f"{s.batch_size}: a stateful layer keeps one state row per batch row, so this fails or "
            "carries state between the wrong rows.",
            f"pass batch_size={s.model_batch_size} to fit, or rebuild the model with "
            f"batch_shape=({s.batch_size}, ...).",
        )
    ]


def _shuffle(s: Setup) -> list[Finding]:
    if not (s.stateful and s.shuffle):
        return []
    return [
        Finding(
            "shuffle-stateful",
            "error",
            "shuffle=True (fit's default) reorders the samples every epoch, so the state carried to "
            "row i of the next batch comes from an unrelated sample: the carried state is noise.",
            "fit(..., shuffle=False); to shuffle, shuffle whole streams (rows) between epochs, never "
            "samples. statecarry run --shuffle shows the damage with numbers.",
        )
    ]


def _reset(s: Setup) -> list[Finding]:
    if not s.stateful:
        return []
    n_batches = s.n_batches
    interval = reset_interval(s.reset, n_batches)
    # --reset epoch without --n-train: it resets, but how many batches apart is not known
    epochs_unknown = s.reset == "epoch" and n_batches is None
    out = []
    if interval is None and not epochs_unknown:
        out.append(
            Finding(
                "no-reset",
                "warning",
                "nothing resets the state: the end of one epoch flows into the first batch of the "
                "next, and evaluation or prediction starts from wherever training stopped.",
                "reset at the start of every epoch (a callback whose on_epoch_begin calls "
                "layer.reset_state()), or statecarry run --reset epoch.",
            )
        )
    elif interval == 1:
        out.append(
            Finding(
                "reset-every-batch",
                "info",
                "the state is reset before every batch, so nothing crosses a batch boundary: this is "
                "a stateless layer with extra bookkeeping.",
                "use stateful=False (simpler, and any batch size works at inference).",
            )
        )
    seq = s.batches_per_sequence
    if seq is not None and (n_batches is None or seq < n_batches):
        if seq == 1 and interval != 1:
            out.append(
                Finding(
                    "state-leaks",
                    "error",
                    "every sample is an independent sequence, yet the stateful layer hands each "
                    "sample's final state to the sample in the same row of the next batch: unrelated "
                    "history leaks into every prediction.",
                    "use stateful=False (or reset before every batch).",
                )
            )
        elif seq > 1 and (interval is None or seq % interval):
            out.append(
                Finding(
                    "state-leaks",
                    "error",
                    f"a sequence spans {seq} batches but the state is "
                    + ("reset only where an epoch starts" if epochs_unknown else "never reset" if interval is None
                       else f"reset every {interval} batches")
                    + ": the end of one sequence flows into the start of the next, unrelated one.",
                    f"reset every {seq} batches (on_train_batch_begin: reset when batch % {seq} == 0), "
                    "or lay sequences of different lengths out with statecarry's packing, which resets "
                    "each row where its sequence starts.",
                )
            )
        if seq > 1 and interval is not None and interval < seq:  # a leak too, where seq % interval
            out.append(
                Finding(
                    "reset-inside-sequence",
                    "warning",
                    f"the state is reset every {interval} batches, inside sequences that span {seq}: "
                    f"nothing older than {interval} batches can reach a prediction.",
                    f"reset every {seq} batches, at sequence starts only.",
                )
            )
    return out


def _validation(s: Setup) -> list[Finding]:
    validates = s.validation or s.n_validation is not None
    if not s.stateful or not (validates or s.evaluates):
        return []
    calls = " and ".join(
        c for c, on in (("validation_data", validates), ("evaluate/predict", s.evaluates)) if on
    )
    interval = reset_interval(s.reset, s.n_batches)
    # Does a reset fall on every epoch start, wiping what the evaluation left behind?
    resets_each_epoch = s.reset in ("epoch", "batch") or (
        interval is not None and s.n_batches is not None and s.n_batches % interval == 0
    )
    return [
        Finding(
            "eval-overwrites-state",
            "warning" if resets_each_epoch else "error",
            f"{calls} run(s) the same stateful layer: the evaluation starts from the training state and "
            "leaves its own state behind"
            + (
                ", which the next epoch's training then continues from."
                if not resets_each_epoch
                else "; the epoch reset hides it from training, but the evaluation's numbers depend on "
                "where training stopped."
            ),
            "reset the state before and after evaluating (on_test_begin/on_test_end → "
            "layer.reset_state()), or evaluate a copy (clone_model + set_weights); statecarry's "
            "evaluate keeps its own state and never touches the training state.",
        )
    ]


def _label_lag(s: Setup) -> list[Finding]:
    lag, b = s.label_lag, s.batch_size
    if lag == 0:
        return []
    if not s.stateful:
        return [
            Finding(
                "label-needs-state",
                "error",
                f"each label depends on the sample {lag} earlier, but a stateless layer sees one sample "
                "at a time: no model can learn it (expect chance accuracy).",
                f"make the layer stateful with batch_size dividing {lag}, or give each sample the "
                f"{lag} samples before it (longer windows).",
            )
        ]
    if lag % b:
        # a batch size that divides the lag, and n_train too where given (else batch-size-divides)
        d = _divisor_near(math.gcd(lag, s.n_train) if s.n_train else lag, b)
        return [
            Finding(
                "label-other-row",
                "error",
                f"each label depends on the sample {lag} earlier, which sits in row (n - {lag}) % {b}, a "
                "different row: state flows only along a row, so nothing can carry it there.",
                f"use a batch_size that divides {lag}{f' and n_train {s.n_train}' if s.n_train else ''} "
                f"(batch_size={d} puts it {lag // d} batch(es) back in the same row), or longer windows.",
            )
        ]
    k = lag // b
    horizon = k + 1
    interval = reset_interval(s.reset, s.n_batches)
    reset_note = fix_first = ""
    if interval is not None and interval <= k:
        reset_note = f" Worse, the state is reset every {interval} batch(es), before it gets there."
        fix_first = (f"first make an epoch longer than {k} batch(es) (more samples), since the state is reset at "
                     "every epoch's start; then " if s.reset == "epoch" else
                     f"first stop resetting every {interval} batch(es) (a label needs the state of {k} batch(es) "
                     "back: reset at epoch starts only); then ")  # fmt: skip
    return [
        Finding(
            "gradient-stops",
            "error",
            f"each label depends on the sample in the same row {k} batch(es) back, but Keras stops the "
            "gradient at every batch boundary, so nothing teaches the layer to keep that information: "
            f"expect about chance accuracy (the blog's prev-batch: {BLOG_PREV_BATCH_ACC} after 5 "
            "epochs)." + reset_note,
            f"{fix_first}train with a gradient that crosses {k} boundar{'y' if k == 1 else 'ies'}: statecarry run "
            f"--mode stateful --horizon {horizon} (or --mode rtrl, exact through all history); with "
            "random inputs add --marker so the model can find where each sample starts.",
        )
    ]


RULES = (_model_batch, _divides, _shuffle, _reset, _validation, _label_lag)
