"""How far a gradient reaches: one function per mode, picked in one place (`grad_fn`).

Each takes `(params, state, extra, batch, model, train, loss)` and returns `(grads, state after
the batch, extra, stats)`; `extra` is the mode's own carry (nothing, a window of past batches, or
RTRL's sensitivities), `loss` the lane's loss as data (`batch.batch_loss`; None: the Train's).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array

from . import cells, kernel_grads
from .batch import batch_loss, enter_batch
from .cells import Params, State
from .spec import Model, Train

# A horizon's window re-runs its K-1 earlier batches in a scan. Up to this many, the scan is
# unrolled: horizon 4 of the blog's LSTM(3) at 1,024 seeds runs 1.21x faster, of the char
# model's LSTM(256) 1.15-1.3x, with the same numbers, for 0.4 s more compile. Past it the
# scan stays a loop, so compile time stays flat in K: groups of 4 unrolled in a loop ran 1.7x
# slower at horizon 16 and compiled 3x longer (benchmarks/RESULTS.md, 2026-12-05 03:35).
WINDOW_UNROLL = 4


def truncated_grad(params: Params, state: State, extra: Any, batch, model: Model, train: Train, loss=None):
    """Horizon 1: the incoming state is an input, not a function of the parameters, so the
    gradient stops at the batch boundary exactly as in Keras and PyTorch with `.detach()`."""
    (_, (state, stats)), grads = jax.value_and_grad(batch_loss, has_aux=True)(
        params, state, batch, model, train, loss
    )
    return grads, state, extra, stats


class Window(NamedTuple):
    """The K-1 batches before the current one, and the exact state at the start of each."""

    x: Array  # (K-1, batch, time, features)
    reset: Array  # (K-1, batch, time)
    start: State  # (K-1, batch, units) per leaf
    filled: Array  # (K-1,) bool: false for the slots before the first batch ever trained


def init_window(train: Train, model: Model, batch_size: int, time_steps: int, reset_steps: int | None = None) -> Window:
    """An empty window; `reset_steps` is the length of the data's reset axis, 1 when `fit`
    cuts the resets to each batch's first step (`cells.run_stream`)."""
    k = train.horizon - 1
    shape = (k, batch_size, time_steps)
    start = jax.tree.map(lambda s: jnp.zeros((k,) + s.shape), cells.zeros_state(model, batch_size))
    # An empty slot is skipped in the re-run (`filled`), so it adds no gradient: running the
    # cell over it, even from a reset state, would make the re-run state depend on the
    # parameters through batches that never existed.
    resets = (k, batch_size, time_steps if reset_steps is None else reset_steps)
    return Window(jnp.zeros(shape + (model.input_width,)), jnp.ones(resets, bool), start, jnp.zeros(k, bool))


def horizon_grad(params: Params, state: State, window: Window, batch, model: Model, train: Train, loss=None):
    """Horizon K: re-run the K-1 previous batches from the stop-gradient state of K batches
    ago, then the current batch, and differentiate the current batch's loss through all of it.

    The window is a scan, so compile time does not grow with K. The state entering the
    current batch keeps its exact forward value (straight-through): the loss and the state
    carried forward are exactly those of the ordinary forward pass; only the gradient comes
    through the re-run window.
    """

    def through_window(params: Params) -> tuple[Array, tuple[State, dict]]:
        def one(s: State, past: tuple[Array, Array, Array]) -> tuple[State, None]:
            x, reset, filled = past
            new, _ = kernel_grads.forward(params, model, enter_batch(s, train), x, reset)
            return jax.tree.map(lambda a, b: jnp.where(jnp.broadcast_to(filled, a.shape), a, b), new, s), None

        # the horizon: no gradient into batches older than the window
        start = jax.lax.stop_gradient(jax.tree.map(lambda s: s[0], window.start))
        rerun, _ = jax.lax.scan(one, start, (window.x, window.reset, window.filled),
                                unroll=window.x.shape[0] <= WINDOW_UNROLL)  # all, or a loop
        entering = jax.tree.map(
            lambda exact, r: exact + (r - jax.lax.stop_gradient(r)), state, rerun
        )
        return batch_loss(params, entering, batch, model, train, loss)

    (_, (new_state, stats)), grads = jax.value_and_grad(through_window, has_aux=True)(params)

    def push(buf: Array, new: Array) -> Array:
        if new.ndim < buf.ndim - 1:  # shared data (no lane axis) into a window of every lane's
            new = jnp.broadcast_to(new[..., None], buf.shape[1:])
        return jnp.concatenate([buf[1:], new[None]])

    window = Window(
        push(window.x, batch.x),
        push(window.reset, batch.reset),
        jax.tree.map(push, window.start, state),
        push(window.filled, jnp.ones_like(window.filled[0])),
    )
    return grads, new_state, window, stats


def grad_fn(train: Train):
    """The one place a mode picks its gradient (and its extra carry)."""
    if train.mode == "rtrl":
        from . import rtrl

        return rtrl.rtrl_grad
    if train.mode in ("uoro", "snap1"):
        from . import snap, uoro

        return uoro.uoro_grad if train.mode == "uoro" else snap.snap1_grad
    if train.horizon > 1:
        return horizon_grad
    return truncated_grad


def init_extra(
    train: Train, model: Model, params: Params, batch_size: int, time_steps: int, key=None,
    reset_steps: int | None = None,
):
    """The mode's own carry; `key` (the seed's) seeds UORO's random signs; `reset_steps` as in
    `init_window`."""
    if train.mode == "rtrl":
        from . import rtrl

        return rtrl.init_sensitivity(params, model, batch_size)
    if train.mode in ("uoro", "snap1"):
        from . import snap, uoro

        if train.mode == "snap1":
            return snap.init_sensitivity(params, model, batch_size)
        key = jax.random.key(0) if key is None else key
        return uoro.init_sensitivity(params, model, batch_size, key)
    if train.horizon > 1:
        return init_window(train, model, batch_size, time_steps, reset_steps)
    return ()
