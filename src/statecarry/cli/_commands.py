"""Register the commands that live in their own modules (one import line each)."""

# Each module defines its commands with `@cli.command()` / `@cli.group()` on import.
from . import runs  # noqa: F401
from . import report  # noqa: F401
from . import doctor  # noqa: F401
from . import forecast  # noqa: F401
from . import varlen  # noqa: F401
from . import reproduce  # noqa: F401
from . import sweep  # noqa: F401
