"""Recurrent cells (Keras' LSTM and GRU), stacks of them, and the dense head, as plain pytrees
with Keras' names.

    {"lstm":   {"kernel": (features, 4u), "recurrent_kernel": (u, 4u), "bias": (4u,)},
     "lstm_1": {"kernel": (u, 4u), ...},                     # a second layer, and so on
     "dense":  {"kernel": (u, outputs), "bias": (outputs,)}}

A GRU layer (Keras' default `reset_after=True`) has `kernel (inputs, 3u)`, `recurrent_kernel
(u, 3u)` and `bias (2, 3u)` (input bias, recurrent bias), gate order z, r, h. Every function
works on one stream (one row of a batch) and is `vmap`-ed over rows; state goes in and comes
out. Every array may also end in a *lane* axis, one entry per seed (`engine.run_epoch_lanes`):
the arithmetic per lane is the same, and the seeds fill the CPU's vector registers. The state
of a stack is a tuple with one entry per layer, bottom first: `LSTMState(h, c)` (Keras' order)
or `GRUState(h)`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from .runtime import is_dot
from .spec import GATES, Model

Params = dict[str, dict[str, Array]]

# The time loop is a scan too, not unrolled: with the runtime's XLA settings a whole loop
# compiles into one kernel, and unrolling only makes that kernel bigger (measured: unrolled
# 5x, an epoch ran 2.3x slower and compiled slower; benchmarks/engine.py).
TIME_UNROLL = 1


class LSTMState(NamedTuple):
    """An LSTM layer's carry, in Keras' order: h first, then c. Shapes (units,) per stream."""

    h: Float[Array, " units"]
    c: Float[Array, " units"]


class GRUState(NamedTuple):
    """A GRU layer's carry: h alone."""

    h: Float[Array, " units"]


LayerState = LSTMState | GRUState
State = tuple[LayerState, ...]  # one per layer, bottom first
# Added to a step's two products (`products`): (to x's or None, to h's), or None.
Added = tuple[Array | None, Array] | None


def zeros_state(model: Model, batch_size: int, lanes: tuple[int, ...] = ()) -> State:
    """The state before any step, for `batch_size` streams (and `lanes`, see `lanes_of`)."""
    zeros = jnp.zeros((batch_size, model.units) + lanes)
    one = LSTMState(zeros, zeros) if model.cell == "lstm" else GRUState(zeros)
    return tuple(one for _ in range(model.layers))


def init(key: Array, model: Model) -> Params:
    """Keras' defaults: glorot-uniform kernels, orthogonal recurrent kernels, zero biases (and
    for the LSTM the forget-gate bias at 1, `unit_forget_bias=True`).

    The key is split into two keys per layer and one for the head, so a one-layer LSTM draws
    exactly what it always has.
    """
    keys = jax.random.split(key, 2 * model.layers + 1)
    glorot = jax.nn.initializers.glorot_uniform()
    g, u = GATES[model.cell], model.units
    params: Params = {}
    for i, name in enumerate(model.layer_names):
        inputs = model.features if i == 0 else u
        if model.cell == "lstm":
            bias = jnp.zeros(4 * u).at[u : 2 * u].set(1.0)
        else:
            bias = jnp.zeros((2, 3 * u))
        params[name] = {
            "kernel": glorot(keys[2 * i], (inputs, g * u)),
            "recurrent_kernel": jax.nn.initializers.orthogonal()(keys[2 * i + 1], (u, g * u)),
            "bias": bias,
        }
    params["dense"] = {
        "kernel": glorot(keys[-1], (u, model.outputs)),
        "bias": jnp.zeros(model.outputs),
    }
    return params


def lanes_of(params: Params) -> tuple[int, ...]:
    """The lane axis the parameters end in: `(seeds,)` in a lanes program, else `()`."""
    return params["dense"]["bias"].shape[1:]


def matvec(v: Float[Array, " n *lanes"], w: Float[Array, "n m *lanes"]) -> Float[Array, " m *lanes"]:
    """`v @ w`; for a small product (runtime.SMALL_PRODUCT), and always with a trailing lane
    axis (one product per lane), as a sum of products, which XLA fuses into the loop around it."""
    if v.shape[0] != w.shape[0]:  # never broadcast a (1, m) kernel over n inputs
        raise ValueError(f"matvec: {v.shape[0]} inputs against a kernel for {w.shape[0]}")
    if w.ndim == 2 and is_dot(*w.shape):
        return v @ w
    # (n, 1, *lanes of v, then 1 for each lane only w has): a shared input meets every lane
    v = v.reshape(v.shape[:1] + (1,) + v.shape[1:] + (1,) * (w.ndim - v.ndim - 1))
    return jnp.sum(v * w, axis=0)


