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

Layout (imports flow down this list, never up):

    findings.py    `Finding`, and printing a list of them
    setup.py       `Setup`: a training setup as sizes and flags
    rules.py       `check_setup`: every rule on a `Setup`
    probe.py       `probe_keras`: does the installed Keras really carry state?
    from_keras.py  `check`: a Keras model and its data, read into a `Setup`, then the rules
"""

from __future__ import annotations

from .findings import Finding, Severity, format_findings, has_errors
from .from_keras import check, detect_label_lag
from .probe import Probe, ProbeFailed, probe_findings, probe_keras
from .rules import RULES, check_setup
from .setup import BLOG_PREV_BATCH_ACC, KERAS_FIT_BATCH_SIZE, Setup, reset_interval

__all__ = [
    "BLOG_PREV_BATCH_ACC",
    "KERAS_FIT_BATCH_SIZE",
    "RULES",
    "Finding",
    "Probe",
    "ProbeFailed",
    "Setup",
    "Severity",
    "check",
    "check_setup",
    "detect_label_lag",
    "format_findings",
    "has_errors",
    "probe_findings",
    "probe_keras",
    "reset_interval",
]
