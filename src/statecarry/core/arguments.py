"""Arguments of the public inference functions, checked before JAX sees them: one
`StatecarryError` sentence each instead of a NumPy, JAX or Keras traceback."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from ..errors import CheckpointError, DataError
from . import cells
from .spec import Model


def floats(value: Any, what: str) -> np.ndarray:
    """`value` as a float32 array, or a sentence saying it is not numbers."""
    if isinstance(value, (str, bytes)):
        raise DataError(f"{what} must be numbers (an array), got the text {value!r:.40}.")
    try:
        return np.asarray(value, np.float32)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numbers (an array), got {type(value).__name__}.") from None


def params_fit(params: dict, model: Model) -> None:
    """Every weight of `params` has the shape `model` needs (Keras' names and shapes)."""
    from .interop import expected_shapes

    for name, want in expected_shapes(model).items():
        layer, weight = name.split("/")
        got = np.shape(params.get(layer, {}).get(weight, ())) if isinstance(params.get(layer), dict) else None
        if got != want:
            raise DataError(
                f"{name} has shape {got} but this {model.cell.upper()}({model.units}) × "
                f"{model.layers} on {model.features} feature(s) with {model.outputs} output(s) "
                f"needs {want}; pass one seed's params as fit or load give them."
            )


def state_rows(state: Any, model: Model, rows: int | None = None) -> int:
    """The rows (streams) of `state`, checked against the model's state shapes."""
    leaves = jax.tree.leaves(state)
    first = np.shape(leaves[0]) if leaves else ()
    n = rows if rows is not None else (first[0] if len(first) == 2 else None)
    want = None if n is None else cells.zeros_state(model, int(n))
    if want is None or jax.tree.structure(state) != jax.tree.structure(want) or [
        np.shape(a) for a in leaves
    ] != [np.shape(a) for a in jax.tree.leaves(want)]:
        rows_text = f"{rows} rows" if rows is not None else "rows"
        raise DataError(
            f"the state must be one that init_state, step, predict or Fit.state_of gave for "
            f"{rows_text} of this model, got {type(state).__name__}"
            + (f" with shapes {[np.shape(a) for a in leaves]}" if leaves else "")
            + "."
        )
    return int(n)


def path_of(path: Any, verb: str) -> os.PathLike | str:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise CheckpointError(f"{verb} needs a file path (a str or Path), got {path!r:.60}.")
    return path


def model_arg(model: Any, where: str) -> Model:
    if not isinstance(model, Model):
        raise CheckpointError(
            f"{where} takes a statecarry Model, got {type(model).__name__}; pass Fit.model or "
            "the model load returned."
        )
    return model