def lookup(x: Float[Array, " 1 *lanes"], w: Float[Array, "n m *lanes"]) -> Float[Array, " m *lanes"]:
    """`one_hot(x[0]) @ w` without the one-hot vector: row `x[0]` of `w` (a token id, whole,
    0 <= id < n: `checks.token_ids`). With lanes, each lane reads its own id's row."""
    ids = x[0].astype(jnp.int32)
    if ids.ndim == 0:
        return w[ids]
    return jnp.take_along_axis(w, ids.reshape((1, 1) + ids.shape), axis=0)[0]


def products(p: dict[str, Array], state: LayerState, x: Array, tokens: bool, u: Added = None) -> tuple[Array, Array]:
    """The step's two products, `x @ kernel` (or a token's row, `lookup`) and `h @ recurrent
    kernel`, each plus its entry of `u` where given (zeros whose gradients are the products'
    own: `kernel_grads`). A kernel with its transpose beside it (`kernel_t`, ...) is
    differentiated against that (`dot_t`)."""
    zx = lookup(x, p["kernel"]) if tokens else _product(x, p, "kernel")
    zh = _product(state.h, p, "recurrent_kernel")
    if u is None:
        return zx, zh
    return (zx if u[0] is None else zx + u[0]), zh + u[1]


def _product(v: Array, p: dict[str, Array], key: str) -> Array:
    return dot_t(v, p[key], p[key + "_t"]) if key + "_t" in p else matvec(v, p[key])


@jax.custom_jvp
def dot_t(v: Float[Array, " n"], w: Float[Array, "n m"], w_t: Float[Array, "m n"]) -> Float[Array, " m"]:
    """`v @ w`, whose gradient with respect to `v` multiplies by `w_t` (`w`'s transpose, laid
    out once by the caller) rather than by `w` read transposed at every step: XLA:CPU's product
    with a transposed operand ran 1.5x slower (LSTM(256) at batch 32: 210 against 135 us)."""
    return v @ w


def _dot_t_jvp(primals, tangents):
    v, w, w_t = primals
    dv, dw, _ = tangents  # w_t is w, laid out again: its own tangent is not counted twice
    out = v @ w
    tangent = jnp.zeros_like(out)
    if not _zero(dv):
        tangent = jax.lax.dot_general(dv, w_t, (((dv.ndim - 1,), (1,)), ((), ())))
    if not _zero(dw):
        tangent = tangent + v @ dw
    return out, tangent


def _zero(tangent) -> bool:
    return isinstance(tangent, jax.custom_derivatives.SymbolicZero)


dot_t.defjvp(_dot_t_jvp, symbolic_zeros=True)


def lstm_step(
    p: dict[str, Array], state: LSTMState, x: Float[Array, " inputs"], tokens: bool = False, u: Added = None
) -> tuple[LSTMState, Float[Array, " units"]]:
    """One step of Keras' LSTM cell (sigmoid recurrent activation, tanh activation); `tokens`:
    x is a token id (`lookup`); `u`: see `products`."""
    zx, zh = products(p, state, x, tokens, u)
    z = zx + zh + p["bias"]
    i, f, g, o = jnp.split(z, 4)  # Keras' gate order: i, f, c, o
    c = jax.nn.sigmoid(f) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return LSTMState(h, c), h


def gru_step(
    p: dict[str, Array], state: GRUState, x: Float[Array, " inputs"], tokens: bool = False, u: Added = None
) -> tuple[GRUState, Float[Array, " units"]]:
    """One step of Keras' GRU cell with `reset_after=True` (its default, and cuDNN's form):
    the reset gate multiplies the recurrent candidate after its matrix product."""
    zx, zh = products(p, state, x, tokens, u)
    xz, xr, xh = jnp.split(zx + p["bias"][0], 3)  # z, r, h
    hz, hr, hh = jnp.split(zh + p["bias"][1], 3)
    z = jax.nn.sigmoid(xz + hz)
    r = jax.nn.sigmoid(xr + hr)
    candidate = jnp.tanh(xh + r * hh)
    h = z * state.h + (1 - z) * candidate
    return GRUState(h), h


STEPS = {"lstm": lstm_step, "gru": gru_step}


