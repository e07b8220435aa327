"""Sizes the engine accepts, checked without NumPy (the specs use it; `statecarry --help`
imports the specs and must not pay for NumPy)."""

from __future__ import annotations

from numbers import Integral

from ..errors import DataError

MAX_SIZE = 2**31 - 1  # the engine's sizes, indices and seeds are 32-bit integers (XLA, JAX)


def whole_size(value: object, name: str, error: type[Exception] = DataError) -> None:
    """A size (batch size, units, epochs, …): a whole number from 1 to `MAX_SIZE`."""
    # NumPy registers its integer types as numbers.Integral
    if isinstance(value, bool) or not isinstance(value, Integral) or not 1 <= value <= MAX_SIZE:
        raise error(
            f"{name} must be a positive whole number up to {MAX_SIZE:,} (the engine's sizes are "
            f"32-bit integers), got {value!r}."
        )
