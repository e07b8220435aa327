"""`statecarry report`: one self-contained HTML page for stored runs."""

from __future__ import annotations

import click

from . import cli

REPORT_SUFFIXES = (".html", ".htm")  # a page; a name without a suffix is written as given


@cli.command()
@click.argument("ids", nargs=-1, type=int)
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the HTML page (exactly there: no suffix is added).",
)
@click.option("-q", "--quiet", is_flag=True, help="No summary line (errors only).")
def report(ids: tuple[int, ...], output: str, quiet: bool) -> None:
    """Write an HTML report for run IDS (default: the latest).

    Curves, claims and the batch layout in one file with its figures inside: open it offline,
    attach it, archive it.
    """
    from .. import files
    from .. import report as report_mod

    files.check_output(output, REPORT_SUFFIXES, "--output")  # before reading any run
    runs = report_mod.load_runs(list(ids))
    path = report_mod.write_report(runs, output)
    size = path.stat().st_size / 1024
    if not quiet:
        click.echo(f"wrote {path} ({len(runs)} run{'s' if len(runs) != 1 else ''}, {size:.0f} KiB)")
