"""`statecarry sweep TASK --grid "…"`: one row per grid point, seeds vectorised."""

from __future__ import annotations

import click

from ..errors import ConfigError
from . import UserError, _engine, _progress, cli, seed_count, strict_json, table
from ._config_flags import CONFIG_FLAGS, config_options, make_config, warn_untrained
from ._record import executor_options, prefetched_runner
from ._store import store_option, stored_runner


@cli.command()
@click.argument("task")
@click.option("--grid", required=True, help='Values to try, e.g. "horizon=1,2,4 units=3,8 lr=1e-3,1e-2".')
@config_options
@click.option("--seeds", default=32, show_default=True, callback=seed_count, help="Seeds per grid point (the same at every point).")
@click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.option("--resume", is_flag=True, help="Reuse finished runs of the same config and seeds from the run store.")
@click.option("--yes", "-y", is_flag=True, help="Run a sweep however long its estimate (over 10,000 points or an hour).")
@executor_options
@store_option
def sweep(task, grid, seeds, json_, quiet, resume, yes, executor, address, task_gpus, no_store, **options):
    """Run TASK over a grid of settings.

    Mean ± 95% CI and solved fraction per point.
    """
    from .. import store
    from ..experiments import sweep as sweeps

    base = make_config(task, options)
    parsed = sweeps.parse_grid(grid)
    both = [k for k, _ in parsed if options.get(k) is not None]
    if both:  # the grid's values win; a flag beside them would be dropped without a word
        flag = next(f for f, field, *_ in CONFIG_FLAGS if field == both[0])  # --shuffle/--no-shuffle whole
        raise UserError(f"{flag} is also a --grid key; give its values in --grid only.")
    if not yes and (why := sweeps.too_many_points(parsed, seeds)):
        raise UserError(why)  # before building a million configs
    todo = sweeps.points(base, parsed)  # a bad value fails here, before anything is recorded
    runnable = sum(p.config is not None for p in todo)
    warn_untrained([p.config for p in todo if p.config is not None])
    if not (quiet or json_):
        click.echo(f"sweep: {runnable} point(s) × {seeds} seed(s) = {runnable * seeds:,} seed runs"
                   f"{f' ({len(todo) - runnable} skipped)' if runnable < len(todo) else ''}", err=True)  # fmt: skip
    from ..experiments.blog import step_sizes

    _engine(**step_sizes([p.config for p in todo if p.config is not None], seeds))

    seed_list = list(range(seeds))
    on_point = None if quiet or json_ else _point_done
    with store.recording("sweep", base.to_dict() | {"grid": grid}, seed_list, enabled=not no_store) as rec:
        progress = _progress(quiet or json_)
        run = stored_runner(rec, resume=resume, progress=progress)
        jobs = [(p.config, seed_list) for p in todo if p.config is not None]
        run = prefetched_runner(executor, address, jobs, rec, resume, run, progress, task_gpus)
        on_first = _first_point(yes, quiet or json_, seeds, grows=sorted({k for k, _ in parsed} & GROWS))
        result = sweeps.sweep(base, parsed, seed_list, run=run, on_point=on_point, on_first=on_first)
        rec.finish(result={"grid": grid, "points": [p.to_json() for p in result]})
    if json_:
        click.echo(strict_json({"task": task, "grid": grid, "seeds": seed_list, "config": base.to_dict(), "points": [p.to_json() for p in result], "run_id": rec.run_id}))
        return
    click.echo(format_points(result, seeds, base))


# Grid keys that change what a point costs: the estimate (each point as long as the first) is rough.
GROWS = {"units", "time_steps", "n_train", "n_test", "epochs", "horizon", "batch_size", "mode"}


def _first_point(yes: bool, quiet: bool, seeds: int, grows: list[str] | None = None):
    """After the first point: say how long the rest should take, and stop a long sweep
    unless --yes (the sweep run is stored as failed, with this sentence, and its first point).
    `grows`: the grid keys that change a point's cost (a units grid: "about 8 s" took 15)."""
    from ..experiments import sweep as sweeps

    def check(first, remaining: int) -> None:
        if remaining and not yes and (why := sweeps.too_slow(first, remaining, seeds)):
            raise ConfigError(why)
        if remaining and not quiet:
            click.echo(f"{remaining} more point{'s' if remaining > 1 else ''}: about "
                       f"{sweeps.duration(sweeps.estimate(first, remaining))} (the first took {first.seconds:.1f} s"
                       + (f"; rough: the grid's {', '.join(grows)} change what a point costs)" if grows else ")"),
                       err=True)  # fmt: skip

    return check


def _point_done(p) -> None:
    values = " ".join(f"{k}={v}" for k, v in p.values.items())
    status = f"skipped ({p.skipped})" if p.skipped else f"{p.seconds:.1f} s"
    click.echo(f"{values}: {status}", err=True)


def _shown(value) -> str:
    """A grid value as the README writes it: flags as yes/no, the rest as given."""
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def format_points(result, seeds: int, base) -> str:
    keys = list(result[0].values)
    header = keys + ["test acc", "determined acc", "solved", "seconds"]
    rows = []
    for p in result:
        cells = [_shown(p.values[k]) for k in keys]
        if p.skipped:
            rows.append(cells + ["skipped", "", "", ""])
            continue
        solved = p.solved.bracket(".0%")
        if p.solved.mean == p.solved.mean:  # no share of seeds when no seed is finite
            solved = f"{p.solved.mean:.0%} {solved}"
        cells += [str(p.test_acc), str(p.known_acc), solved, f"{p.seconds:.1f}"]
        rows.append(cells)
    # "after 5 epochs", not "final epoch (5)": run's tables number that epoch 4, from 0
    final = "after each point's epochs" if "epochs" in keys else f"after {base.epochs} epoch{'s' if base.epochs != 1 else ''}"
    title = (
        f"{base.task}, {seeds} seed{'s' if seeds != 1 else ''}, {final}; mean ± 95% CI; 'solved' = seeds "
        "with accuracy ≥ 0.99 on the samples whose label the inputs determine"
    )
    skipped = [f"  skipped {' '.join(f'{k}={v}' for k, v in p.values.items())}: {p.skipped}" for p in result if p.skipped]
    return "\n".join([title, table(header, rows), *skipped])
