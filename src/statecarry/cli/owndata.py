"""`statecarry train` and `statecarry compare`: a recurrent model on the user's own table."""

from __future__ import annotations

import click

from ..core.spec import CELLS, HEADS, LOSSES, MODES
from . import UserError, _engine, _progress, cli, seed_count, strict_json, table
from ._store import store_option


def _names(values: tuple[str, ...], flag: str) -> tuple[str, ...]:
    """`--target a --target b` and `--target a,b` alike; a column named twice is refused."""
    names = tuple(n.strip() for v in values for n in v.split(",") if n.strip())
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise UserError(f"{flag} names the column {twice!r} twice; give each column once.")
    return names


def table_options(fn):
    """The table's columns, split and layout (shared by train and compare)."""
    opts = [
        click.argument("path", metavar="TABLE"),
        click.option("--target", "targets", multiple=True, help="Column(s) to predict, comma-separated (default: y)."),
        click.option("--features", multiple=True, help="Input columns, comma-separated (default: every other numeric one)."),
        click.option("--id", "id_", default=None, help="Sequence id column (default: unique_id if present)."),
        click.option("--time", "time_", default=None, help="Time column: rows sorted by it (default: ds if present)."),
        click.option("--allow-gaps", is_flag=True, help="Take rows with missing time steps between them as consecutive."),
        click.option("--split", type=click.Choice(["time", "id"]), default="time", show_default=True, help="Hold out every series' tail, or whole ids."),
        click.option("--test-fraction", type=float, default=0.2, show_default=True, help="The held-out share."),
        click.option("--batch-size", type=int, default=16, show_default=True, help="Rows per batch."),
        click.option("--time-steps", type=int, default=16, show_default=True, help="Steps per batch (and window length)."),
        click.option("--ahead", type=int, default=None, help="Predict the target this many steps on (default 0; 1 when a target is also a feature)."),
        click.option("--inputs", type=click.Choice(["values", "tokens"]), default="values", show_default=True,
                     help="values: features as numbers (standardised); tokens: one feature column of ids 0, 1, 2, … (characters, words), each id its own input."),
        click.option("--head", type=click.Choice(HEADS), default=None, help="Override the head read from the target (tokens predicting their own next token: softmax)."),
        click.option("--loss", type=click.Choice(LOSSES), default=None, help="Override the head's loss."),
        click.option("--cell", type=click.Choice(CELLS), default="lstm", show_default=True, help="Recurrent cell."),
        click.option("--units", type=int, default=32, show_default=True, help="Units per layer."),
        click.option("--layers", type=int, default=1, show_default=True, help="Stacked layers."),
        click.option("--epochs", type=int, default=10, show_default=True, help="Training epochs."),
        click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate."),
        click.option("--reset", type=click.Choice(["epoch", "never"]), default="epoch", show_default=True, help="When the training state is zeroed."),
        click.option("--seeds", type=int, default=4, show_default=True, callback=seed_count, help="Independent runs (seeds 0..N-1)."),
        click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of text."),
        click.option("-q", "--quiet", is_flag=True, help="No progress on stderr."),
        store_option,
    ]  # fmt: skip
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _prepare_inputs(o: dict, layout: str = "streams"):
    """(columns, sequences, setup, model, train) from the shared options."""
    from ..core.spec import FLOAT32_MAX, Model, Train
    from ..data.sizes import whole_size
    from ..data.tables import load_table
    from ..experiments.owndata import Setup

    for flag in ("batch_size", "time_steps", "units", "layers", "epochs"):
        whole_size(o[flag], "--" + flag.replace("_", "-"), UserError)
    if not o["lr"] <= FLOAT32_MAX:  # too large, inf or NaN: said as train takes it, above 0
        raise UserError(f"--lr must be a positive number up to {FLOAT32_MAX:.4g} (the engine computes in float32), "
                        f"got {o['lr']:g}.")  # fmt: skip
    if o["lr"] == 0:
        raise UserError("--lr 0 trains nothing (the weights never move); give a positive learning rate, e.g. 1e-3.")
    if o["lr"] < 0:
        raise UserError(f"--lr {o['lr']:g} would climb the loss; give a positive learning rate, e.g. 1e-3.")
    # a ConfigError here is one sentence through the group's handler (learning_rate as --lr)
    model = Model(cell=o["cell"], units=o["units"], layers=o["layers"], head=o["head"] or "linear", inputs=o["inputs"])
    train = Train(epochs=o["epochs"], learning_rate=o["lr"], reset=o["reset"], loss=o["loss"])
    columns, seqs = load_table(o["path"], _names(o["targets"], "--target"), _names(o["features"], "--features"), o["id_"], o["time_"], o["allow_gaps"])
    setup = Setup(layout=layout, split=o["split"], test_fraction=o["test_fraction"], batch_size=o["batch_size"],
                  time_steps=o["time_steps"], ahead=o["ahead"], head=o["head"], inputs=o["inputs"])  # fmt: skip
    return columns, seqs, setup, model, train


