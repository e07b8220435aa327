"""`statecarry predict`, `evaluate`, `export` and `import`: a saved model on new data, and to/from Keras."""

from __future__ import annotations

import click

from . import UserError, _engine, cli


@cli.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("path", metavar="TABLE")
@click.option("-o", "--output", required=True, help="Predictions: .csv or .parquet.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Sequences run side by side (any size).")
@click.option("--state-in", default=None, help="States (.npz) from an earlier --state-out: each id continues from its own.")
@click.option("--state-out", default=None, help="Write each id's state after its last row (.npz).")
@click.option("--allow-gaps", is_flag=True, help="Take rows with missing time steps between them as consecutive.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line (errors and warnings only).")
def predict(model_path, path, output, batch_size, state_in, state_out, allow_gaps, quiet):
    """Feed TABLE through MODEL and write its predictions.

    MODEL is from `statecarry train`; the state is carried per id, reset at each new id.
    """
    from pathlib import Path

    from ..data.sizes import whole_size

    whole_size(batch_size, "--batch-size", UserError)
    _model_first(model_path, path)
    if Path(output).suffix.lower() not in (".csv", ".parquet"):
        raise UserError(f"-o {output}: give a file ending in .csv or .parquet.")
    from .. import files

    files.check_output(Path(output).expanduser(), (".csv", ".parquet"), "-o")
    if _same_file(output, path):
        raise UserError(f"-o {output} is TABLE itself: the predictions would replace your data; "
                        "write them to another file.")  # fmt: skip
    if state_out and Path(state_out).suffix.lower() != ".npz":
        raise UserError(f"--state-out {state_out}: states are written as NumPy .npz; name it with .npz, "
                        f"e.g. {Path(state_out).with_suffix('.npz').name}.")  # fmt: skip
    if state_in and not Path(state_in).expanduser().is_file():
        raise UserError(f"--state-in {state_in}: there is no such file; give the .npz an earlier --state-out wrote.")
    _engine()
    from ..data.reading import read_table
    from ..experiments import owndata_io

    model, params, meta = _saved(model_path, "predict")
    frame = read_table(path)
    columns, seqs = owndata_io.sequences_for(frame, meta, allow_gaps)
    states = owndata_io.read_states(state_in, model) if state_in else None
    unknown = owndata_io.ids_without_state(seqs.ids, states)
    if unknown:
        click.echo(f"Warning: {unknown} of {len(seqs.ids)} id(s) in {Path(path).name} have no state in {state_in}, "
                   "so they start from zeros.", err=True)  # fmt: skip
    written, after = owndata_io.predict_to_file(model, params, meta, seqs, columns, batch_size, states, state_out is not None, output)
    if state_out:
        owndata_io.write_states(state_out, after)
    if not quiet:
        click.echo(f"wrote {written} rows of predictions to {output}" + (f"; states to {state_out}" if state_out else ""))


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file that exists (through ~, links or ./)."""
    import os
    from pathlib import Path

    a, b = Path(a).expanduser(), Path(b).expanduser()
    return a.exists() and b.exists() and os.path.samefile(a, b)


def _saved(model_path: str, command: str) -> tuple:
    """(model, params, what train stored with them) of a model `command` can use."""
    from ..core.checkpoint import load, read_extra
    from ..experiments.owndata_run import all_finite

    model, params = load(model_path)
    if not all_finite(params):
        raise UserError(f"{model_path} has non-finite parameters (its training diverged), so its predictions "
                        "would be empty; retrain it with a smaller --lr.")  # fmt: skip
    meta = read_extra(model_path)
    if meta is None or "columns" not in meta:
        raise UserError(f"{model_path} has no table columns or scaling; {command} reads models saved by "
                        "'statecarry train' (or imported with --like).")  # fmt: skip
    return model, params, meta


@cli.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("path", metavar="TABLE")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Sequences run side by side (any size).")
@click.option("--allow-gaps", is_flag=True, help="Take rows with missing time steps between them as consecutive.")
@click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("-q", "--quiet", is_flag=True, help="The scores only: no warnings, no closing line.")
def evaluate(model_path, path, batch_size, allow_gaps, json_, quiet):
    """Score MODEL on TABLE as `train` scores its test part.

    TABLE holds the target column(s).
    """
    from ..data.sizes import whole_size
    from . import strict_json

    whole_size(batch_size, "--batch-size", UserError)
    _model_first(model_path, path, "evaluate")
    _engine()
    from ..data.reading import read_table
    from ..experiments import owndata_io

    model, params, meta = _saved(model_path, "evaluate")
    frame = read_table(path)
    _, seqs = owndata_io.sequences_for(frame, meta, allow_gaps, targets=True)
    metrics, steps, scored, warnings = owndata_io.score_table(model, params, meta, seqs, batch_size)
    ahead, warm = meta.get("ahead", 0), meta["time_steps"] - 1
    for warning in [] if quiet else warnings:
        click.echo(f"Warning: {warning}", err=True)
    if json_:
        click.echo(strict_json({"metrics": metrics, "steps": steps, "sequences": scored,
                                "warm_up_rows": warm, "ahead": ahead, "warnings": warnings}))  # fmt: skip
        return
    for target, values in metrics.items():
        click.echo(f"{target}: " + ", ".join(f"{name} {value:.4g}" for name, value in values.items()))
    if quiet:
        return
    later = f", each against the target {ahead} row(s) later" if ahead else ""
    short = f" ({len(seqs.x) - scored} too short to score)" if scored < len(seqs.x) else ""
    click.echo(f"scored {steps} step(s) of {scored} sequence(s){short}, after each one's first {warm} row(s) "
               f"(its warm-up){later}, as train scores its test part")  # fmt: skip


def _model_first(model_path: str, path: str, command: str = "predict") -> None:
    """A table given where the model goes (the two arguments swapped, most likely)."""
    from pathlib import Path

    from ..data.reading import SUFFIXES

    if Path(model_path).suffix.lower() in SUFFIXES:
        swapped = Path(path).suffix.lower() == ".safetensors"
        raise UserError(f"MODEL {model_path} is a table; {command} takes the model first"
                        + (f": statecarry {command} {path} {model_path}" + (" -o ..." if command == "predict" else "") if swapped
                           else ", the .safetensors file 'statecarry train' wrote, then the table."))  # fmt: skip


@cli.command("export")
@click.argument("model_path", metavar="MODEL")
@click.option("--keras", "keras_path", required=True, help="The Keras file to write (.keras).")
@click.option("-q", "--quiet", is_flag=True, help="No summary line (errors only).")
def export_(model_path, keras_path, quiet):
    """Write MODEL as a Keras model file.

    It is checked to give the same outputs (to 1e-5).
    """
    _engine()
    from pathlib import Path

    from ..core.keras_files import export_keras

    replacing = Path(keras_path).expanduser().exists()
    difference = export_keras(model_path, keras_path)
    if not quiet:
        click.echo(f"wrote {keras_path}; its outputs agree with {model_path} to {difference:.1g} on a random batch"
                   + (", replacing the file that was there" if replacing else ""))


@cli.command("import")
@click.argument("keras_path", metavar="KERAS_MODEL")
@click.option("-o", "--output", required=True, help="The statecarry model to write (.safetensors).")
@click.option("--like", default=None, help="A model from `statecarry train` whose columns and scaling to keep.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line (errors only).")
def import_(keras_path, output, like, quiet):
    """Read a Keras model into a statecarry model file.

    The Keras model: LSTM or GRU layers, then Dense.
    """
    from .owndata import model_file

    model_file(output)
    _engine()
    from pathlib import Path

    from ..core.keras_files import import_keras

    replacing = Path(output).expanduser().exists()
    if replacing and like is None and _from_train(output):
        raise UserError(f"{output} is a model from 'statecarry train', whose table columns and scaling the import "
                        f"would lose; add --like {output} to keep them, or write to another file.")  # fmt: skip
    difference = import_keras(keras_path, output, like)
    if not quiet:
        click.echo(f"wrote {output}; its outputs agree with {keras_path} to {difference:.1g} on a random batch"
                   + (", replacing the model that was there" if replacing else ""))


def _from_train(path: str) -> bool:
    """Whether `path` is a statecarry model with a table's columns and scaling (False for any
    other file, which the import may replace)."""
    from ..core.checkpoint import read_extra
    from ..errors import StatecarryError

    try:
        return "columns" in (read_extra(path) or {})
    except StatecarryError:
        return False
