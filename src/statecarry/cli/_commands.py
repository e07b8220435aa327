"""The commands that live in their own modules, loaded when first asked for.

`statecarry --help` must stay a few times a bare interpreter start, and those modules pull in
NumPy, the run store or an experiment: so the group knows each one by name and one-line help
(checked against the module's own docstring by tests/test_cli_ux.py), and imports the module,
which registers its commands with `@cli.command()` / `@cli.group()`, only to run it or show
its own help.
"""

from __future__ import annotations

import importlib

# command -> its one-line help (the first sentence of the command's docstring)
LAZY = {
    "doctor": "Check a stateful training setup before it trains: each finding says what goes wrong and the fix.",
    "forecast": "Forecast SERIES.csv (default: monthly Mauna Loa CO2, shipped) with every model.",
    "report": "Write an HTML report (curves, claims, batch layout) for run IDS; default: the latest run.",
    "reproduce": "Reproduce the blog's experiments and test every claim about stateful LSTMs.",
    "runs": "List, show, compare, export and delete stored runs.",
    "sweep": "Run TASK over a grid of settings; mean ± 95% CI and solved fraction per point.",
    "varlen": "Pad variable-length sequences to one length, or pack them with resets? Measure both.",
}  # fmt: skip


def load(name: str) -> None:
    """Import the module of command `name` (it registers itself with the group)."""
    if name in LAZY:
        importlib.import_module(f"{__package__}.{name}")
