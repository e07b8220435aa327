"""`statecarry forecast`: one-step and recursive forecasts on a real series, every model."""

from __future__ import annotations

from pathlib import Path

import click

from . import UserError, _engine, _progress, cli, one_value, seed_count, strict_json, table
from ._config_flags import default_note
from ._record import stored_recorder
from ._store import store_option

# flag -> (Setup field, type, help); defaults live in forecast.Setup only
SETUP_FLAGS = [
    ("--epochs", "epochs", int, "training epochs for every model"),
    ("--window", "window", int, "steps per window (windowed models)"),
    ("--horizon", "horizon", int, "K in 'stateful, window 1, horizon K'"),
    ("--units", "units", int, "units of every LSTM and GRU"),
    ("--lr", "learning_rate", float, "Adam learning rate"),
    ("--batch-size", "batch_size", int, "windows per batch (stateless model)"),
    ("--test-fraction", "test_fraction", float, "held-out tail of the series"),
    ("--ahead", "ahead", int, "longest horizon forecast from every origin"),
    ("--period", "period", int, "season length (default: detected on the training part)"),
]
FIGURE_FORMATS = (".png", ".pdf", ".svg")
ALIASES = {"--window": ("--time-steps",)}  # train's and compare's name for the same length


def setup_options(fn):
    from ..experiments.forecast import Setup

    for flag, name, type_, help_ in reversed(SETUP_FLAGS):
        default = Setup.__dataclass_fields__[name].default
        help_ = f"{help_[0].upper()}{help_[1:]}." + default_note(flag, default)
        aliases = ALIASES.get(flag, ())
        twice = dict(multiple=True, callback=one_value) if aliases else {}  # both names at once: one sentence
        fn = click.option(flag, *aliases, name, type=type_, default=None, help=help_, **twice)(fn)
    return fn


@cli.command()
@click.argument("series", required=False)
@click.option("--column", "--target", "column", multiple=True, callback=one_value,
              help="The CSV column to forecast (default: the only numeric one).")
@click.option("--seeds", default=16, show_default=True, callback=seed_count,  # `run`'s rule
              help="Independent runs (seeds 0..N-1).")
@click.option("--cells", default="lstm,gru", show_default=True, help="Recurrent cells to train.")
@setup_options
@click.option("-o", "--output", default="forecast.png", show_default=True,
              help="Figure: .png, .pdf or .svg (no suffix: PNG, written as named).")
@click.option("--no-figure", is_flag=True, help="Do not write the figure.")
@click.option("global_", "--global", metavar="A,B,...",
              help="Instead: one model trained on these series at once (shipped names or CSV "
                   "files) against one model per series.")
