"""What this machine lets statecarry use: the memory available now, or the limit a user sets
(`STATECARRY_MEMORY_LIMIT`), and sizes written for people. Rank 0 (no NumPy, no JAX), so the
engine's estimate (`core/memory.py`) and the table reader (`data/tables.py`) share one budget."""

from __future__ import annotations

import math
import os

from .errors import TooLargeForMemory

USABLE = 0.8  # of the memory available, the share a run may plan for (the rest: headroom)
LIMIT_SETTING = "STATECARRY_MEMORY_LIMIT"


def size(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale or unit == "KiB":
            return f"{n / scale:,.1f} {unit}"
    raise AssertionError


def available_bytes() -> int:
    """Memory the kernel could give this process now (MemAvailable), else all physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def budget() -> tuple[int, str]:
    """(bytes a run may plan for, where that number comes from, for a message)."""
    setting = os.environ.get(LIMIT_SETTING, "").strip()
    if setting:
        limit = parse_bytes(setting)
        return limit, f"the {size(limit)} that {LIMIT_SETTING} allows"
    have = int(available_bytes() * USABLE)
    return have, (
        f"the {size(have)} a run may use here ({USABLE:.0%} of the memory available; "
        f"{LIMIT_SETTING} sets another limit)"
    )


def parse_bytes(text: str) -> int:
    """'2G', '512M', '300k' or a plain number of bytes (binary units)."""
    scales = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = scales.get(t[-1:], 1)
    try:
        value = float(t[:-1] if t[-1:] in scales else t) * scale
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise TooLargeForMemory(
            f"{LIMIT_SETTING} must be a size such as 2G, 512M or a number of bytes, got {text!r}."
        )
    return int(value)
