"""The `statecarry` command line: a thin click layer over the library.

`cli/__init__.py` holds the group, shared options and `run`; other commands live in their own
modules under `cli/`, imported only when asked for (`_commands.py`). Only `cli/` imports
click.

Heavy imports (JAX) happen inside commands so `statecarry --help` answers instantly. A user's
mistake is one `Error:` line on stderr and exit code 2; a bug keeps its traceback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import click

from ..errors import StatecarryError
from ._config_flags import as_flags, config_options, make_config, warn_untrained
from ._store import store_option


class UserError(click.ClickException):
    """One sentence on stderr, exit code 2 (the same code click uses for bad flags)."""

    exit_code = 2


SEED_LIMIT = 2**31  # seeds are 32-bit integers: 0 to 2**31 - 1


def seed_count(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """click callback of every command's --seeds: a count the engine can number, or one sentence
    (a Python int past C's range otherwise ends in an OverflowError deep in NumPy)."""
    if value is not None and not 1 <= value <= SEED_LIMIT:
        raise UserError(f"--seeds must be from 1 to {SEED_LIMIT:,} (seeds are 32-bit integers), got {value}.")
    return value


def one_value(ctx: click.Context, param: click.Parameter, values: tuple) -> object:
    """click callback of an option with two names (`multiple=True`): the value, given once or
    the same each time; two different values are one sentence instead of the last one winning."""
    if len(set(values)) > 1:
        names = " / ".join(param.opts)
        raise UserError(f"{names} given twice with different values ({', '.join(map(str, values))}); give one.")
    return values[-1] if values else None


def _engine(small_steps: bool = False, big_steps: bool = False) -> None:
    """Before JAX is imported: one XLA device per core (`small_steps` / `big_steps`: every model
    the command trains takes small / big steps, `blog.step_sizes`), and the persistent compile
    cache."""
    from ..core import runtime

    runtime.use_cpu_cores(small_steps=small_steps, big_steps=big_steps)
    runtime.enable_compile_cache()
    runtime.local_devices()  # an unavailable JAX_PLATFORMS is one sentence, before any run is stored


def _progress(quiet: bool) -> Callable[[str, int, int], None] | None:
    """Progress on stderr: a bar on a terminal, a few lines when piped (see _progressbar.py)."""
    from ._progressbar import progress

    return progress(quiet)


def strict_json(obj: Any, **kwargs: Any) -> str:
    """JSON that any parser accepts: NaN and infinities (an undefined interval) become null."""

    def clean(o: Any) -> Any:
        if isinstance(o, float):
            return o if math.isfinite(o) else None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o

    return json.dumps(clean(obj), allow_nan=False, **kwargs)


def blog_line(epoch: int, tl: float, ta: float, vl: float, va: float) -> str:
    """Exactly the blog's log line."""
    return f"Epoch: {epoch} (Loss, Acc) Train: ({tl:.2f}, {ta:.2f}) Test: ({vl:.2f}, {va:.2f})"


class Group(click.Group):
    """Turns a library's StatecarryError into one `Error:` line and exit code 2."""

    group_class = type  # sub-groups (`runs`) get the same behaviour

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        """An unknown command gets "Did you mean …?", also for a sub-command typed without
        its group (`statecarry list` → 'runs list'), on every click version."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            ctx.fail(f"No such command {name!r}.{_did_you_mean(name, self, ctx)}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is None:  # a command starts: no run of an earlier one (tests, embedding) is its
            _forget_runs()
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (`main`): say what is kept, not click's "Aborted!"
            click.echo(f"\n{_interrupted(ctx.invoked_subcommand)}", err=True)
            raise SystemExit(130) from None  # `main` makes it 128 + the signal received
        except StatecarryError as e:  # the API's names as the CLI spells them
            raise UserError(as_flags(str(e))) from None
        except OSError as e:
            import errno

            from ..files import OUT_OF_ROOM

            if e.filename is None and e.errno in (*OUT_OF_ROOM, errno.EIO):  # files we open name themselves: stdout
                drop_stdout()
                raise UserError(f"could not write to standard output ({e.strerror}); write to a file instead "
                                "(redirect it, or -o FILE where the command takes it).") from None  # fmt: skip
            if e.filename is None:
                raise
            raise UserError(f"cannot write {e.filename}: {e.strerror}; choose another path.") from None


def _recording():
    """The run store's recording module if a run was recorded in this process, else None (it is
    imported only then: `--help` stays instant)."""
    import sys

    return sys.modules.get("statecarry.store.recording")


def _forget_runs() -> None:
    if (recording := _recording()) is not None:
        recording.STARTED.clear()
        recording.DONE.clear()


def _interrupted(command: str | None) -> str:
    """What an interrupt left: the stored run (its context marked it "interrupted" on the way
    up, or it had finished), and for the commands that have it, that --resume picks up."""
    recording = _recording()
    if recording is None or not recording.STARTED:
        return "Interrupted; nothing was stored."
    run = recording.STARTED[-1]
    if run in recording.DONE:  # interrupted after it was stored: printing, a report
        return f"Interrupted after run {run} was stored as done (statecarry runs show {run})."
    resume = "; run the same command with --resume to reuse what finished" if command in ("sweep", "reproduce", "varlen") else ""
    return (f"Interrupted: run {run} is stored as interrupted with what it finished "
            f"(statecarry runs show {run}){resume}.")


def drop_stdout() -> None:
    """Send what is still buffered for standard output nowhere, so that a write that failed
    (a full disk behind `> file`) does not fail again, with a traceback, at exit."""
    import contextlib
    import os
    import sys

    with contextlib.suppress(OSError, ValueError):  # a test's captured stdout has no descriptor
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class RootGroup(Group):
    """The `statecarry` group: commands in their own modules are imported when asked for."""

    group_class = Group

    def list_commands(self, ctx: click.Context | None) -> list[str]:
        return sorted(set(self.commands) | set(_commands.LAZY))

    def get_command(self, ctx: click.Context | None, name: str) -> Any:
        if name not in self.commands:
            _commands.load(name)
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the names and one-line helps alone: nothing is imported."""
        shown = {n: self.commands.get(n) or click.Command(n, help=_commands.LAZY[n][1])
                 for n in self.list_commands(ctx)}  # fmt: skip
        limit = formatter.width - 6 - max(len(n) for n in shown)
        rows = [(n, c.get_short_help_str(limit)) for n, c in shown.items() if not c.hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _did_you_mean(name: str, group: click.Group, ctx: click.Context) -> str:
    import difflib

    names = group.list_commands(ctx)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    for group_name in names:
        sub = group.get_command(ctx, group_name)
        if isinstance(sub, click.Group) and name in sub.list_commands(ctx):
            close.insert(0, f"{group_name} {name}")
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="statecarry")
def cli() -> None:
    "Train, test and explain stateful recurrent networks (LSTM, GRU): the state carried from batch to batch."