def _about(columns, seqs, prep, loss: str | None = None) -> str:
    lengths = [len(x) for x in seqs.x]
    shape = (f"one series of {lengths[0]} steps" if len(lengths) == 1
             else f"{len(lengths)} sequences of {min(lengths)}" + (f"-{max(lengths)}" if max(lengths) > min(lengths) else "")
             + " steps")  # fmt: skip
    loss = loss or {"linear": "mse", "sigmoid": "bce", "softmax": "cross-entropy"}[prep.head]  # --loss, or the head's own
    head = f"{prep.head} head, {loss if loss == 'cross-entropy' else loss.upper()}"
    ahead = f", {prep.ahead} step(s) ahead" if prep.ahead else ""
    if prep.head == "linear" and len(columns.targets) > 1:
        ahead += "; RMSE and MAE in standard deviations (several targets)"
    inputs = f"{len(columns.features)} feature(s): {', '.join(columns.features)}"
    if prep.setup.inputs == "tokens":
        vocabulary = int(max(x.max() for x in seqs.x)) + 1
        inputs = f"the token ids in {columns.features[0]} ({vocabulary:,} tokens, 0 to {vocabulary - 1:,})"
    notes = "".join(f"\nnote: {n}" for n in table_notes(columns, seqs, prep))
    return f"{shape}; target {', '.join(columns.targets)}{ahead} ({head}) from {inputs}{notes}"


def table_notes(columns, seqs, prep) -> list[str]:
    """What a user would otherwise never learn about how the table was read: `train` and
    `compare` print each under their summary line, and `--json` gives them as `notes`."""
    notes = [_index_hint(columns, seqs), _batch_note(prep)]
    if columns.unread:
        names = ", ".join(columns.unread)
        notes.append(f"column(s) {names} are not numbers, so not features" + (
            "; if one names the sequences, say --id NAME" if columns.id is None and len(seqs.x) == 1 else ""))
    if seqs.resorted:
        notes.append(f"rows put in --time {columns.time} order (the file had some in another)")
    short, parts = prep.short_tests
    if short and short < parts:  # all of them: prepare refuses the table
        rows = prep.setup.time_steps + prep.ahead
        notes.append(f"{short} of the {parts} test parts are shorter than the {rows} rows a scored step needs "
                     f"(--time-steps {prep.setup.time_steps}{f' + --ahead {prep.ahead}' if prep.ahead else ''}), "
                     "so not scored")  # fmt: skip
    return [n for n in notes if n]


def _batch_note(prep) -> str:
    """A note when the training data fills fewer rows than --batch-size asked for (the engine
    then trains on as many as there are, which a user would otherwise never learn)."""
    asked, rows = prep.setup.batch_size, prep.train.x.shape[-3]
    if rows >= asked or prep.setup.layout == "windows":  # windows pad every batch to its size
        return ""
    what = f"pieces of --time-steps {prep.setup.time_steps}" if prep.train_sequences == 1 else "training sequences"
    return f"streams of {rows} rows per batch, not --batch-size {asked}: the training part makes only {rows} {what}"


def _index_hint(columns, seqs) -> str:
    """A note when there is no time column and a feature rises by one fixed step on every row
    of every sequence: a row number or time stamp read as an input, which carries nothing to
    learn from (a new user's `t,value` table trains on `t` alone)."""
    import numpy as np

    if columns.time is not None:
        return ""
    for j, name in enumerate(columns.features):
        steps = [np.diff(x[:, j]) for x in seqs.x if len(x) > 2]
        if steps and all(d[0] > 0 and np.all(d == d[0]) for d in steps):
            return (f"{name} rises by {steps[0][0]:g} every row, like a time index; if it is one, "
                    f"say --time {name} and it orders the rows instead")
    return ""


@cli.command()
@table_options
@click.option("--layout", type=click.Choice(["streams", "windows"]), default="streams", show_default=True,
              help="streams: state carried (one series cut into pieces, sequences packed); windows: stateless windows.")  # fmt: skip
