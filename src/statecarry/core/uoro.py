"""UORO: an unbiased rank-one estimate of RTRL's gradient, O(state + params) memory per stream.

Tallec & Ollivier (2018), "Unbiased Online Recurrent Optimization", ICLR. RTRL carries the
sensitivity J = d s / d theta (state x params floats per stream, `rtrl.py`). UORO carries two
vectors instead, s~ (state-shaped) and theta~ (shaped like the recurrent parameters), with
E[s~ theta~^T] = J. One step s' = f(s, theta, x) updates them with fresh random signs nu:

    s~'      = rho0 (df/ds) s~ + rho1 nu
    theta~'  = theta~ / rho0 + nu^T (df/dtheta) / rho1

rho0 = sqrt(|theta~| / |(df/ds) s~|) and rho1 = sqrt(|nu^T df/dtheta| / |nu|) keep the two
factors at the same scale (the variance-minimising choice in the paper); since E[nu nu^T] = I
and nu is symmetric, the cross terms vanish in expectation and the estimate stays unbiased.
Each step costs one JVP (df/ds s~) and one VJP (nu^T df/dtheta): a few forward passes,
whatever the model's size. The gradient of a batch's loss is its direct gradient plus
((dL/ds_start) . s~) theta~, an unbiased estimate of the exact RTRL gradient.

The signs come from a key carried with the sensitivities and derived from the run's seed
key, so the same seed gives the same numbers. A per-step reset zeroes s~ and theta~ with the
state, so nothing before a reset leaks into the estimate.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array

from . import cells
from .batch import batch_loss, enter_batch
from .cells import Params, State
from .spec import Model, Train

# The signs' own stream of the seed key: `cells.init` splits the same key, and fold_in with a
# small number could collide with one of its keys.
SIGN_STREAM = 0x0E0
EPS = 1e-7  # keeps rho0 and rho1 finite when a factor is zero (right after a reset)


class Sensitivity(NamedTuple):
    """The rank-one factors of every stream's sensitivity, and the key of the next signs."""

    state: State  # s~: (batch, units) per leaf
    params: dict  # theta~: the recurrent layers' parameters, each with a leading batch axis
    key: Array  # uint32 key data (a raw key travels through vmap, shardings and donation)


def recurrent(params: Params, model: Model) -> dict:
    return {name: params[name] for name in model.layer_names}


def init_sensitivity(params: Params, model: Model, batch_size: int, key: Array) -> Sensitivity:
    layers = recurrent(params, model)
    return Sensitivity(
        cells.zeros_state(model, batch_size),
        jax.tree.map(lambda a: jnp.zeros((batch_size,) + a.shape), layers),
        jax.random.key_data(jax.random.fold_in(key, SIGN_STREAM)),
    )


def _norm(tree) -> Array:
    return jnp.sqrt(sum(jnp.sum(a * a) for a in jax.tree.leaves(tree)))


def _signs(key: Array, like: State) -> State:
    leaves, treedef = jax.tree.flatten(like)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef, [jax.random.rademacher(k, a.shape, a.dtype) for k, a in zip(keys, leaves)]
    )


def _propagate_row(layers: dict, model: Model, state: State, s_t: State, p_t: dict, x, reset, key):
    """Carry one stream's state and rank-one factors through one batch's steps."""

    def step(carry, inputs):
        state, s_t, p_t = carry
        x_t, reset_t, key_t = inputs
        state, s_t, p_t = (cells.reset_where(a, reset_t) for a in (state, s_t, p_t))

        def f(s: State, theta: dict) -> State:
            return cells.stack_step(theta, model, s, x_t)[0]

        new_state, ds = jax.jvp(lambda s: f(s, layers), (state,), (s_t,))
        nu = _signs(key_t, state)
        _, vjp = jax.vjp(lambda theta: f(state, theta), layers)
        (nu_i,) = vjp(nu)
        rho0 = jnp.sqrt((_norm(p_t) + EPS) / (_norm(ds) + EPS))
        rho1 = jnp.sqrt((_norm(nu_i) + EPS) / (_norm(nu) + EPS))
        s_t = jax.tree.map(lambda d, n: rho0 * d + rho1 * n, ds, nu)
        p_t = jax.tree.map(lambda p, n: p / rho0 + n / rho1, p_t, nu_i)
        return (new_state, s_t, p_t), None

    keys = jax.random.split(key, x.shape[0])
    (state, s_t, p_t), _ = jax.lax.scan(step, (state, s_t, p_t), (x, reset, keys))
    return state, s_t, p_t


def uoro_grad(params: Params, state: State, sens: Sensitivity, batch, model: Model, train: Train, loss=None):
    """This batch's direct gradient plus UORO's unbiased estimate of the part through the
    history since the last reset."""
    (_, (_, stats)), (grads, d_state) = jax.value_and_grad(
        batch_loss, argnums=(0, 1), has_aux=True
    )(params, state, batch, model, train, loss)
    # (dL/ds_start) . s~ per stream, then times theta~, summed over the streams
    scale = sum(
        jnp.sum(d * s, axis=-1)
        for d, s in zip(jax.tree.leaves(d_state), jax.tree.leaves(sens.state))
    )
    extra = jax.tree.map(lambda p: jnp.einsum("b,b...->...", scale, p), sens.params)
    grads = {**grads, **{k: jax.tree.map(jnp.add, grads[k], extra[k]) for k in extra}}

    key, now = jax.random.split(jax.random.wrap_key_data(sens.key))
    rows = jax.random.split(now, batch.x.shape[0])
    layers = recurrent(params, model)
    state, s_t = enter_batch(state, train), enter_batch(sens.state, train)
    state, s_t, p_t = jax.vmap(
        lambda s, st, pt, x, r, k: _propagate_row(layers, model, s, st, pt, x, r, k)
    )(state, s_t, sens.params, batch.x, batch.reset, rows)
    return grads, state, Sensitivity(s_t, p_t, jax.random.key_data(key)), stats
