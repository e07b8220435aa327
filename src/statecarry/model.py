"""The blog's model: LSTM(units) then Dense(outputs, sigmoid), as plain pytrees with Keras' names.

Parameters map one-to-one onto Keras' `get_weights()`:

    {"lstm": {"kernel": (features, 4u), "recurrent_kernel": (u, 4u), "bias": (4u,)},
     "dense": {"kernel": (u, outputs), "bias": (outputs,)}}

with Keras' gate order i, f, c, o and Keras' default initialisers. Every function here works
on one stream (one row of a batch) and is `vmap`-ed over rows; state goes in and comes out.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

Params = dict[str, dict[str, Array]]

# The time loop is a scan too, not unrolled: with `runner.use_cpu_cores()`'s XLA settings a
# whole loop compiles into one kernel, and unrolling only makes that kernel bigger (measured:
# unrolled 5x, an epoch ran 2.3x slower and compiled slower; benchmarks/engine.py).
TIME_UNROLL = 1

# Below this many inputs a vector-matrix product is written as multiply-and-sum: a `dot`
# keeps XLA from compiling the loop around it into one kernel, and for LSTM(3) the products
# are far too small for a matmul routine to pay off.
SMALL_MATVEC = 64


class LSTMState(NamedTuple):
    """The LSTM carry, in Keras' order: h first, then c. Shapes (units,) per stream."""

    h: Float[Array, "units"]
    c: Float[Array, "units"]


def zeros_state(batch_size: int, units: int) -> LSTMState:
    return LSTMState(jnp.zeros((batch_size, units)), jnp.zeros((batch_size, units)))


def init(key: Array, features: int, units: int, outputs: int = 1) -> Params:
    """Keras' defaults: glorot-uniform kernels, orthogonal recurrent kernel, zero biases with
    the forget-gate bias at 1 (`unit_forget_bias=True`)."""
    k_kernel, k_recurrent, k_dense = jax.random.split(key, 3)
    glorot = jax.nn.initializers.glorot_uniform()
    bias = jnp.zeros(4 * units).at[units : 2 * units].set(1.0)
    return {
        "lstm": {
            "kernel": glorot(k_kernel, (features, 4 * units)),
            "recurrent_kernel": jax.nn.initializers.orthogonal()(k_recurrent, (units, 4 * units)),
            "bias": bias,
        },
        "dense": {"kernel": glorot(k_dense, (units, outputs)), "bias": jnp.zeros(outputs)},
    }


def matvec(v: Float[Array, "n"], w: Float[Array, "n m"]) -> Float[Array, "m"]:
    """`v @ w`; for small `n` as a sum of products, which XLA fuses into the loop around it."""
    if v.shape[0] > SMALL_MATVEC:
        return v @ w
    return jnp.sum(v[:, None] * w, axis=0)


def lstm_step(
    p: dict[str, Array], state: LSTMState, x: Float[Array, "features"]
) -> tuple[LSTMState, Float[Array, "units"]]:
    """One step of Keras' LSTM cell (sigmoid recurrent activation, tanh activation)."""
    z = matvec(x, p["kernel"]) + matvec(state.h, p["recurrent_kernel"]) + p["bias"]
    i, f, g, o = jnp.split(z, 4)  # Keras' gate order: i, f, c, o
    c = jax.nn.sigmoid(f) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return LSTMState(h, c), h


def reset_where(state: LSTMState, reset: Bool[Array, ""]) -> LSTMState:
    """Zero the state where `reset` is true, before the step that reads it."""
    return jax.tree.map(lambda s: jnp.where(reset, jnp.zeros_like(s), s), state)


def run_stream(
    p: dict[str, Array],
    state: LSTMState,
    x: Float[Array, "time features"],
    reset: Bool[Array, "time"],
) -> tuple[LSTMState, Float[Array, "time units"]]:
    """The LSTM over one row's steps, honouring per-step resets."""

    def step(state: LSTMState, inputs: tuple[Array, Array]) -> tuple[LSTMState, Array]:
        x_t, reset_t = inputs
        return lstm_step(p, reset_where(state, reset_t), x_t)

    return jax.lax.scan(step, state, (x, reset), unroll=min(TIME_UNROLL, x.shape[0]))


def dense(p: dict[str, Array], h: Float[Array, "units"]) -> Float[Array, "outputs"]:
    return jax.nn.sigmoid(matvec(h, p["kernel"]) + p["bias"])


def forward(
    params: Params,
    state: LSTMState,
    x: Float[Array, "batch time features"],
    reset: Bool[Array, "batch time"],
) -> tuple[LSTMState, Float[Array, "batch time outputs"]]:
    """One batch: per-step predictions and the state after the batch's last step."""

    def row(state: LSTMState, x: Array, reset: Array) -> tuple[LSTMState, Array]:
        state, h = run_stream(params["lstm"], state, x, reset)
        return state, jax.vmap(dense, in_axes=(None, 0))(params["dense"], h)

    return jax.vmap(row)(state, x, reset)
