"""`statecarry reproduce`: the blog's experiments beside its numbers, then every claim judged."""

from __future__ import annotations

import shlex
import sys
import time

import click

from . import _engine, _progress, cli, seed_count, strict_json, table
from ._record import executor_options, prefetched_runner, stored_recorder
from ._store import store_option, stored_runner

QUICK_SEEDS = 8


@cli.command()
@click.option("--seeds", type=int, default=None, callback=seed_count, help="Seeds per run [default: 32, or 8 with --quick].")
@click.option("--quick", is_flag=True, help="8 seeds per run instead of 32: a faster, wider-interval look.")
@click.option("--claims", "only", default=None, help="Only these claims, e.g. --claims 5,6,8 (default: all).")
@click.option("--resume", is_flag=True, help="Reuse runs already stored for the same config and seeds.")
@click.option("-o", "--report", "report_path", default="reproduce-report.html", show_default=True, help="Where to write the HTML report.")
@click.option("--no-report", is_flag=True, help="Do not write the HTML report.")
@click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@executor_options
@store_option
def reproduce(seeds, quick, only, resume, report_path, no_report, json_, quiet, executor, address, task_gpus, no_store):
    """Reproduce the blog's experiments and test every claim.

    The claims about stateful LSTMs in the blog and the Q&A.
    """
    from . import UserError

    if quick and seeds is not None:
        raise UserError(f"--quick means --seeds {QUICK_SEEDS}; give --quick or --seeds {seeds}, not both.")
    given = click.get_current_context().get_parameter_source("report_path") == click.core.ParameterSource.COMMANDLINE
    if no_report and given:
        raise UserError(f"--no-report writes no report, so -o {report_path} would be dropped; give one of them.")
    seeds = seeds if seeds is not None else (QUICK_SEEDS if quick else 32)
    from .. import store
    from ..experiments import claims
    from ..experiments import reproduce as reproduce_

    selected = claims.select(only)
    if not no_report:  # a path we could not write fails now, not after an hour of training
        from .. import files
        from .report import REPORT_SUFFIXES

        files.check_output(report_path, REPORT_SUFFIXES, "--report")
    from ..experiments.blog import step_sizes

    seed_list = list(range(seeds))
    jobs = reproduce_.needed_runs(selected, seed_list, reproduce_.BLOG_EXPERIMENTS)
    # claims that measure (varlen, forecast) train models of their own: XLA's usual set-up then
    _engine(**({} if any(c.measure for c in selected) else step_sizes([c for c, _ in jobs], seeds)))
    t0 = time.perf_counter()
    progress = _progress(quiet or json_)
    with store.recording("reproduce", {"seeds": seeds, "quick": quick}, seed_list, enabled=not no_store) as rec:
        run = stored_runner(rec, resume, progress)
        run = reproduce_.RunCache(prefetched_runner(executor, address, jobs, rec, resume, run, progress, task_gpus))
        experiments = reproduce_.reproduce(seed_list, run=run)
        results = reproduce_.check(selected, seeds=seed_list, run=run, record=stored_recorder(rec, resume),
                               on_claim=None if quiet or json_ else _claim_done)  # fmt: skip
        result = {
            "seeds": seeds,
            "quick": quick,
            "seconds": time.perf_counter() - t0,
            "experiments": [r.to_json() for r in experiments],
            "claims": [r.to_json() for r in results],
        }
        rec.finish(result=result, timings={"seconds": result["seconds"]})
    if not no_report:
        from .. import report

        histories = list(run.histories.values())  # the report labels each from its config
        path = report.write_reproduce_report(
            report_path, result, histories, run_id=rec.run_id, command=shlex.join(["statecarry", *sys.argv[1:]])
        )
        result["report"] = str(path)
    if json_:
        click.echo(strict_json(result | {"run_id": rec.run_id}))
        return
    click.echo(format_experiments(experiments, seeds))
    click.echo()
    click.echo(format_claims(results))
    tail = f"{len(results)} claim{'s' if len(results) != 1 else ''} in {result['seconds']:.0f} s"
    if rec.run_id is not None:
        tail += f"; stored as run {rec.run_id}"
    if not no_report:
        tail += f"; report: {result['report']}"
    click.echo(tail, err=True)


def _claim_done(result) -> None:
    click.echo(f"claim {result.claim.id}: {result.verdict.verdict} ({result.seconds:.0f} s)", err=True)


def format_experiments(results, seeds: int) -> str:
    header = ["experiment", "blog test acc", f"ours ({seeds} seeds)", "95% CI", "solved", "seconds"]
    rows = [
        [
            r.experiment.name,
            f"{r.experiment.reported:.2f}" if r.experiment.reported is not None else "—",
            f"{r.test_acc.mean:.3f}",
            r.test_acc.bracket(),
            f"{r.solved.mean:.0%}",
            f"{r.seconds:.1f}",
        ]
        for r in results
    ]
    return "The blog's experiments (final test accuracy after 5 epochs)\n" + table(header, rows)


def format_claims(results) -> str:
    header = ["#", "verdict", "source", "claim"]
    rows = [[r.claim.id, r.verdict.verdict, r.claim.source, r.claim.sentence] for r in results]
    lines = ["Claims (95% intervals over seeds; 'solved' = accuracy ≥ 0.99 on the samples whose label is determined)", table(header, rows), ""]
    for r in results:
        lines.append(f"{r.claim.id}. {r.claim.sentence} [{r.verdict.verdict}]")
        lines.append(f"   setup:    {r.claim.setup}")
        lines.append(f"   measured: {r.verdict.measured}")
        for c in r.context:
            lines.append(f"   also:     {c.measured}")
    return "\n".join(lines)
