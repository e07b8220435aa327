"""`statecarry runs …`: list, show, compare, export and delete the runs in the run store."""

from __future__ import annotations

import math
import textwrap
from datetime import datetime
from pathlib import Path

import click

from .. import store as store_
from . import UserError, cli, strict_json, table

# Metrics shown in tables, in this order; any others a run records follow alphabetically.
SHOWN_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "test_known_acc")
EPOCH_ROWS = 10  # `runs show` prints at most this many epochs, evenly spaced


@cli.group()
def runs() -> None:
    "List, show, compare, export and delete stored runs."


@runs.command("list")
@click.option("--kind", type=click.Choice(store_.KINDS), help="Only runs of this kind.")
@click.option("json_", "--json", is_flag=True, help="Print a JSON list instead of a table.")
def list_(kind: str | None, json_: bool):
    """Every stored run, oldest first ("stale": still marked running, its process is gone)."""
    with store_.open_store() as store:
        found = store.list_runs(kind=kind)
        for sentence in store.damaged:  # named and skipped; the other runs are listed
            click.echo(f"Warning: {sentence}", err=True)
        if json_:
            click.echo(strict_json([r.to_json(include_epochs=False) for r in found]))
            return
        if not found:
            click.echo(f"no runs yet in {store.path}; 'statecarry run TASK' records one.")
            return
    header = ["id", "kind", "task", "mode", "status", "seeds", "epochs", "final (mean ± 95% CI)",
              "started", "seconds", "parent"]  # fmt: skip
    rows = [
        [
            str(r.id), r.kind, r.title, _mode(r.config), r.shown_status,
            str(len(r.seeds)), str(r.epochs) if r.epochs else "—", _main(r),
            _local(r.started), _seconds(r.seconds), str(r.parent or "—"),
        ]
        for r in found
    ]  # fmt: skip
    click.echo(table(header, rows))


@runs.command()
@click.argument("run_id", type=int)
@click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of text.")
def show(run_id: int, json_: bool):
    """One run: provenance, config, per-epoch metrics (mean ± 95% CI over seeds), result."""
    with store_.open_store() as store:
        run = store.get_run(run_id)
        children = store.children(run_id)
        for sentence in store.damaged:
            click.echo(f"Warning: {sentence}", err=True)
    if json_:
        click.echo(strict_json(run.to_json() | {"children": [c.id for c in children]}))
        return
    click.echo("\n".join(describe(run, children)))


@runs.command()
@click.argument("run_ids", type=int, nargs=-1, required=True)
@click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of a table.")
def compare(run_ids: tuple[int, ...], json_: bool):
    """Runs side by side: final test accuracy (mean ± 95% CI), solved, config differences."""
    if len(run_ids) < 2:
        raise UserError(f"compare needs at least two run ids, got {len(run_ids)}.")
    with store_.open_store() as store:
        found = [store.get_run(i, metrics=False) for i in run_ids]
    comparison = store_.compare_runs(found)
    if json_:
        click.echo(strict_json(comparison))
        return
    click.echo(table(*comparison_table(comparison)))


@runs.command()
@click.argument("run_id", type=int)
@click.option("fmt", "--format", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True,
              help="csv: one row per (run, epoch, seed), a sweep's rows from its runs; json: the whole run.")  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE instead of stdout (exactly there: no suffix is added).")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No summary line with -o (errors only).")
def export(run_id: int, fmt: str, output: Path | None, quiet: bool):
    """Export one run's per-seed, per-epoch metrics as CSV, or the whole run as JSON.

    A sweep, `reproduce` or `forecast` keeps its epochs in the runs it made (`runs show` lists
    them): its CSV holds theirs, one row per (run, epoch, seed)."""
    from .. import files

    if output is not None:
        files.check_output(output, (f".{fmt}", ".txt"), "--output")
    with store_.open_store() as store:
        run = store.get_run(run_id)
        children = [store.get_run(child.id) for child in store.children(run_id)]
    if fmt == "json":
        text = strict_json(run.to_json() | {"children": [c.id for c in children]}, indent=1) + "\n"
    elif run.metrics or not children:
        text = store_.to_csv(run)
    else:  # a sweep, reproduce or forecast: its epochs are in the runs it made
        text = store_.to_csv([c for c in children if c.metrics])
    if fmt == "csv" and text.count("\n") == 1:
        raise UserError(f"run {run_id} ({run.kind}) stored no per-epoch metrics; "
                        f"export it as JSON with --format json.")
    if output is None:
        echo_all(text, f"run {run_id}")
        return
    size = files.write_output(output, text)
    if not quiet:
        click.echo(f"wrote run {run_id} to {output} ({size} bytes)", err=True)


def echo_all(text: str, what: str) -> None:
    """`text` to stdout, flushed, so a full disk or closed pipe is one sentence, not lost."""
    import sys

    from . import drop_stdout

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as e:
        drop_stdout()  # what is still buffered would fail again at exit
        raise UserError(f"could not write {what} to standard output ({e.strerror}); "
                        "write it to a file with -o FILE instead.") from None