@cli.command()
@click.argument("task")
@config_options
@click.option("--seeds", default=1, show_default=True, callback=seed_count, help="Independent runs (seeds 0..N-1).")
@click.option("--first-seed", default=0, show_default=True, help="Start the seeds here.")
@click.option("-v", "--verbose", is_flag=True, help="The blog's per-epoch line for every seed.")
@click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@store_option
def run(
    task: str, seeds: int, first_seed: int, verbose: bool, json_: bool, quiet: bool, no_store: bool,
    **options,
):
    """Train one of the blog's tasks over many seeds.

    TASK: first-step, prev-batch, prev-sample, random-labels, copy or variable-length.
    """
    if not 0 <= first_seed <= SEED_LIMIT - seeds:
        raise UserError(f"--first-seed must be from 0 to {SEED_LIMIT - seeds:,} with --seeds {seeds} (seeds are 32-bit integers), got {first_seed}.")  # fmt: skip
    config = make_config(task, options)
    from ..experiments.tasks import test_labels_determined

    test_labels_determined(config)  # the library lets distance 1 pass on one test batch (its tests' configs)
    warn_untrained([config])
    from ..experiments.blog import check_memory, step_sizes

    check_memory(config, seeds)  # refuse what cannot fit before anything is stored
    _engine(**step_sizes([config], seeds))
    from .. import stats, store
    from ..core.divergence import divergence_message
    from ..experiments import blog

    seed_list = list(range(first_seed, first_seed + seeds))
    live = seeds == 1 and not json_
    with store.recording("run", config.to_dict(), seed_list, enabled=not no_store) as rec:

        def on_epoch(epoch: int, metrics: dict) -> None:
            rec.epoch(epoch, metrics)  # one transaction per epoch: Ctrl-C keeps finished epochs
            if live:
                click.echo(blog_line(epoch, *_line_values(metrics, 0)))

        history = blog.run(
            config,
            seed_list,
            on_epoch=on_epoch,
            on_progress=None if live else _progress(quiet or json_),
        )
        warning = divergence_message(history.diverged, seeds, config.learning_rate) if history.diverged else None
        rec.finish(result={"diverged": {str(s): e for s, e in history.diverged.items()}, "warning": warning}
                   if warning else None,
                   timings={"compile_seconds": history.compile_seconds,
                            "run_seconds": history.run_seconds, **history.timings})  # fmt: skip
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    if json_:
        click.echo(strict_json(history.to_json() | {"run_id": rec.run_id}))
        return
    if verbose and not live:
        for k, seed in enumerate(seed_list):
            click.echo(f"Seed {seed}")
            for e in range(history.epochs):
                click.echo(blog_line(e, *_line_values({m: history.metrics[m][e] for m in history.metrics}, k)))
    if seeds > 1:
        click.echo(format_summary(history, stats))
    from ..experiments.tasks import UNDETERMINED_START

    if config.task in UNDETERMINED_START:
        click.echo(
            "note: accuracy counts every sample; 'solved' and 'determined acc' count only the "
            "samples whose label the inputs determine."
            if seeds > 1
            else "note: the first batch's labels are random by construction (see test_known_acc with --json)."
        )
    if not quiet:
        click.echo(
            f"{seeds} seed(s): compile {history.compile_seconds:.2f} s, "
            f"train+eval {history.run_seconds:.2f} s"
            + (f"; stored as run {rec.run_id}" if rec.run_id is not None else ""),
            err=True,
        )


