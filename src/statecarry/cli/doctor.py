"""`statecarry doctor`: check a stateful (Keras) training setup from its sizes and flags."""

from __future__ import annotations

import click

from . import cli, strict_json


class ResetType(click.ParamType):
    """never | epoch | batch | N (every N batches)."""

    name = "never|epoch|batch|N"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value in ("never", "epoch", "batch"):
            return value
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            self.fail(
                f"{value!r} is not never, epoch, batch or a number of batches ≥ 1.", param, ctx
            )
        return n


@cli.command()
@click.option("--n-train", type=click.IntRange(min=1), help="Training samples given to fit.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="fit's batch_size (32 is Keras' default).",
)
@click.option(
    "--stateful/--stateless",
    default=True,
    show_default=True,
    help="Is the recurrent layer stateful?",
)
@click.option(
    "--shuffle/--no-shuffle",
    default=True,
    show_default=True,
    help="fit's shuffle (Keras shuffles unless told not to).",
)
@click.option("--validation", is_flag=True, help="fit gets validation_data.")
@click.option(
    "--n-validation", type=click.IntRange(min=1), help="Validation samples (implies --validation)."
)
@click.option(
    "--evaluate",
    "evaluates",
    is_flag=True,
    help="evaluate/predict is called on the model between epochs.",
)
@click.option(
    "--reset",
    type=ResetType(),
    default="never",
    show_default=True,
    help="When the state is reset: never, epoch, batch, or every N batches.",
)
@click.option(
    "--label-lag",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="A label depends on the sample this many samples earlier (0: on itself).",
)
@click.option(
    "--batches-per-sequence",
    type=click.IntRange(min=1),
    help="Batches one independent sequence spans (1: every sample is independent).",
)
@click.option(
    "--model-batch-size", type=click.IntRange(min=1), help="The batch size the model was built for."
)
@click.option(
    "--probe/--no-probe",
    default=None,
    help="Probe the installed Keras backend (default: when --stateful; takes seconds).",
)
@click.option("json_", "--json", is_flag=True, help="Print the findings as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress note on stderr.")
def doctor(probe, json_, quiet, **flags) -> None:
    """Check a stateful training setup before it trains.

    Each finding says what goes wrong and the fix. Exit code 1 when any finding is an error, 0 otherwise.

    From Python, statecarry.doctor.check(model, x, y, ...) runs the same checks on a Keras
    model and its data.
    """
    from .. import doctor as doc

    setup = doc.Setup(**flags)
    findings = doc.check_setup(setup)
    if probe if probe is not None else setup.stateful:
        if not quiet:
            click.echo(
                "probing the installed Keras (a few seconds; --no-probe skips it)…", err=True
            )
        findings += doc.probe_findings(doc.probe_keras())
    if json_:
        click.echo(
            strict_json(
                {"errors": doc.has_errors(findings), "findings": [f.to_json() for f in findings]}
            )
        )
    else:
        click.echo(doc.format_findings(findings))
    if doc.has_errors(findings):
        raise SystemExit(1)
