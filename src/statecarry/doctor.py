"""`statecarry doctor`: check a stateful Keras setup before it trains for an hour on garbage.

Two entry points share one set of rules:

    check(model, x, y, batch_size=..., shuffle=..., validation_data=..., reset=..., label_lag=...)
        -> list[Finding]      from Python, with a Keras model and the data it will be fit on
    check_setup(Setup(n_train=..., batch_size=..., ...)) -> list[Finding]
        the same rules on sizes and flags (what `statecarry doctor --n-train ...` uses)
    probe_keras() -> Probe    does the installed Keras backend really carry state?

A `Finding` says what will go wrong and how to fix it. `error`: training will silently learn
the wrong thing or crash; `warning`: results depend on something the user probably did not
mean; `info`: worth knowing. The CLI exits with 1 when any finding is an error, else 0.

Keras is optional: it is imported only by `check` (to read the model) and by the probe. The
probe found, on Keras 3.15 with the JAX backend, that a direct call carries the state but
`fit`, `predict` and `evaluate` never do: every batch starts from zeros and the layer's state
variables stay zero, so `stateful=True` trains exactly like `stateful=False` there.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from .errors import ConfigError, DataError

Severity = Literal["error", "warning", "info"]
KERAS_FIT_BATCH_SIZE = 32  # Keras' default when fit is not given a batch_size
BLOG_PREV_BATCH_ACC = 0.51  # the blog's stateful prev-batch test accuracy after 5 epochs


@dataclass(frozen=True)
class Finding:
    code: str  # stable identifier, e.g. "shuffle-stateful"
    severity: Severity
    message: str  # what will go wrong, with the numbers
    fix: str  # what to do instead

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Setup:
    """A training setup described by sizes and flags (no model, no data).

    `reset` is when the training state is zeroed: None or "never" (Keras' default: fit never
    resets), "epoch", "batch", or a whole number N = every N batches. `label_lag`: the label
    of sample n depends on sample n - label_lag (0 = on the sample itself). A sample's "row" is
    n % batch_size: state flows only along a row. `batches_per_sequence`: how many consecutive
    batches one independent sequence spans (None = each row is one stream through the epoch;
    1 = every sample is its own independent sequence).
    """

    n_train: int | None = None
    batch_size: int = KERAS_FIT_BATCH_SIZE
    stateful: bool = True
    shuffle: bool = True  # Keras' fit shuffles unless told not to
    n_validation: int | None = None  # samples of validation_data; None = no validation
    validation: bool = False  # validates during fit (size unknown)
    evaluates: bool = False  # calls evaluate/predict on the training model between epochs
    reset: str | int | None = None
    label_lag: int = 0
    batches_per_sequence: int | None = None
    model_batch_size: int | None = None  # the batch size the model was built for, if fixed

    def __post_init__(self) -> None:
        for name in ("n_train", "n_validation", "batches_per_sequence", "model_batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(
                    f"{name.replace('_', '-')} must be a positive whole number, got {value!r}."
                )
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(
                f"batch-size must be a positive whole number, got {self.batch_size!r}."
            )
        if not isinstance(self.label_lag, int) or self.label_lag < 0:
            raise ConfigError(
                f"label-lag must be a whole number ≥ 0 (samples back), got {self.label_lag!r}."
            )
        reset_interval(self.reset, 1)  # validates

    @property
    def n_batches(self) -> int | None:
        return None if self.n_train is None else self.n_train // self.batch_size


def reset_interval(reset: str | int | None, n_batches: int | None) -> int | None:
    """How many batches lie between two resets (None: never)."""
    if reset in (None, "never"):
        return None
    if reset == "batch":
        return 1
    if reset == "epoch":
        return n_batches
    if isinstance(reset, int) and not isinstance(reset, bool) and reset >= 1:
        return reset
    raise ConfigError(
        f"unknown reset {reset!r}; use 'never', 'epoch', 'batch' or a number of batches."
    )


# -- the rules -------------------------------------------------------------------------------
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
                f"use {lower if lower else upper} or {upper} samples, or a batch_size that divides {n} "
                f"(e.g. {_divisor_near(n, b)}).",
            )
        )
    return out


def _divisor_near(n: int, b: int) -> int:
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(d - b), d))


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
    out = []
    if interval is None:
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
                    + ("never reset" if interval is None else f"reset every {interval} batches")
                    + ": the end of one sequence flows into the start of the next, unrelated one.",
                    f"reset every {seq} batches (on_train_batch_begin: reset when batch % {seq} == 0), "
                    "or lay sequences of different lengths out with statecarry's packing, which resets "
                    "each row where its sequence starts.",
                )
            )
        elif interval is not None and interval < seq:
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
        return [
            Finding(
                "label-other-row",
                "error",
                f"each label depends on the sample {lag} earlier, which sits in row (n - {lag}) % {b}, a "
                "different row: state flows only along a row, so nothing can carry it there.",
                f"use a batch_size that divides {lag} (batch_size={_divisor_near(lag, b)} puts it "
                f"{lag // _divisor_near(lag, b)} batch(es) back in the same row), or longer windows.",
            )
        ]
    k = lag // b
    horizon = k + 1
    interval = reset_interval(s.reset, s.n_batches)
    reset_note = ""
    if interval is not None and interval <= k:
        reset_note = f" Worse, the state is reset every {interval} batch(es), before it gets there."
    return [
        Finding(
            "gradient-stops",
            "error",
            f"each label depends on the sample in the same row {k} batch(es) back, but Keras stops the "
            "gradient at every batch boundary, so nothing teaches the layer to keep that information: "
            f"expect about chance accuracy (the blog's prev-batch: {BLOG_PREV_BATCH_ACC} after 5 "
            "epochs)." + reset_note,
            f"train with a gradient that crosses {k} boundar{'y' if k == 1 else 'ies'}: statecarry run "
            f"--mode stateful --horizon {horizon} (or --mode rtrl, exact through all history); with "
            "random inputs add --marker so the model can find where each sample starts.",
        )
    ]


RULES = (_model_batch, _divides, _shuffle, _reset, _validation, _label_lag)


# -- labels that depend on earlier samples, found in the data -----------------------------------
def detect_label_lag(
    x: np.ndarray, y: np.ndarray, max_lag: int = 64, threshold: float = 0.9
) -> tuple[int, float] | None:
    """The smallest lag L ≥ 1 at which some input step of sample n - L predicts y[n] far better
    than any input of sample n itself (|correlation| ≥ threshold); None when there is none.

    Returns (L, correlation). A cheap screen for the blog's prev-batch/prev-sample kind of data.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, 0]
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or len(x) != len(y) or len(x) < 8:
        return None
    flat = x.reshape(len(x), -1)

    def best(lag: int) -> float:
        a, t = flat[: len(flat) - lag], y[lag:]
        a = a - a.mean(0)
        t = t - t.mean()
        norm = np.sqrt((a * a).sum(0) * (t * t).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.where(norm > 0, (a * t[:, None]).sum(0) / norm, 0.0)
        return float(np.abs(corr).max())

    here = best(0)
    for lag in range(1, min(max_lag, len(x) // 4) + 1):
        c = best(lag)
        if c >= threshold and c > here + 0.2:
            return lag, c
    return None


# -- does this Keras really carry state? ---------------------------------------------------------
class Probe(NamedTuple):
    keras_version: str
    backend: str
    call_carries: bool  # two direct calls on the same input differ
    predict_carries: bool  # predict's second batch continues from the first
    fit_moves_state: bool  # after one epoch of fit the state variables are no longer zero


class ProbeFailed(NamedTuple):
    reason: str  # why Keras could not be imported


def probe_findings(probe: Probe | ProbeFailed | None) -> list[Finding]:
    """What a probe result means for the user (None: Keras is not installed)."""
    if probe is None:
        return [
            Finding(
                "keras-missing",
                "info",
                "Keras is not installed, so the backend was not probed.",
                "pip install keras, then run statecarry doctor again.",
            )
        ]
    if isinstance(probe, ProbeFailed):
        return [
            Finding(
                "keras-import-failed",
                "warning",
                f"Keras is installed but does not import ({probe.reason}), so the backend was not probed.",
                "set KERAS_BACKEND to a backend that is installed, e.g. KERAS_BACKEND=jax statecarry doctor ...",
            )
        ]
    where = f"Keras {probe.keras_version} with the {probe.backend} backend"
    if not probe.call_carries:
        return [
            Finding(
                "keras-call-no-state",
                "error",
                f"on {where}, a stateful LSTM called twice on the same input gives the same output: "
                "the state is not carried even between direct calls.",
                "carry the state yourself (return_state=True and initial_state=...), or use statecarry.",
            )
        ]
    if probe.fit_moves_state and probe.predict_carries:
        return []
    evidence = []
    if not probe.fit_moves_state:
        evidence.append("after an epoch of fit the layer's state is still all zeros")
    if not probe.predict_carries:
        evidence.append("predict's second batch equals a fresh start, not the carried state")
    return [
        Finding(
            "keras-fit-no-state",
            "error",
            f"on {where}, direct calls carry the state but fit/predict do not ({'; '.join(evidence)}): "
            "every batch starts from zeros, so stateful=True trains like stateful=False.",
            "reset/carry manually (a loop of direct calls with your own optimizer step) or use "
            "statecarry (statecarry run TASK --mode stateful), whose state is explicit.",
        )
    ]


@functools.lru_cache(maxsize=1)
def probe_keras() -> Probe | ProbeFailed | None:
    """Build a tiny stateful LSTM and watch its state: direct calls, predict, and fit.

    Takes a few seconds (Keras import and compile); the result is cached per process. None
    when Keras is not installed; ProbeFailed when it is but cannot be imported (its configured
    backend is missing).
    """
    import importlib.util

    if importlib.util.find_spec("keras") is None:
        return None
    try:
        import keras
    except ImportError as e:
        return ProbeFailed(f"{type(e).__name__}: {e}")
    backend = keras.backend.backend()
    if backend == "jax":  # Keras' own layers broadcast ranks; allow it whatever the user set
        import jax

        with jax.numpy_rank_promotion("allow"):
            return _probe(keras, backend)
    return _probe(keras, backend)


def _probe(keras: Any, backend: str) -> Probe:
    b, t = 2, 3
    model = keras.Sequential(
        [
            keras.Input(batch_shape=(b, t, 1)),
            keras.layers.LSTM(2, stateful=True),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    lstm = model.layers[0]
    x = np.ones((b, t, 1), np.float32)
    first, second = np.asarray(model(x)), np.asarray(model(x))
    call_carries = bool(np.abs(first - second).max() > 1e-6)
    lstm.reset_state()
    predicted = model.predict(np.concatenate([x, x]), batch_size=b, verbose=0)
    predict_carries = call_carries and bool(np.allclose(predicted[b:], second, atol=1e-5))
    lstm.reset_state()
    rng = np.random.default_rng(0)
    model.fit(
        rng.random((4 * b, t, 1), dtype=np.float32),
        np.ones((4 * b, 1), np.float32),
        batch_size=b,
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    moved = any(np.abs(np.asarray(v.value)).max() > 0 for v in lstm.states)
    lstm.reset_state()
    return Probe(keras.__version__, backend, call_carries, predict_carries, bool(moved))


# -- from Python, with a Keras model ------------------------------------------------------------
def check(
    model: Any,
    x: Any,
    y: Any,
    *,
    batch_size: int | None = None,
    shuffle: bool = True,
    validation_data: Any = None,
    reset: str | int | None = None,
    label_lag: int | None = None,
    batches_per_sequence: int | None = None,
    evaluates: bool = False,
    probe: bool = True,
) -> list[Finding]:
    """Check a Keras model and the data it will be fit on; arguments mirror `model.fit`.

    `shuffle` defaults to True as in fit. `label_lag=None` looks for labels that depend on an
    earlier sample in the data itself (`detect_label_lag`); give 0 to skip. `probe=False`
    skips the backend probe (a few seconds). See `Setup` for `reset` and the other flags.
    """
    n = _length(x, "x")
    if _length(y, "y") != n:
        raise DataError(
            f"x has {n} samples but y has {_length(y, 'y')}; give one label per sample."
        )
    layers = list(_layers(model))
    stateful = any(getattr(layer, "stateful", False) for layer in layers)
    model_batch = _model_batch_size(model)
    findings: list[Finding] = []
    detected = None
    if label_lag is None:
        detected = detect_label_lag(
            _first(x), _first(y), max_lag=4 * (batch_size or model_batch or KERAS_FIT_BATCH_SIZE)
        )
        label_lag = detected[0] if detected else 0
        if detected:
            findings.append(
                Finding(
                    "label-lag-detected",
                    "info",
                    f"the labels look like they depend on the sample {detected[0]} earlier "
                    f"(|correlation| {detected[1]:.2f} with one of its inputs).",
                    "if that is wrong, pass label_lag=0 (or the true lag) to check().",
                )
            )
    n_val = (
        None if validation_data is None else _length(_first_of(validation_data), "validation_data")
    )
    setup = Setup(
        n_train=n,
        batch_size=batch_size or model_batch or KERAS_FIT_BATCH_SIZE,
        stateful=stateful,
        shuffle=shuffle,
        n_validation=n_val,
        evaluates=evaluates,
        reset=reset,
        label_lag=label_lag,
        batches_per_sequence=batches_per_sequence,
        model_batch_size=model_batch,
    )
    findings += check_setup(setup)
    if probe and stateful:
        findings += probe_findings(probe_keras())
    return findings


def _first(a: Any) -> Any:
    return a[0] if isinstance(a, (list, tuple)) else a


def _first_of(validation_data: Any) -> Any:
    if isinstance(validation_data, (list, tuple)) and validation_data:
        return _first(validation_data[0])
    raise DataError("validation_data must be (x_val, y_val), as for fit.")


def _length(a: Any, name: str) -> int:
    a = _first(a)
    try:
        return len(a)
    except TypeError:
        raise DataError(
            f"{name} must be an array of samples (numpy, or a list of arrays); "
            f"got {type(a).__name__}."
        ) from None


def _layers(model: Any):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _layers(layer)
        inner = getattr(layer, "layer", None)  # Bidirectional, TimeDistributed
        if inner is not None:
            yield inner


def _model_batch_size(model: Any) -> int | None:
    try:
        size = model.inputs[0].shape[0]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return int(size) if size else None


# -- printing ------------------------------------------------------------------------------------
def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def format_findings(findings: Sequence[Finding]) -> str:
    """A readable list: errors first, each with what goes wrong and the fix."""
    if not findings:
        return "statecarry doctor: no problems found."
    order = {"error": 0, "warning": 1, "info": 2}
    counts = []
    for severity in order:
        n = sum(f.severity == severity for f in findings)
        if n:
            counts.append(f"{n} {severity}{'s' if n != 1 else ''}")
    lines = [f"statecarry doctor: {', '.join(counts)}", ""]
    for f in sorted(findings, key=lambda f: order[f.severity]):
        lines.append(f"{f.severity}: {f.code}")
        lines.append(f"  {f.message}")
        lines.append(f"  fix: {f.fix}")
        lines.append("")
    return "\n".join(lines).rstrip()
