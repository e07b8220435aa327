"""A `Finding`: what will go wrong and how to fix it; and a list of them, printed for a person.

`error`: training will silently learn the wrong thing or crash; `warning`: results depend on
something the user probably did not mean; `info`: worth knowing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    code: str  # stable identifier, e.g. "shuffle-stateful"
    severity: Severity
    message: str  # what will go wrong, with the numbers
    fix: str  # what to do instead

    def to_json(self) -> dict:
        return asdict(self)


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def format_findings(findings: Sequence[Finding]) -> str:
    """A readable list: errors first, each with what goes wrong and the fix."""
    if not findings:
        return "statecarry doctor: no problems found."
    order = {"error": 0, "warning": 1, "info": 2}
    counts = []
    for severity in order:
        n = sum(f.severity == severity for f in findings)
        if n:
            counts.append(f"{n} {severity}{'s' if n != 1 else ''}")
    lines = [f"statecarry doctor: {', '.join(counts)}", ""]
    for f in sorted(findings, key=lambda f: order[f.severity]):
        lines.append(f"{f.severity}: {f.code}")
        lines.append(f"  {f.message}")
        lines.append(f"  fix: {f.fix}")
        lines.append("")
    return "\n".join(lines).rstrip()