def reset_where(state, reset: Bool[Array, " *lanes"]):
    """Zero the state (any pytree of it) where `reset` is true, before the step that reads it."""
    return jax.tree.map(lambda s: jnp.where(jnp.broadcast_to(reset, s.shape), jnp.zeros_like(s), s), state)


def stack_step(
    params: Params, model: Model, state: State, x: Float[Array, " features"], u: tuple[Added, ...] | None = None,
    every_layer: bool = False,
) -> tuple[State, Float[Array, " units"]]:
    """One step of the whole stack: each layer reads the output of the layer below (the first
    one x, or for `Model.tokens` the row of its kernel that x's token id names). `u`: one entry
    per layer (`products`); `every_layer`: the output is every layer's, as a tuple."""
    step = STEPS[model.cell]
    new, outs = [], []
    for i, (name, layer_state) in enumerate(zip(model.layer_names, state)):
        layer_state, x = step(params[name], layer_state, x, model.tokens and i == 0, None if u is None else u[i])
        new.append(layer_state)
        outs.append(x)
    return tuple(new), (tuple(outs) if every_layer else x)


# What a big model's backward pass keeps of each step (`run_stream(remat=True)`): the matrix
# products' results; the gates' elementwise work is recomputed from them. The forward loop then
# stores 3 arrays a step instead of 12 (LSTM(256)), each a task of its own in XLA:CPU: the char
# model's fit 5-10% faster (benchmarks/RESULTS.md, 2026-12-04 21:35), the same numbers.
REMAT = jax.checkpoint_policies.dots_with_no_batch_dims_saveable
_remat_step = jax.checkpoint(stack_step, static_argnums=(1, 5), policy=REMAT)


def run_stream(
    params: Params,
    model: Model,
    state: State,
    x: Float[Array, "time features"],
    reset: Bool[Array, " time"],
    u: tuple[Added, ...] | None = None,
    every_layer: bool = False,
    remat: bool = False,
) -> tuple[State, Float[Array, "time units"]]:
    """The stack over one row's steps, honouring per-step resets (every layer together).

    `reset` may also hold a single entry for a longer `x`: data that resets nowhere but before
    its first step (`fit` passes it so, `Source.resets_first_only`). The state is then zeroed once
    before the loop instead of tested at every step; the numbers are the same, and a big
    model's backward pass loses a select per step (LSTM(256), batch 32: the gradient about 9%
    faster). `u` and `every_layer` as in `stack_step`, `u`'s arrays with a leading time axis.
    `remat`: a gradient keeps each step's products alone and recomputes the gates from them
    (`REMAT`)."""
    unroll = min(TIME_UNROLL, x.shape[0])
    one_step = _remat_step if remat else stack_step
    if reset.shape[0] == 1 < x.shape[0]:
        return jax.lax.scan(
            lambda s, xs: one_step(params, model, s, xs[0], xs[1], every_layer),
            reset_where(state, reset[0]), (x, u), unroll=unroll,
        )

    def step(state: State, inputs: tuple[Array, Array, tuple[Added, ...] | None]) -> tuple[State, Array]:
        x_t, reset_t, u_t = inputs
        return one_step(params, model, reset_where(state, reset_t), x_t, u_t, every_layer)

    return jax.lax.scan(step, state, (x, reset, u), unroll=unroll)


def head(p: dict[str, Array], h: Float[Array, " units"], kind: str) -> Float[Array, " outputs"]:
    """The dense head: probabilities (sigmoid), values (linear) or logits (softmax; the
    loss takes a log-softmax of them and `predict` returns probabilities)."""
    z = matvec(h, p["kernel"]) + p["bias"]
    return jax.nn.sigmoid(z) if kind == "sigmoid" else z


def forward(
    params: Params,
    model: Model,
    state: State,
    x: Float[Array, "batch time features"],
    reset: Bool[Array, "batch time"],
    head_steps: int | None = None,
) -> tuple[State, Float[Array, "batch steps outputs"]]:
    """One batch: per-step head outputs and the state after the batch's last step.
    `head_steps`: the outputs of the last so many steps only (targets there alone); else every
    step's."""

    def row(state: State, x: Array, reset: Array) -> tuple[State, Array]:
        state, h = run_stream(params, model, state, x, reset)
        return state, jax.vmap(head, in_axes=(None, 0, None))(params["dense"], h[-(head_steps or len(h)):], model.head)

    return jax.vmap(row)(state, x, reset)
