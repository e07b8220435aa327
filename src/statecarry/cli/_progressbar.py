"""Progress on stderr for every command: a tqdm bar (rate and time left) on a terminal, a few
plain lines when stderr is piped, nothing with -q. `on_progress(stage, done, total)` is the
callback `fit` and the experiments already call; stages are "compile" and a work name."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import click

PROGRESS_AFTER_SECONDS = 2.0  # short work shows no progress at all
PIPED_LINES = 4  # when piped: a line at each quarter (and the last)
PIPED_EVERY_SECONDS = 60.0  # and at least once a minute: a long quarter said nothing for 10 minutes

Progress = Callable[[str, int, int], None]


def progress(quiet: bool) -> Progress | None:
    """The callback for one command's work, or None with -q."""
    if quiet:
        return None
    start = time.perf_counter()
    interactive = sys.stderr.isatty()
    bars: dict[str, object] = {}
    printed: dict[str, int] = {}
    last_line: dict[str, float] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage == "compile":
            if interactive and time.perf_counter() - start >= PROGRESS_AFTER_SECONDS:
                click.echo("\r\033[Kcompiling…", nl=False, err=True)
            return
        if interactive:
            _bar(bars, stage, done, total)
            return
        # piped: a handful of lines, only once the work has taken a couple of seconds
        quarter = done * PIPED_LINES // max(total, 1)
        if time.perf_counter() - start < PROGRESS_AFTER_SECONDS and not printed.get(stage):
            return  # short work, finished or not, says nothing (it said "train 8/8 (0 s)")
        now = time.perf_counter()
        quiet_too_long = now - last_line.get(stage, start) >= PIPED_EVERY_SECONDS and done < total
        if quarter > printed.get(stage, 0) or (done >= total and printed.get(stage, 0) < PIPED_LINES) or quiet_too_long:
            printed[stage], last_line[stage] = quarter, now
            click.echo(f"{stage} {done}/{total} ({now - start:.0f} s)", err=True)

    return report


def _bar(bars: dict, stage: str, done: int, total: int) -> None:
    from tqdm import tqdm

    bar = bars.get(stage)
    if bar is None or bar.total != total:  # type: ignore[attr-defined]
        click.echo("\r\033[K", nl=False, err=True)
        bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=True,
                                 dynamic_ncols=True, unit="step")  # fmt: skip
    bar.update(done - bar.n)  # type: ignore[attr-defined]
    if done >= total:
        bar.close()  # type: ignore[attr-defined]
        bars.pop(stage)
