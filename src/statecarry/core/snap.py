"""SnAp-1: RTRL keeping only the one-step sparsity pattern of the sensitivity, O(params) memory.

Menick, Elsen, Evci, Osindero, Simonyan & Graves (2021), "Practical Real Time Recurrent
Learning with a Sparse Approximation", ICLR. RTRL's sensitivity J = d s / d theta is dense
(state x params per stream, `rtrl.py`). In one step, a parameter of an LSTM or GRU moves only
the unit its column feeds: `kernel[i, g*u + k]`, `recurrent_kernel[i, g*u + k]` and the bias
entry of gate g, unit k reach h_k (and c_k) of their own layer and nothing else. SnAp-1 keeps
exactly those entries and drops the rest after every step:

    J'[unit(j), j] = D[unit(j)] J[unit(j), j] + I[unit(j), j]

with D[k] the block of ds'/ds on unit k's own state (2 x 2 for an LSTM's (h_k, c_k), 1 x 1 for
a GRU's h_k) and I the immediate Jacobian ds'/dtheta. So each stream carries one float per
parameter and state component of its unit (2 P for an LSTM layer, P for a GRU layer), stored
in parameter-shaped arrays. A stack is approximated layer by layer: a layer's sensitivity is
taken against its own parameters only (the influence of a lower layer's parameters on the
layers above, through the carried state, is dropped; within a batch backprop is exact).

Where the pattern is exact, SnAp-1 is RTRL: after one step from a reset, and for any history
when every recurrent kernel is diagonal (unit k reads only its own h_k). Elsewhere it is
biased but has no variance (contrast `uoro.py`).

Both cells compute each gate from `x @ kernel + bias_in` and `h @ recurrent_kernel + bias_rec`
(the LSTM's one bias serves both), so I needs only d s'_k / d z_{g,k}: one JVP per gate along
the bias (per bias row for the GRU), then an outer product with x or h. D's diagonal blocks
are one JVP per state component with the recurrent matrix product held constant, plus that
product's own diagonal. A step costs a few forward passes and O(params) arithmetic.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array

from . import cells
from .batch import batch_loss, enter_batch
from .cells import GRUState, LSTMState, Params, State
from .spec import GATES, Model, Train


def init_sensitivity(params: Params, model: Model, batch_size: int) -> State:
    """Per layer, an `LSTMState(h, c)` (or `GRUState(h)`) of parameter-shaped arrays: entry j
    of `h` is d h_{unit(j)} / d theta_j."""

    def zeros(layer: dict) -> dict:
        return {k: jnp.zeros((batch_size,) + a.shape) for k, a in layer.items()}

    per_unit = 2 if model.cell == "lstm" else 1
    kind = LSTMState if model.cell == "lstm" else GRUState
    return tuple(
        kind(*(zeros(params[name]) for _ in range(per_unit))) for name in model.layer_names
    )


def _per_column(v: Array, gates: int) -> Array:
    """(units,) -> (gates * units,): column g*u + k gets unit k's value."""
    return jnp.tile(v, gates)


def _times_columns(v: Array, a: Array) -> Array:
    """Scale the last axis of `a` (a parameter's columns) by `v`."""
    return v.reshape((1,) * (a.ndim - 1) + v.shape) * a


