"""Register the commands that live in their own modules (one import line each)."""

# Each module defines its commands with `@cli.command()` / `@cli.group()` on import.
from . import (
    doctor,  # noqa: F401
    forecast,  # noqa: F401
    owndata,  # noqa: F401
    owndata_io,  # noqa: F401
    report,  # noqa: F401
    reproduce,  # noqa: F401
    runs,  # noqa: F401
    sweep,  # noqa: F401
    varlen,  # noqa: F401
)
