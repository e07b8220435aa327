"""Real-time recurrent learning: exact online gradients through the whole carried history.

Williams & Zipser (1989), "A learning algorithm for continually running fully recurrent
neural networks". Each stream carries, next to its state s (every layer's, stacked), the
sensitivity S = d s / d theta of that state to the recurrent layers' parameters theta. One
step s' = f(s, theta, x) updates it by the chain rule, S' = (df/ds) S + df/dtheta, computed
here as one forward-mode JVP per parameter (`jax.linearize`, then `vmap` over the parameter
directions). The gradient of a batch's loss is then its direct gradient plus
(dL/ds_start) . S_start: the exact gradient through every batch since the last reset, holding
the parameters fixed along the history, as usual for online RTRL. The head's parameters do
not move the state, so they need no sensitivity.

Cost per stream and step: O(state x params) work, and memory state x params floats per
stream, and a params x params tangent per stream inside a step: `memory.py` estimates it
before anything runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ..errors import TooLargeForRTRL
from . import cells, memory
from .batch import batch_loss, enter_batch
from .cells import Params, State
from .spec import Model, Train


def bytes_per_seed(model: Model, batch_size: int, mode: str = "rtrl") -> int:
    """The mode's own memory for one seed (`memory.estimate` adds the rest of the run); `mode`
    uoro or snap1: their O(params) carries (`uoro.py`, `snap.py`)."""
    return sum(memory.MODE_PARTS[mode](model, Train(mode=mode), batch_size, 1).values())


def seeds_that_fit(
    model: Model, batch_size: int, budget: int | None = None, mode: str = "rtrl"
) -> int:
    """How many seeds' sensitivities fit in the budget (`memory.budget`); refuse if not one."""
    budget = budget if budget is not None else memory.budget()[0]
    need = bytes_per_seed(model, batch_size, mode)
    if need > budget:
        others = ", mode uoro or snap1 (O(params) memory)" if mode == "rtrl" else ""
        raise TooLargeForRTRL(
            f"{mode} needs about {memory.size(need)} per seed for {model.layers} layer(s) of "
            f"{model.units} units at batch-size {batch_size} ({model.recurrent_params()} "
            f"recurrent parameters), more than the {memory.size(budget)} it may use; use mode "
            f"stateful with a horizon K{others}, fewer units, or a smaller batch size."
        )
    return max(1, budget // need)


def recurrent(params: Params, model: Model) -> dict:
    return {name: params[name] for name in model.layer_names}


def init_sensitivity(params: Params, model: Model, batch_size: int) -> State:
    n = ravel_pytree(recurrent(params, model))[0].size
    return jax.tree.map(
        lambda s: jnp.zeros(s.shape + (n,)), cells.zeros_state(model, batch_size)
    )


def _propagate_row(layers: dict, model: Model, state: State, sens: State, x, reset):
    """Carry one stream's state and sensitivity through one batch's steps."""
    flat, unravel = ravel_pytree(layers)
    eye = jnp.eye(flat.size, dtype=flat.dtype)
    param_axis = jax.tree.map(lambda _: 1, sens)  # (units, params) per leaf and stream

    def step(carry, inputs):
        state, sens = carry
        x_t, reset_t = inputs
        state, sens = cells.reset_where(state, reset_t), cells.reset_where(sens, reset_t)

        def f(s: State, theta: jax.Array) -> State:
            return cells.stack_step(unravel(theta), model, s, x_t)[0]

        new_state, f_jvp = jax.linearize(f, state, flat)
        # One JVP per parameter direction: S' = df/ds S + df/dtheta.
        new_sens = jax.vmap(f_jvp, in_axes=(param_axis, 0), out_axes=param_axis)(sens, eye)
        return (new_state, new_sens), None

    (state, sens), _ = jax.lax.scan(step, (state, sens), (x, reset))
    return state, sens


def rtrl_grad(params: Params, state: State, sens: State, batch, model: Model, train: Train, loss=None):
    """Exact gradient of this batch's loss through the whole history since the last reset."""
    (_, (_, stats)), (grads, d_state) = jax.value_and_grad(
        batch_loss, argnums=(0, 1), has_aux=True
    )(params, state, batch, model, train, loss)
    layers = recurrent(params, model)
    _, unravel = ravel_pytree(layers)
    through_history = sum(
        jnp.einsum("bu,bup->p", d, s)
        for d, s in zip(jax.tree.leaves(d_state), jax.tree.leaves(sens))
    )
    extra = unravel(through_history)
    grads = {**grads, **{k: jax.tree.map(jnp.add, grads[k], extra[k]) for k in extra}}
    state, sens = enter_batch(state, train), enter_batch(sens, train)
    state, sens = jax.vmap(
        lambda s, ds, x, r: _propagate_row(layers, model, s, ds, x, r)
    )(state, sens, batch.x, batch.reset)
    return grads, state, sens, stats
