"""The commands that live in their own modules, loaded when first asked for.

`statecarry --help` must stay a few times a bare interpreter start, and those modules pull in
NumPy, the run store or an experiment: so the group knows each command by name, module and
one-line help (checked against the command's own docstring by tests/test_cli_ux.py), and
imports the module, which registers its commands with `@cli.command()` / `@cli.group()`, only
to run one of them or show its own help.
"""

from __future__ import annotations

import importlib

# command -> (its module under cli/, its one-line help: the first sentence of its docstring)
LAZY = {
    "compare": ("owndata", "Does carrying state help on TABLE? Stateless windows vs stateful (horizon 1, K) vs RTRL."),
    "doctor": ("doctor", "Check a stateful training setup before it trains: each finding says what goes wrong and the fix."),
    "evaluate": ("owndata_io", "Score MODEL on TABLE, which holds the target column(s), as `train` scores its test part."),
    "export": ("owndata_io", "Write MODEL as a Keras model, checked to give the same outputs (to 1e-5)."),
    "forecast": ("forecast", "Forecast SERIES.csv, or a shipped series (co2, the default; sunspots, nile, elnino)."),
    "import": ("owndata_io", "Read a Keras model (LSTM/GRU layers then Dense) into a statecarry model file."),
    "predict": ("owndata_io", "Feed TABLE through MODEL (from `statecarry train`): state carried per id, reset at each new id."),
    "report": ("report", "Write an HTML report (curves, claims, batch layout) for run IDS; default: the latest run."),
    "reproduce": ("reproduce", "Reproduce the blog's experiments and test every claim about stateful LSTMs."),
    "runs": ("runs", "List, show, compare, export and delete stored runs."),
    "sweep": ("sweep", "Run TASK over a grid of settings; mean ± 95% CI and solved fraction per point."),
    "train": ("owndata", "Train a recurrent model on TABLE (CSV or Parquet) over many seeds; save the best."),
    "varlen": ("varlen", "Pad variable-length sequences to one length, or pack them with resets? Measure both."),
}  # fmt: skip


def load(name: str) -> None:
    """Import the module of command `name` (it registers itself with the group)."""
    if name in LAZY:
        importlib.import_module(f"{__package__}.{LAZY[name][0]}")