@click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@store_option
def forecast(series, column, seeds, cells, output, no_figure, global_, json_, quiet, no_store, **options):
    """Forecast SERIES.csv, or a shipped series, against baselines.

    Shipped: co2 (the default), sunspots, nile, elnino.

    The classical ladder (naive, seasonal naive, drift, seasonal naive + drift, ETS, SARIMA,
    AR(p) by AIC) against LSTMs and GRUs with a linear head (stateless windows; stateful window
    1 with horizon 1 and K; stateful window W), each on the raw and the differenced series. Every
    held-out position is a forecast origin; MASE by horizon (1, 6, 12, 24), mean ± 95% CI
    over seeds, and the best LSTM/GRU against the best baseline, paired per origin and seed.
    """
    from ..experiments import forecast as fc
    from ..experiments import forecast_verdicts as fv
    from ..experiments import series as series_

    cell_list = tuple(c.strip().lower() for c in cells.split(",") if c.strip())
    setup = fc.Setup(**{k: v for k, v in options.items() if v is not None}, cells=cell_list)
    if global_:
        if series or column:
            given = f"SERIES {series}" if series else f"--column {column}"
            example = f"{series},co2" if series and series != "co2" else "co2,nile"
            raise UserError(f"--global takes its series itself, so {given} would be left out; name every series "
                            f"in --global (e.g. --global {example}), or drop --global.")  # fmt: skip
        return _global(global_, seeds, setup, json_, no_store)
    if not no_figure:
        from .. import files

        files.check_output(output, FIGURE_FORMATS, "-o")  # before any training, not after
    if column and (not series or series in ("co2", *series_.SHIPPED)):
        raise UserError("--column needs a SERIES.csv; the shipped series have one column each.")
    data = _load(series, column) if series else series_.default_series()
    held_out = fc.split(len(data.values), setup)  # a too-short series fails before JAX starts
    fc.model_series(data.values, held_out.start, False, _named(data))  # so does a constant one
    fc.period_of(data.values, held_out.start, setup)  # and a period longer than it allows
    _engine()
    from dataclasses import asdict

    from .. import store

    seed_list = list(range(seeds))
    stored_config = {"task": "forecast", "series": data.source, "column": data.name} | asdict(setup)
    with store.recording("forecast", stored_config, seed_list, enabled=not no_store) as rec:
        result = fc.compare(data, seed_list, setup, on_progress=_progress(quiet or json_),
                            record=stored_recorder(rec))  # fmt: skip
        verdicts = fv.claims(result)
        as_json = result.to_json() | {"claims": [v.to_json() for v in verdicts]}
        rec.finish(result=as_json)
    if not no_figure:
        from ..report.forecast import plot

        plot(result, output)
        click.echo(f"figure: {output}", err=True)
    if json_:
        click.echo(strict_json(as_json))
        return
    from ..experiments import rolling

    click.echo(
        f"{data.source}, column {data.name!r}: {len(data.values)} values, the last "
        f"{result.split.n_test} held out, each a forecast origin; season {result.period}; MASE "
        f"against seasonal naive's in-sample error ({result.scale:.4g}), mean ± 95% CI over "
        f"{seeds} seed(s); one-step RMSE in the series' units."
    )
    hs = rolling.horizons(result)
    header = ["model", "series", *(f"MASE h={h}" for h in hs), "one-step RMSE", "seconds"]
    click.echo(table(header, fv.table_rows(result)))
    for name, why in result.skipped.items():
        click.echo(f"left out: {name}: {why}")
    click.echo("\nbest recurrent model vs best baseline, MASE ratio paired per origin and seed:")
    versus = fv.versus_rows(result)
    if versus:
        click.echo(table(["h", "model", "baseline", "ratio [95% CI]", "verdict"], versus))
    else:
        click.echo("  none: every recurrent model was left out (above).")
    for verdict in verdicts:
        click.echo(f"\n{verdict.claim}\n  {verdict.verdict}: {verdict.measured}")


def _named(series) -> str:
    """A series in a message: its column and file (`y in t.csv`), or a shipped one's name."""
    return series.name if series.source.startswith(f"{series.name} (") else f"{series.name} in {series.source}"


def _load(name: str, column: str | None = None):
    """A shipped series by name, else a table file (CSV, TSV or Parquet, as `train` reads)."""
    from ..experiments import series as series_

    if not Path(name).exists() and (name in ("co2", *series_.SHIPPED) or not Path(name).suffix):
        return series_.shipped(name)  # a bare unknown name: the closest shipped one is named
    return series_.load_csv(name, column)


def _global(names: str, seeds: int, setup, json_: bool, no_store: bool = False) -> None:
    """`--global`: one model for several series against one model per series."""
    from ..experiments import forecast as fc
    from ..experiments import global_model

    many = [_load(n.strip()) for n in names.split(",") if n.strip()]
    if len(many) < 2:
        raise UserError(f"--global needs at least two series, got {names!r}; e.g. co2,sunspots,elnino.")
    for s in many:  # every series checked before JAX starts
        start = fc.split(len(s.values), setup).start
        fc.model_series(s.values, start, True, _named(s))
        fc.period_of(s.values, start, setup)
    _engine()
    from dataclasses import asdict

    from .. import store

    cell = setup.cells[0]
    header = ["series", "h", "MASE per series", "MASE global", "global / per series", "verdict"]
    config = {"task": "forecast --global", "series": [s.source for s in many], "cell": cell} | asdict(setup)
    with store.recording("forecast", config, list(range(seeds)), enabled=not no_store) as rec:
        scores = global_model.compare_global(many, list(range(seeds)), setup, cell)
        rows = global_model.rows(scores, setup.ahead)
        rec.finish(result={"cell": cell, "rows": [dict(zip(header, r)) for r in rows]})
    if json_:
        click.echo(strict_json({"cell": cell, "seeds": seeds, "rows": [dict(zip(header, r)) for r in rows]}))
        return
    click.echo(
        f"{cell.upper()} stateful, window {setup.window}, on the differenced series, each "
        f"standardised on its own training part; one model trained on {len(many)} series packed "
        f"with resets vs one per series; MASE over every held-out origin, {seeds} seed(s)."
    )
    click.echo(table(header, rows))
