"""`statecarry varlen`: variable-length sequences, padded (the Q&A's advice) vs packed."""

from __future__ import annotations

import click

from . import _engine, _progress, cli, seed_count, strict_json, table
from ._record import stored_recorder
from ._store import store_option


@cli.command()
@click.option("--seeds", default=8, show_default=True, callback=seed_count, help="Independent runs (seeds 0..N-1).")
@click.option("--epochs", default=None, type=int, help="Training epochs for every layout.")
@click.option("--quick", is_flag=True, help="12 epochs instead of 20: a faster look.")
@click.option("--batch-size", default=None, type=int, help="Rows per batch (padded B, packed).")
@click.option("--time-steps", default=None, type=int, help="Packed window length.")
@click.option("--max-length", default=None, type=int, help="Longest sequence (shortest: 5).")
@click.option("--units", default=None, type=int, help="LSTM units.")
@click.option("json_", "--json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.option("--resume", is_flag=True, help="Reuse finished layouts of the same setup and seeds from the run store.")
@store_option
def varlen(seeds, epochs, quick, batch_size, time_steps, max_length, units, json_, quiet, resume, no_store):
    """Measure padding against packing for variable lengths.

    Pad variable-length sequences to one length, or pack them with resets?
    """
    from ..experiments import varlen as vl

    changes = {
        k: v
        for k, v in dict(epochs=epochs, batch_size=batch_size, time_steps=time_steps,
                         max_length=max_length, units=units).items()
        if v is not None
    }
    setup = vl.with_setup(vl.QUICK if quick else vl.Setup(), **changes)
    _engine()
    from .. import store

    seed_list = list(range(seeds))
    with store.recording("varlen", {"task": "varlen", **setup.__dict__}, seed_list,
                         enabled=not no_store) as rec:  # fmt: skip
        record = stored_recorder(rec, resume)
        results = vl.compare(seed_list, setup, on_progress=_progress(quiet or json_), record=record)
        verdict, measured = vl.suggest_verdict(results)
        rec.finish(result={"layouts": [r.to_json() for r in results],
                           "claim": {"verdict": verdict, "measured": measured}})  # fmt: skip
    if record.reused and not quiet:
        click.echo(f"reused {len(record.reused)} of {len(results)} layouts from the run store "
                   f"(runs {', '.join(map(str, record.reused))}).", err=True)  # fmt: skip
    if json_:
        click.echo(strict_json({
            "setup": setup.__dict__,
            "seeds": seeds,
            "layouts": [r.to_json() for r in results],
            "claim": {"claim": vl.CLAIM, "verdict": verdict, "measured": measured},
            "run_id": rec.run_id,  # null with --no-store, as run's and sweep's
        }))
        return
    click.echo(
        f"{setup.n_train} training / {setup.n_test} test sequences, lengths "
        f"{setup.min_length}-{setup.max_length}, label = first step; {setup.epochs} epochs, "
        f"{seeds} seed(s), test accuracy mean ± 95% CI; ms/epoch = one epoch (training and the test pass), all "
        "seeds at once."
    )
    click.echo(table(vl.TABLE_HEADER, vl.table_rows(results)))
    click.echo(f"\n{vl.CLAIM}\n  {verdict}: {measured}")