@runs.command()
@click.argument("run_id", type=int)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Delete it even while its process still writes it (that process stops).")
def delete(run_id: int, yes: bool, force: bool):
    """Delete a run, its epochs and its child runs (a sweep's or reproduce's own runs)."""
    with store_.open_store() as store:
        try:
            run = store.get_run(run_id, metrics=False)
            what = f"{run.kind}, {run.task}"
        except store_.DamagedRow:
            what = "damaged"  # deleting it is the way out the damage sentence offers
        n_children = len(store.children(run_id))
        if not yes:
            also = f" and its {n_children} child run(s)" if n_children else ""
            click.confirm(f"Delete run {run_id} ({what}){also}?", abort=True)
        deleted = store.delete_run(run_id, force=force)
    click.echo(f"deleted run{'s' if len(deleted) > 1 else ''} {', '.join(map(str, deleted))}")


# -- formatting ------------------------------------------------------------------------------
def describe(run: store_.Run, children: list[store_.Run]) -> list[str]:
    """`runs show` as lines of text."""
    seeds = run.seeds
    contiguous = seeds == list(range(seeds[0], seeds[-1] + 1))
    seed_text = f"{seeds[0]}..{seeds[-1]}" if contiguous else ", ".join(map(str, seeds))
    lines = [
        f"run {run.id}: {run.kind}, {run.task or '—'}, {run.shown_status}"
        + (f" (parent run {run.parent})" if run.parent else ""),
        (
            f"started   {_local(run.started)}, finished {_local(run.finished)} "
            f"({_seconds(run.seconds)} s)"
        ),
        f"seeds     {seed_text} ({len(seeds)})",
        "versions  " + ", ".join(f"{k} {v}" for k, v in run.versions.items() if v),
        "machine   " + ", ".join(f"{k} {v}" for k, v in run.machine.items()),
    ]
    if run.timings:
        lines.append("timings   " + ", ".join(f"{k} {v:.2f}" for k, v in run.timings.items()))
    if run.error:
        lines.append(f"error     {run.error}")
    if run.shown_status == "stale":
        lines.append(
            f"note      process {run.pid} is gone without finishing the run (killed?); "
            f"its {run.epochs} finished epoch(s) are kept"
        )
    config = " ".join(f"{k}={v}" for k, v in run.config.items())
    lines += ["", textwrap.fill(config, 100, initial_indent="config    ",
                                subsequent_indent=" " * 10)]
    names = [
        m
        for m in _metric_order(run.metrics)
        if any(not math.isnan(v) for e in run.metrics[m] for v in e)  # skip undefined metrics
    ]
    if names and run.epochs:
        shown = _spread(run.epochs, EPOCH_ROWS)
        some = (
            "" if len(shown) == run.epochs
            else f" ({len(shown)} of {run.epochs} epochs; 'runs export' has all)"
        )  # fmt: skip
        lines += ["", f"per epoch: mean ± 95% CI over {len(seeds)} seed(s){some}"]
        rows = [[str(e)] + [_summary(run.metrics[m][e], m) for m in names] for e in shown]
        lines.append(table(["epoch", *(m.replace("_", " ") for m in names)], rows))
    elif run.metrics and run.epochs:  # stored, but nothing finite to average
        lines += ["", f"per epoch: every value of {', '.join(sorted(run.metrics))} is NaN in all "
                      f"{run.epochs} epoch(s) (diverged?); 'runs export' has them"]  # fmt: skip
    result = run.result or {}
    if result.get("points"):  # a sweep: one row per grid point
        lines += ["", *_sweep_table(result["points"])]
    if result.get("models"):  # a forecast: one row per model
        lines += ["", *_forecast_table(result["models"])]
    if result.get("claims"):
        keys = ["id", "claim", "measured", "verdict"]
        rows = [[_short(c.get(k, "—")) for k in keys] for c in result["claims"]]
        lines += ["", table(keys, rows)]
    if result and not any(result.get(k) for k in ("points", "models", "claims")):
        lines += ["", "result    " + strict_json(result)]
    if children:
        listed = ", ".join(f"{c.id} ({c.task}, {c.shown_status})" for c in children)
        lines += ["", f"child runs: {listed}"]
    return lines