@click.option("--mode", type=click.Choice(MODES), default=None, help="Where the state is reset (default: stateful; windows are stateless).")
@click.option("--horizon", type=int, default=None, help="Batches one gradient reaches back through (default: 1).")
@click.option("-o", "--output", default="model.safetensors", show_default=True, help="Where the best seed's model goes.")
@click.option("--all-seeds", is_flag=True, help="Also save every seed's model (MODEL-seedN.safetensors).")
def train(layout, mode, horizon, output, all_seeds, **o):
    """Train a recurrent model on TABLE over many seeds.

    TABLE is CSV or Parquet; the best seed's model is saved.
    """
    from pathlib import Path

    model_file(output)
    _whole_flag(horizon, "--horizon")
    if layout == "windows" and (mode not in (None, "stateless") or horizon not in (None, 1)):
        given = " ".join(f for f in (mode and f"--mode {mode}", horizon and f"--horizon {horizon}") if f)
        raise UserError(f"--layout windows trains stateless (a window carries no state), so it cannot take "
                        f"{given}; drop it, or use --layout streams.")  # fmt: skip
    mode = mode or ("stateless" if layout == "windows" else "stateful")
    horizon = 1 if horizon is None else horizon
    columns, seqs, setup, model, train_ = _prepare_inputs(o, layout)
    train_ = train_.replace(mode=mode, horizon=horizon)
    from ..core.runtime import big_steps

    _engine(big_steps=big_steps(model, train_))
    from .. import stats, store
    from ..experiments import owndata
    from ..experiments import owndata_run as run

    prep = owndata.prepare(seqs, columns, setup)
    seeds = list(range(o["seeds"]))
    if mode == "rtrl" and layout == "streams":  # refuse a model too large before a run is stored
        fits = run.rtrl_seeds_that_fit(prep, model)
        if len(seeds) > fits:
            raise UserError(f"rtrl fits at most {fits} seed(s) of this model in memory at once, not {len(seeds)}; "
                            "use fewer --seeds or --units, or --mode stateful --horizon K.")  # fmt: skip
    config = {"task": Path(o["path"]).name, **train_.to_dict(), **prep.meta(), "model": model.to_dict()}
    replacing = Path(output).exists()
    with store.recording("train", config, seeds, enabled=not o["no_store"]) as rec:
        fit_ = run.train_table(prep, model, train_, seeds, on_progress=_progress(o["quiet"] or o["json_"]),
                               on_epoch=lambda e, m: rec.epoch(e, {k: v.tolist() for k, v in run.in_units(m, prep).items()}))  # fmt: skip
        metrics = run.in_units(fit_.metrics, prep)
        best, saved = run.save_models(fit_, prep, output, all_seeds)
        if best is None:
            why = (fit_.divergence_message() or "every seed ended with non-finite parameters").rstrip(".")
            raise UserError(f"{why}; no model saved to {output}.")
        baselines = owndata.persistence_rmse(prep)
        rec.finish(result={"best_seed": best, "saved": saved, "baselines": baselines})
    if o["json_"]:
        click.echo(strict_json({"metrics": {k: v.tolist() for k, v in metrics.items()}, "best_seed": best,
                                "saved": saved, "baselines": baselines, "run_id": rec.run_id,
                                "notes": table_notes(columns, seqs, prep),
                                "diverged": {str(k): v for k, v in fit_.diverged.items()}}))  # fmt: skip
        return
    click.echo(_about(columns, seqs, prep, train_.loss))
    click.echo(epoch_table(metrics, stats, f"{fit_.train.mode}"
                           + (f", horizon {horizon}" if horizon > 1 else "") + f", {layout}: {len(seeds)} seed{'s' if len(seeds) != 1 else ''}, mean ± 95% CI"))  # fmt: skip
    if baselines:
        click.echo("baselines on the same test steps: " + ", ".join(f"{k} RMSE {v:.4g}" for k, v in baselines.items()))
    name, _ = run.test_metric(prep.head)
    score = f" ({name.replace('_', ' ')} {metrics[name][-1][seeds.index(best)]:.4g})" if name in metrics else ""
    click.echo(f"saved seed {best}{score} to {output}" + (f" and {len(saved) - 1} more" if all_seeds else "")
               + (", replacing the model that was there" if replacing else ""))
    if all_seeds and (stale := _stale_seeds(output, saved)):
        click.echo(f"note: {', '.join(stale)} beside it {'is' if len(stale) == 1 else 'are'} from an earlier run "
                   "(not one of this run's seeds), left as they were")  # fmt: skip
    if fit_.diverged:
        click.echo(f"Warning: {fit_.divergence_message()} Diverged seeds are not saved.", err=True)
    if rec.run_id is not None and not o["quiet"]:
        click.echo(f"stored as run {rec.run_id}", err=True)


def _stale_seeds(output: str, saved: list[str]) -> list[str]:
    """Files named as `--all-seeds` names a seed's model beside `output` that this run did not
    write: an earlier run's, with more seeds (or one that diverged now)."""
    import re
    from pathlib import Path

    out = Path(output).expanduser()
    pattern = re.compile(re.escape(out.stem) + r"-seed\d+" + re.escape(out.suffix))
    written = {Path(p).name for p in saved}
    return sorted((p.name for p in out.parent.iterdir() if pattern.fullmatch(p.name) and p.name not in written),
                  key=lambda n: (len(n), n))  # fmt: skip


