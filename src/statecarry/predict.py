"""Inference at any batch size, one step at a time.

Keras builds a stateful model for one batch size and refuses to predict with another, because
the state lives inside the layer. Here the state is a value: `Predictor` holds only the
parameters, and every call takes the state in and gives the new state back, so a model trained
with batch_size 4 serves 1 stream or 1000, and several independent states can be in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from . import model
from .errors import DataError
from .model import LSTMState, Params


@jax.jit
def _step(params: Params, state: LSTMState, x: Float[Array, "batch features"]):
    def row(state: LSTMState, x: Array) -> tuple[LSTMState, Array]:
        state, h = model.lstm_step(params["lstm"], state, x)
        return state, model.dense(params["dense"], h)

    return jax.vmap(row)(state, x)


@jax.jit
def _reset(state: LSTMState, mask: Bool[Array, " batch"]) -> LSTMState:
    return jax.vmap(model.reset_where)(state, mask)


class Predictor:
    """One-step predictions from `params` for any number of streams; holds no state.

    Example:
        predictor = Predictor(params)
        state = predictor.init_state(batch_size=3)
        for x in steps:  # x: (3, features), one step of three streams
            state, y = predictor.step(state, x)  # y: (3, outputs)
        state = predictor.reset(state, [1])  # stream 1 starts a new sequence
    """

    def __init__(self, params: Params):
        self.params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
        self.features, four_units = self.params["lstm"]["kernel"].shape
        self.units = four_units // 4
        self.outputs = self.params["dense"]["kernel"].shape[1]

    def init_state(self, batch_size: int) -> LSTMState:
        """Zeros for `batch_size` streams, the state before any step."""
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise DataError(f"batch_size must be a positive whole number, got {batch_size!r}.")
        return model.zeros_state(int(batch_size), self.units)

    def step(
        self, state: LSTMState, x: ArrayLike
    ) -> tuple[LSTMState, Float[Array, "batch outputs"]]:
        """One step of every stream: x is (batch, features), or (batch,) when features is 1.

        The prediction y[i] is the model's output after stream i has read x[i] (for a model
        trained on next values, the forecast of stream i's next value).
        """
        x = jnp.asarray(x, jnp.float32)
        batch = state.h.shape[0]
        if x.ndim == 1 and self.features == 1:
            x = x[:, None]
        if x.shape != (batch, self.features):
            raise DataError(
                f"x must be (batch, features) = {(batch, self.features)} for this state, got "
                f"shape {x.shape}; make a state with init_state({x.shape[0] if x.ndim else 1}) "
                "for another batch size."
            )
        return _step(self.params, state, x)

    def reset(self, state: LSTMState, rows: ArrayLike) -> LSTMState:
        """Zero the state of `rows` (a bool mask over the batch, or row indices): those
        streams start a new sequence at their next step; the others carry on."""
        batch = state.h.shape[0]
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (batch,):
                raise DataError(
                    f"a reset mask must have one entry per row, {batch}, got shape {rows.shape}."
                )
            mask = rows
        else:
            if rows.size and (
                not np.issubdtype(rows.dtype, np.integer)
                or rows.min() < -batch
                or rows.max() >= batch
            ):
                raise DataError(
                    f"reset rows must be indices from 0 to {batch - 1} (or a bool mask), got {rows.tolist()}."
                )
            mask = np.zeros(batch, bool)
            mask[rows.astype(np.int64)] = True
        return _reset(state, jnp.asarray(mask))

    def stream(
        self, series: Iterable[ArrayLike], state: LSTMState | None = None
    ) -> Iterator[np.ndarray]:
        """Feed one stream a value at a time; yield the prediction after each, shape (outputs,).

        `series` is any iterable of values (numbers when features is 1, else (features,)
        vectors), e.g. a 1-D array or a live feed. The stream starts from zeros unless `state`
        (batch size 1) is given, e.g. one warmed up with `step`.
        """
        state = self.init_state(1) if state is None else state
        if state.h.shape[0] != 1:
            raise DataError(
                f"stream() feeds one stream, but the state has {state.h.shape[0]} rows; use "
                "step() for several streams at once."
            )
        for value in series:
            state, y = self.step(state, jnp.reshape(jnp.asarray(value, jnp.float32), (1, -1)))
            yield np.asarray(y[0])