def _interval(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "—"
    if s.get("low") is None:
        return f"{s['mean']:.3f} ± {_one_seed()}"
    return f"{s['mean']:.3f} [{s['low']:.3f}, {s['high']:.3f}]"


def _sweep_table(points: list[dict]) -> list[str]:
    keys = list(points[0]["values"])
    rows = []
    for p in points:
        cells = [str(p["values"][k]) for k in keys]
        if p.get("skipped"):
            rows.append(cells + ["skipped", "", ""])
        else:
            solved = p.get("solved") or {}
            rows.append(cells + [_interval(p.get("test_acc")), _interval(p.get("known_acc")),
                                 f"{solved.get('mean', 0):.0%}"])  # fmt: skip
    return [table([*keys, "test acc", "determined acc", "solved"], rows)]


def _forecast_table(models: list[dict]) -> list[str]:
    rows = [[m["model"], m["series"], _interval(m.get("one_step_rmse")), _interval(m.get("recursive_rmse"))]
            for m in models]  # fmt: skip
    return [table(["model", "series", "one-step RMSE", "recursive RMSE"], rows)]


def comparison_table(comparison: dict) -> tuple[list[str], list[list[str]]]:
    """`compare_runs` transposed: one column per run, one row per attribute."""
    found = comparison["runs"]
    header = ["", *(f"run {r['id']}" for r in found)]
    rows = [[name, *(str(r.get(key, "—")) for r in found)]
            for name, key in (("kind", "kind"), ("task", "task"), ("status", "status"), ("seeds", "seeds"))]
    # the epochs the run stored (a sweep's are in its runs: "—", as `runs list`), apart from the
    # config's `epochs` row below, the epochs it was asked for
    rows.append(["epochs stored", *(str(r["epochs"]) if r.get("epochs") else "—" for r in found)])
    for key in ("test_acc", "test_loss", "test_rmse", "test_mae", "train_rmse"):
        if any(r.get(key) for r in found):  # a metric no run recorded is no row of dashes
            rows.append([key.replace("_", " "), *(_ci(r.get(key)) for r in found)])
    if any(r.get("solved") for r in found):
        rows.append(["solved", *(_fraction(r.get("solved")) for r in found)])
    differences = {k: v for k, v in comparison["config_differences"].items() if k != "task"}
    for key, values in differences.items():  # the task has its row above
        rows.append([key, *("—" if v is None else _brief(v) for v in values)])
    if not differences:
        rows.append(["config", *("same" for _ in found)])
    return header, rows


def _mode(config: dict) -> str:
    """The run's mode; a sweep over modes lists its grid's (`mode=stateless,stateful`), not the
    base config's one."""
    for entry in str(config.get("grid", "")).split():
        key, _, values = entry.partition("=")
        if key.lower() == "mode":
            return values
    return str(config.get("mode", "—"))


def _main(run: store_.Run) -> str:
    """The run's main metric at the last epoch: "test acc 0.812 ± 0.020", "test rmse …"."""
    metric = run.main_metric
    return "—" if metric is None else f"{metric.replace('_', ' ')} {_summary(run.final[metric], metric)}"


def _brief(value: object, width: int = 40) -> str:
    """A config value in a table cell: numbers in lists (scaling's means and deviations) as
    their count, anything else cut to `width` characters."""
    def numbers(v) -> int | None:
        if isinstance(v, bool) or not isinstance(v, (int, float, list, tuple, dict)):
            return None
        if isinstance(v, (int, float)):
            return 1
        counts = [numbers(x) for x in (v.values() if isinstance(v, dict) else v)]
        return None if None in counts else sum(counts)

    text = str(value)
    if len(text) <= width:
        return text
    n = numbers(value)
    return f"{n} values" if n is not None else text[: width - 1] + "…"


def _spread(n: int, most: int) -> list[int]:
    """At most `most` indices from 0..n-1, evenly spaced, always including the first and last."""
    if n <= most:
        return list(range(n))
    return sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})


def _metric_order(metrics: dict) -> list[str]:
    return [m for m in SHOWN_METRICS if m in metrics] + sorted(set(metrics) - set(SHOWN_METRICS))


def _summary(values: list[float] | None, metric: str) -> str:
    """Mean ± 95% CI over seeds, clipped to the values `metric` can take (as `run` prints it)."""
    from .. import stats

    if not values:
        return "—"
    s = stats.mean_ci(values, bounds=store_.metric_bounds(metric))
    if s.n == 0:
        return "—"
    return str(s)  # one seed: "mean ± — (1 seed)"


def _ci(summary: dict | None) -> str:
    """A `compare_runs` interval: "mean ± half" when symmetric, "mean [low, high]" when clipped."""
    from .. import stats

    if not summary or summary["mean"] is None:
        return "—"
    if summary["low"] is None:
        return f"{summary['mean']:.3f} ± {_one_seed()}"
    return str(stats.Summary(**summary))


def _fraction(summary: dict | None) -> str:
    if not summary or summary["mean"] is None:
        return "—"
    from .. import stats

    return f"{summary['mean']:.0%} {stats.Summary(**summary).bracket('.0%')}"


def _one_seed() -> str:
    """A stored interval whose low is null: one finite seed left it undefined."""
    from .. import stats

    return stats.undefined(1)


def _local(stamp: str | None) -> str:
    if not stamp:
        return "—"
    return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _seconds(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.1f}"


def _short(value: object, width: int = 60) -> str:
    text = value if isinstance(value, str) else strict_json(value)
    return text if len(text) <= width else text[: width - 1] + "…"
