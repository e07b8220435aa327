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
    "compare": ("owndata", "Test whether carrying state helps on TABLE."),
    "doctor": ("doctor", "Check a stateful training setup before it trains."),
    "evaluate": ("owndata_io", "Score MODEL on TABLE as `train` scores its test part."),
    "export": ("owndata_io", "Write MODEL as a Keras model file."),
    "forecast": ("forecast", "Forecast SERIES.csv, or a shipped series, against baselines."),
    "import": ("owndata_io", "Read a Keras model into a statecarry model file."),
    "predict": ("owndata_io", "Feed TABLE through MODEL and write its predictions."),
    "report": ("report", "Write an HTML report for run IDS (default: the latest)."),
    "reproduce": ("reproduce", "Reproduce the blog's experiments and test every claim."),
    "runs": ("runs", "List, show, compare, export and delete stored runs."),
    "sweep": ("sweep", "Run TASK over a grid of settings."),
    "train": ("owndata", "Train a recurrent model on TABLE over many seeds."),
    "varlen": ("varlen", "Measure padding against packing for variable lengths."),
}  # fmt: skip


def load(name: str) -> None:
    """Import the module of command `name` (it registers itself with the group)."""
    if name in LAZY:
        importlib.import_module(f"{__package__}.{LAZY[name][0]}")
