"""The `--no-store` flag, shared by every command that records runs (run, sweep, reproduce…).

Usage in a command:

    @store_option
    def run(..., no_store: bool):
        with store.recording("run", config.to_dict(), seeds, enabled=not no_store) as rec:
            ...
"""

from __future__ import annotations

from typing import Callable

import click


def store_option(fn: Callable) -> Callable:
    """Add `--no-store` (keyword `no_store`): run without writing to the run store."""
    return click.option(
        "no_store",
        "--no-store",
        is_flag=True,
        help="Do not record this run in the run store (see 'statecarry runs').",
    )(fn)