def _whole_flag(value: int | None, flag: str) -> None:
    from ..data.sizes import whole_size

    if value is not None:
        whole_size(value, flag, UserError)


def model_file(path: str, flag: str = "-o") -> None:
    """A model is a safetensors file we can write: refuse any other suffix, and a path no file
    can be written at, before the work starts."""
    from pathlib import Path

    from ..files import check_output

    if Path(path).suffix.lower() != ".safetensors":
        raise UserError(f"{flag} {path}: a statecarry model is a safetensors file; name it with .safetensors, "
                        f"e.g. {Path(path).with_suffix('.safetensors').name}.")  # fmt: skip
    check_output(Path(path).expanduser(), (".safetensors",), flag)


def epoch_table(metrics: dict, stats, title: str) -> str:
    """Per epoch, every metric's mean ± 95% CI over seeds."""
    names = [m for m in metrics if not m.endswith("known_acc")]
    rows = []
    for e in range(len(metrics[names[0]])):
        rows.append([str(e)] + [str(stats.mean_ci(metrics[m][e], bounds=stats.ACCURACY if m.endswith("acc")
                                                   else stats.NON_NEGATIVE)) for m in names])  # fmt: skip
    return title + "\n" + table(["epoch"] + [m.replace("_", " ") for m in names], rows)


@cli.command()
@table_options
@click.option("--horizon", type=int, default=None, help="K for 'stateful, horizon K' (default: covers the longest sequence, or 4).")
@click.option("--report", "report_path", default="compare.html", show_default=True, help="The page with the learning curves.")
@click.option("--no-report", is_flag=True, help="Do not write the page.")
def compare(horizon, report_path, no_report, **o):
    """Test whether carrying state helps on TABLE.

    Stateless windows against stateful (horizon 1, K) and RTRL, paired over seeds.
    """
    from contextlib import contextmanager
    from pathlib import Path

    from ..files import check_output

    if not no_report:
        check_output(report_path, [".html", ".htm"], "--report")
    _whole_flag(horizon, "--horizon")
    columns, seqs, setup, model, train_ = _prepare_inputs(o)
    _engine()
    from .. import stats, store
    from ..experiments import owndata
    from ..experiments import owndata_run as run

    prep = owndata.prepare(seqs, columns, setup)

    seeds = list(range(o["seeds"]))
    config = {"task": Path(o["path"]).name, **train_.to_dict(), "setup": setup.__dict__, "columns": columns.to_json(),
              "model": model.to_dict()}  # fmt: skip
    with store.recording("compare", config, seeds, enabled=not o["no_store"]) as rec:

        @contextmanager
        def record(name, cfg):  # each variant its own run, named by it, open while it trains
            if rec.store is None:
                yield None
                return
            own = {"setup": config["setup"] | {"layout": cfg["layout"]}}  # a windows variant's setup says windows
            with rec.child("train", config | cfg | own | {"variant": name, "task": f"{config['task']}: {name}"}, seeds) as child:
                yield child

        results, notes, verdict = run.compare(seqs, columns, setup, model, train_, seeds, horizon, record=record,
                                              on_progress=_progress(o["quiet"] or o["json_"]), prep=prep)  # fmt: skip
        rec.finish(result={"variants": [r.to_json() for r in results], "verdict": verdict, "notes": notes})
    page = None
    if not no_report:
        from ..report.owndata import write_compare

        page = write_compare(results, verdict, notes, Path(o["path"]).name, report_path)
    if o["json_"]:
        click.echo(strict_json({"variants": [r.to_json() for r in results], "verdict": verdict,
                                "notes": table_notes(columns, seqs, prep) + notes,
                                "report": None if page is None else str(page), "run_id": rec.run_id}))  # fmt: skip
        return
    click.echo(_about(columns, seqs, prep, train_.loss))
    name = next(m for m in results[0].metrics if m.startswith("test_") and not m.endswith("loss"))
    rows = [[r.name, str(stats.mean_ci(r.final)), "baseline" if r.difference is None else str(r.difference)]
            for r in results]  # fmt: skip
    better = "lower" if name.endswith(("rmse", "mae")) else "higher"
    click.echo(f"{name.replace('_', ' ')} after {train_.epochs} epoch{'s' if train_.epochs != 1 else ''} ({better} is better), {len(seeds)} seed{'s' if len(seeds) != 1 else ''}, "
               "mean ± 95% CI; gain = paired over seeds against stateless windows (> 0: better)")  # fmt: skip
    click.echo(table(["model", name.replace("_", " "), "gain vs stateless"], rows))
    for note in notes:
        click.echo(f"note: {note}")
    click.echo(f"verdict: {verdict}.")
    if page is not None:
        click.echo(f"report: {page}")