def _layer_step(cell: str, p: dict, s, x: Array, sens):
    """One layer's step for one stream, and its SnAp-1 sensitivity after it."""
    step = cells.STEPS[cell]
    g, u = GATES[cell], s.h.shape[0]
    lstm = cell == "lstm"
    new, along_bias = jax.linearize(lambda b: step({**p, "bias": b}, s, x)[0], p["bias"])
    gate_cols = jnp.repeat(jnp.eye(g, dtype=s.h.dtype), u, axis=1)  # (gates, gates*u)
    # a_in[q], a_rec[q]: (gates, units), d s'_{q,k} / d z_{g,k} for the input and recurrent
    # pre-activations (the same for the LSTM)
    if lstm:
        a_in = a_rec = jax.vmap(along_bias)(gate_cols)
    else:
        zero = jnp.zeros_like(gate_cols)
        a_in = jax.vmap(along_bias)(jnp.stack([gate_cols, zero], axis=1))
        a_rec = jax.vmap(along_bias)(jnp.stack([zero, gate_cols], axis=1))

    def held(state):
        """The step with the recurrent product's derivative cancelled (its value unchanged)."""
        rec = cells.matvec(state.h, p["recurrent_kernel"])
        cancel = jax.lax.stop_gradient(rec) - rec
        bias = p["bias"] + cancel if lstm else p["bias"].at[1].add(cancel)
        return step({**p, "bias": bias}, state, x)[0]

    ones, zeros = jnp.ones_like(s.h), jnp.zeros_like(s.h)
    directions = [LSTMState(ones, zeros), LSTMState(zeros, ones)] if lstm else [GRUState(ones)]
    direct = [jax.jvp(held, (s,), (t,))[1] for t in directions]  # per source component
    u_diag = p["recurrent_kernel"].reshape(u, g, u).diagonal(axis1=0, axis2=2)  # (gates, units)
    # D[q][q2]: (units,), d s'_{q,k} / d s_{q2,k}; only h feeds the recurrent product
    n = len(directions)
    blocks = [
        [
            direct[q2][q] + (jnp.sum(a_rec[q] * u_diag, axis=0) if q2 == 0 else 0.0)
            for q2 in range(n)
        ]
        for q in range(n)
    ]

    def immediate(q: int) -> dict:
        flat_in, flat_rec = a_in[q].reshape(-1), a_rec[q].reshape(-1)
        bias = flat_in if lstm else jnp.stack([flat_in, flat_rec])
        return {
            "kernel": x[:, None] * flat_in[None, :],
            "recurrent_kernel": s.h[:, None] * flat_rec[None, :],
            "bias": bias,
        }

    new_sens = []
    for q in range(n):
        imm = immediate(q)
        new_sens.append(
            {
                k: sum(
                    _times_columns(_per_column(blocks[q][q2], g), sens[q2][k]) for q2 in range(n)
                )
                + imm[k]
                for k in imm
            }
        )
    return new, type(s)(*new_sens)


def _propagate_row(layers: dict, model: Model, state: State, sens: State, x, reset):
    """Carry one stream's state and SnAp-1 sensitivity through one batch's steps."""

    def step(carry, inputs):
        state, sens = carry
        x_t, reset_t = inputs
        state, sens = cells.reset_where(state, reset_t), cells.reset_where(sens, reset_t)
        new_state, new_sens, below = [], [], x_t
        if model.tokens:  # the immediate kernel term needs the input as a vector: one-hot
            below = jax.nn.one_hot(x_t[0].astype(jnp.int32), model.features, dtype=x_t.dtype)
        for name, s, j in zip(model.layer_names, state, sens):
            s, j = _layer_step(model.cell, layers[name], s, below, j)
            new_state.append(s)
            new_sens.append(j)
            below = s.h
        return (tuple(new_state), tuple(new_sens)), None

    (state, sens), _ = jax.lax.scan(step, (state, sens), (x, reset))
    return state, sens


def snap1_grad(params: Params, state: State, sens: State, batch, model: Model, train: Train, loss=None):
    """This batch's direct gradient plus SnAp-1's approximation of the part through the history
    since the last reset."""
    (_, (_, stats)), (grads, d_state) = jax.value_and_grad(
        batch_loss, argnums=(0, 1), has_aux=True
    )(params, state, batch, model, train, loss)
    g = GATES[model.cell]
    grads = dict(grads)
    for name, d_layer, j_layer in zip(model.layer_names, d_state, sens):
        extra = {}
        for d, j in zip(d_layer, j_layer):  # per state component: h (and c)
            cols = jax.vmap(_per_column, in_axes=(0, None))(d, g)  # (batch, gates*units)
            for k, a in j.items():
                shaped = cols.reshape((cols.shape[0],) + (1,) * (a.ndim - 2) + cols.shape[1:])
                extra[k] = extra.get(k, 0.0) + jnp.sum(shaped * a, axis=0)
        grads[name] = {k: grads[name][k] + extra[k] for k in grads[name]}
    layers = {name: params[name] for name in model.layer_names}
    state = enter_batch(state, train)
    if train.carry == "c":  # what crosses the boundary: c alone, so h's sensitivity is zero
        sens = tuple(LSTMState(jax.tree.map(jnp.zeros_like, j.h), j.c) for j in sens)
    state, sens = jax.vmap(lambda s, j, x, r: _propagate_row(layers, model, s, j, x, r))(
        state, sens, batch.x, batch.reset
    )
    return grads, state, sens, stats
