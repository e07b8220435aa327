"""Real-time recurrent learning: exact online gradients through the whole carried history.

Williams & Zipser (1989), "A learning algorithm for continually running fully recurrent
neural networks". Each stream carries, next to its state s = (h, c), the sensitivity
S = d s / d theta of that state to the LSTM's parameters theta. One step s' = f(s, theta, x)
updates it by the chain rule, S' = (df/ds) S + df/dtheta, computed here as one forward-mode
JVP per parameter (`jax.linearize`, then `vmap` over the parameter directions). The gradient
of a batch's loss is then its direct gradient plus (dL/ds_start) . S_start: the exact gradient
through every batch since the last reset, holding the parameters fixed along the history, as
usual for online RTRL.

Cost per stream and step: O(units x params) = O(units^2 x params) work with params ~ 4 units^2,
and memory 2 x units x params floats per stream. That is why `seeds_that_fit` estimates it
before anything runs.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from . import model
from .config import Config
from .errors import TooLargeForRTRL
from .model import LSTMState, Params

WORKING_COPIES = 6  # sensitivities alive at once inside a step (old, new, tangents, grads)


def lstm_param_count(config: Config) -> int:
    u, f = config.units, config.features
    return 4 * u * (f + u + 1)


def bytes_per_seed(config: Config) -> int:
    """Memory for one seed: every row carries (2 x units) x params floats of sensitivity, a
    step holds a few copies, and the JVP directions are a params x params identity."""
    p = lstm_param_count(config)
    return 4 * (config.batch_size * 2 * config.units * p * WORKING_COPIES + p * p)


def available_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def seeds_that_fit(config: Config, budget: int | None = None) -> int:
    """How many seeds' sensitivities fit in half the available memory; refuse if not one."""
    budget = budget if budget is not None else available_bytes() // 2
    need = bytes_per_seed(config)
    if need > budget:
        raise TooLargeForRTRL(
            f"rtrl needs about {need / 2**30:.1f} GiB per seed for units={config.units}, "
            f"batch-size={config.batch_size} ({lstm_param_count(config)} LSTM parameters), "
            f"more than the {budget / 2**30:.1f} GiB it may use; use --mode stateful "
            "--horizon K, or fewer units, or a smaller batch-size."
        )
    return max(1, budget // need)


def init_sensitivity(params: Params, batch_size: int, units: int) -> LSTMState:
    n = ravel_pytree(params["lstm"])[0].size
    zeros = jnp.zeros((batch_size, units, n))
    return LSTMState(zeros, zeros)


def _propagate_row(
    lstm: dict, state: LSTMState, sens: LSTMState, x: jax.Array, reset: jax.Array
) -> tuple[LSTMState, LSTMState]:
    """Carry one stream's state and sensitivity through one batch's steps."""
    flat, unravel = ravel_pytree(lstm)
    eye = jnp.eye(flat.size, dtype=flat.dtype)

    def step(carry, inputs):
        state, sens = carry
        x_t, reset_t = inputs
        state, sens = model.reset_where(state, reset_t), model.reset_where(sens, reset_t)

        def f(s: LSTMState, theta: jax.Array) -> LSTMState:
            return model.lstm_step(unravel(theta), s, x_t)[0]

        new_state, f_jvp = jax.linearize(f, state, flat)
        # One JVP per parameter direction: S' = df/ds S + df/dtheta (columns of S are the
        # directions, so the parameter axis is last).
        new_sens = jax.vmap(f_jvp, in_axes=(LSTMState(1, 1), 0), out_axes=LSTMState(1, 1))(
            sens, eye
        )
        return (new_state, new_sens), None

    (state, sens), _ = jax.lax.scan(step, (state, sens), (x, reset))
    return state, sens


def rtrl_grad(params: Params, state: LSTMState, sens: LSTMState, batch, config: Config):
    """Exact gradient of this batch's loss through the whole history since the last reset."""
    from .engine import batch_loss, enter_batch

    (_, (_, stats)), (grads, d_state) = jax.value_and_grad(batch_loss, argnums=(0, 1), has_aux=True)(
        params, state, batch, config
    )
    flat, unravel = ravel_pytree(params["lstm"])
    through_history = sum(
        jnp.einsum("bu,bup->p", d, s) for d, s in zip(d_state, sens)
    )
    grads = {**grads, "lstm": jax.tree.map(jnp.add, grads["lstm"], unravel(through_history))}
    state, sens = enter_batch(state, config), enter_batch(sens, config)
    state, sens = jax.vmap(_propagate_row, in_axes=(None, 0, 0, 0, 0))(
        params["lstm"], state, sens, batch.x, batch.reset
    )
    return grads, state, sens, stats