def _line_values(metrics: dict, k: int) -> tuple[float, float, float, float]:
    return tuple(float(metrics[m][k]) for m in ("train_loss", "train_acc", "test_loss", "test_acc"))


def format_summary(history, stats) -> str:
    """Per-epoch mean ± 95% CI over seeds, and the solved fraction."""
    from ..experiments.tasks import UNDETERMINED_START

    known = history.config.task in UNDETERMINED_START
    solved_metric = "test_known_acc" if known else "test_acc"
    header = ["epoch", "train loss", "train acc", "test loss", "test acc"]
    if known:
        header.append("determined acc")
    header.append(f"solved (≥{stats.SOLVED})")
    rows = []
    for e in range(history.epochs):
        row = [str(e)] + [
            str(stats.mean_ci(history.metrics[m][e], bounds=stats.ACCURACY if m.endswith("acc") else stats.NON_NEGATIVE))
            for m in ("train_loss", "train_acc", "test_loss", "test_acc")
        ]
        if known:
            row.append(str(stats.mean_ci(history.metrics["test_known_acc"][e], bounds=stats.ACCURACY)))
        solved = stats.solved_fraction(history.metrics[solved_metric][e])
        row.append(f"{solved.mean:.0%} {solved.bracket('.0%')}" if solved.mean == solved.mean
                   else solved.bracket(".0%"))  # no finite seed: the bracket says so, not "nan%"
        rows.append(row)
    c = history.config
    setup = [c.mode] + [f"horizon {c.horizon}"] * (c.horizon > 1) + ["marker"] * c.marker
    setup += ["reset never"] * (c.reset == "never") + ["carry c"] * (c.carry == "c") + ["shuffled"] * c.shuffle
    title = f"{c.task}, {', '.join(setup)}: {len(history.seeds)} seed{'s' if len(history.seeds) != 1 else ''}, mean ± 95% CI"
    if history.diverged:  # their metrics are NaN: the statistics are over the others
        title += f"; {len(history.diverged)} diverged, so each epoch's statistics are over the seeds still finite"
    return title + "\n" + table(header, rows)


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


# -- commands that live in their own modules, imported when asked for (see _commands.py) ----
from . import _commands  # noqa: E402


def root_help(write: bool = False) -> str:
    """`statecarry --help` as click renders it for a terminal 80 columns wide, which
    `launch.py` answers from `cli/help.txt` without importing click; `write` rewrites the file."""
    from pathlib import Path

    # click wraps to min(terminal, 80) - 2 columns
    with click.Context(cli, info_name="statecarry", terminal_width=78, **cli.context_settings) as ctx:
        text = cli.get_help(ctx) + "\n"
    if write:
        (Path(__file__).parent / "help.txt").write_text(text, encoding="utf-8")
    return text


def main() -> None:
    """The CLI behind `launch.main` (the `statecarry` command and `python -m statecarry`).

    SIGTERM (what `kill` and schedulers send) takes Ctrl-C's path: a KeyboardInterrupt, so a
    stored run ends "interrupted" with its finished epochs. The exit code is then the shell's
    128 + signal: 130 for Ctrl-C, 143 for SIGTERM (click alone would exit 1).
    """
    received = _interrupt_on_signals()
    try:
        cli(prog_name="statecarry")
    except (SystemExit, KeyboardInterrupt):
        if received:  # the store is closed by now (its context managers ran on the way up)
            _exit_now(128 + received[0])
        raise


def _exit_now(code: int) -> None:
    """Exit without the interpreter's teardown: interrupted while XLA compiles, its threads
    still run, and tearing the interpreter down under them crashed (exit 139, "Segmentation
    fault") in 4 of 9 tries."""
    import contextlib
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _interrupt_on_signals() -> list[int]:
    """Raise KeyboardInterrupt on SIGINT and SIGTERM; returns the signals received, in order."""
    import signal

    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        # A signal ignored at startup (nohup, a background job) stays ignored.
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, interrupt)
    return received
