"""One batch: what crosses the boundary into it, the forward pass, and its loss. Every mode's
gradient (modes.py, rtrl.py) differentiates `batch_loss`."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array

from . import heads, kernel_grads
from .cells import LSTMState, Params, State
from .spec import Model, Train


def enter_batch(state: State, train: Train) -> State:
    """What crosses a batch boundary: the whole state (Keras), or for `carry="c"` only each
    LSTM layer's cell state c, with h zeroed."""
    if train.carry == "c":
        return tuple(LSTMState(jnp.zeros_like(s.h), s.c) for s in state)
    return state


def head_steps(batch) -> int | None:
    """The steps the batch has targets at, counted back from its last, when not every step:
    data `fit` cut to its last step (`source.cut`) gives the head that step alone. (Only `fit`
    cuts: the public `evaluate` refuses targets shorter than the inputs.)"""
    steps = batch.y.shape[1]
    return steps if steps < batch.x.shape[1] else None


def batch_loss(
    params: Params, state: State, batch, model: Model, train: Train, loss: Array | None = None
) -> tuple[Array, tuple[State, dict]]:
    """Mean loss over the batch's targets (Keras' per-batch loss), the state after it, stats.
    With lanes, the sum of the lanes' losses: each lane's gradient is its own loss's.

    `loss` is the lane's loss as data (an index into the head's losses, `heads.batch_stats`),
    as a compiled program gets it from the carry; None takes the Train's own."""
    state, out = kernel_grads.forward(params, model, enter_batch(state, train), batch.x, batch.reset, head_steps(batch))
    stats = heads.batch_stats(out, batch, model.head, train.loss_for(model) if loss is None else loss)
    loss = stats["loss"] / jnp.maximum(stats["weight"], 1.0)
    return (jnp.sum(loss) if loss.ndim else loss), (state, stats)
