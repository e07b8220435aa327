"""`statecarry forecast`: one-step and recursive forecasts on a real series, every model."""

from __future__ import annotations

import click

from . import UserError, _engine, _progress, cli, strict_json, table
from ._record import stored_recorder
from ._store import store_option

# flag -> (Setup field, type, help); defaults live in forecast.Setup only
SETUP_FLAGS = [
    ("--epochs", "epochs", int, "training epochs for every model"),
    ("--window", "window", int, "steps per window (windowed models)"),
    ("--horizon", "horizon", int, "K in 'stateful, window 1, horizon K'"),
    ("--units", "units", int, "LSTM units"),
    ("--lr", "learning_rate", float, "Adam learning rate"),
    ("--batch-size", "batch_size", int, "windows per batch (stateless model)"),
    ("--test-fraction", "test_fraction", float, "held-out tail of the series"),
    ("--ahead", "ahead", int, "steps of the recursive forecast"),
]


def setup_options(fn):
    from ..experiments.forecast import Setup

    for flag, name, type_, help_ in reversed(SETUP_FLAGS):
        default = Setup.__dataclass_fields__[name].default
        help_ = f"{help_} [default: {default}]"
        fn = click.option(flag, name, type=type_, default=None, help=help_)(fn)
    return fn


@cli.command()
@click.argument("series", required=False)
@click.option("--column", help="The CSV column to forecast (default: the only numeric one).")
@click.option("--seeds", default=16, show_default=True, help="Independent runs (seeds 0..N-1).")
@setup_options
@click.option("-o", "--output", default="forecast.png", show_default=True, help="Figure (PNG).")
@click.option("--no-figure", is_flag=True, help="Do not write the figure.")
@click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@store_option
def forecast(series, column, seeds, output, no_figure, json_, quiet, no_store, **options):
    """Forecast SERIES.csv (default: monthly Mauna Loa CO2, shipped) with every model.

    Persistence, drift, a stateless windowed LSTM and stateful LSTMs (window 1 with horizon
    1 and K, window W), each on the raw and the differenced series; one-step and recursive
    RMSE on the held-out tail, mean ± 95% CI over seeds.
    """
    from ..experiments import forecast as fc
    from ..experiments import forecast_verdicts as fv
    from ..experiments import series as series_

    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds}.")
    setup = fc.Setup(**{k: v for k, v in options.items() if v is not None})
    if column and not series:
        raise UserError("--column needs a SERIES.csv; the default series has one column, co2.")
    data = series_.load_csv(series, column) if series else series_.default_series()
    held_out = fc.split(len(data.values), setup)  # a too-short series fails before JAX starts
    for differenced in (False, True):  # so does a constant one, before anything is stored
        fc.model_series(data.values, held_out.start, differenced)
    if not no_figure:
        from pathlib import Path

        Path(output).parent.mkdir(parents=True, exist_ok=True)  # fail before training, not after
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
    click.echo(
        f"{data.source}, column {data.name!r}: {len(data.values)} values, the last "
        f"{result.split.n_test} held out; RMSE in the series' units, mean ± 95% CI over "
        f"{seeds} seed(s); recursive = {result.ahead} steps fed back from the end of training."
    )
    header = ["model", "series", "one-step RMSE", f"recursive RMSE ({result.ahead})", "seconds"]
    click.echo(table(header, fv.table_rows(result)))
    for verdict in verdicts:
        click.echo(f"\n{verdict.claim}\n  {verdict.verdict}: {verdict.measured}")
