"""The `statecarry` command's first step: `statecarry --help` answered from the text click
rendered for it (`cli/help.txt`), without importing click; everything else goes to the CLI.

click's import alone costs 3x a bare interpreter's start, so the one answer people ask for most
often comes from a file. The file is click's own output for an 80-column terminal (click wraps
help to the terminal, at most 78 columns, so any terminal at least 80 wide gets the same text);
a narrower terminal goes to click. `tests/test_cli_ux.py` checks the file against click's output,
and `python -c "from statecarry.cli import root_help; root_help(write=True)"` rewrites it.
Only `os` and `sys` here: both are loaded before any Python program runs.
"""

import os
import sys

HELP_FILE = os.path.join(os.path.dirname(__file__), "cli", "help.txt")


def main() -> None:
    """The `statecarry` command and `python -m statecarry`."""
    if sys.argv[1:] in (["--help"], ["-h"]) and columns() >= 80 and os.path.exists(HELP_FILE):
        with open(HELP_FILE, encoding="utf-8") as f:
            sys.stdout.write(f.read())
        return
    from .cli import main as cli_main

    cli_main()


def columns() -> int:
    """The terminal's width as click reads it (`shutil.get_terminal_size`, whose import costs
    more than this whole answer): $COLUMNS, else the terminal's, else 80."""
    try:
        width = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        width = 0
    if width <= 0:
        try:
            width = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            width = 80
    return width or 80
