"""A batch's forward pass whose kernels' gradients are one matrix product each, after the loop.

Differentiated as written, a time loop's backward pass adds every step's `hᵀ dz` into each
kernel's gradient: for LSTM(256) at batch 32 a (32, 256)ᵀ @ (32, 1024) product and a 1 MB add
per step, which XLA:CPU runs as two tasks a step on the backward's critical path. Here the
loop runs with the kernels held constant and a zero added to each step's products
(`cells.products`); the gradients of those zeros are the steps' `dz`, so each kernel's gradient
is `Xᵀ dZ` over all the batch's rows and steps at once: the layer's inputs (the layer below's
outputs, or x) for `kernel`, the state each step read for `recurrent_kernel`. It is what
cuDNN and oneDNN do; the products read the loop's arrays time-major, as it wrote them
(`_product`). Everything else (biases, a token model's first kernel, the state's
gradient into earlier batches) is the loop's own autodiff.

`forward` has `cells.forward`'s signature and numbers; only the gradients' order of summation
differs (tests/test_kernel_grads.py checks them, the inputs' and the state's included, against
`jax.grad` of `cells.forward`). It is reverse mode only (a `custom_vjp`): `jax.jvp` of a loss
through it raises; the online modes' forward-mode products go through `cells.stack_step`.
The price is memory: each step's `dz` (one per layer, two for a GRU) and every layer's outputs
are kept for the products (`memory.estimate` counts them).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array

from . import cells
from .cells import Params, State
from .runtime import has_dots, is_dot
from .spec import GATES, Model


def applies(model: Model, params: Params) -> bool:
    """Whether `forward` takes this path: models whose recurrent product is a matrix product
    (`runtime.has_dots`), without lanes (there the per-step products are sums in one kernel)."""
    return has_dots(model) and cells.lanes_of(params) == ()


def forward(params: Params, model: Model, state: State, x: Array, reset: Array, head_steps: int | None = None):
    """`cells.forward`, differentiated as the module says where `applies`."""
    if not applies(model, params):
        return cells.forward(params, model, state, x, reset, head_steps)
    return _forward(params, model, state, x, reset, head_steps)


def _held(model: Model, i: int) -> tuple[str, ...]:
    """The kernels of layer `i` whose gradients are products after the loop (a token model's
    first kernel is read by rows: its gradient stays the loop's)."""
    return ("recurrent_kernel",) if (model.tokens and i == 0) else ("kernel", "recurrent_kernel")


def _zeros(model: Model, x: Array) -> tuple:
    """One zero per step for each layer's products: `(to x's, to h's)`; an LSTM adds both
    products before anything else, so one zero (to h's) serves both."""
    shape = x.shape[:2] + (GATES[model.cell] * model.units,)
    lstm = model.cell == "lstm"
    return tuple((None if lstm else jnp.zeros(shape), jnp.zeros(shape)) for _ in model.layer_names)


def _layers_forward(params: Params, model: Model, state: State, x: Array, reset: Array, u: tuple, head_steps):
    """`cells.forward` with `u` added and every layer's outputs: `((state, out), outputs)`."""

    def row(state, x, reset, u):
        state, hs = cells.run_stream(params, model, state, x, reset, u, every_layer=True, remat=True)
        top = hs[-1][-(head_steps or len(hs[-1])):]
        out = jax.vmap(cells.head, in_axes=(None, 0, None))(params["dense"], top, model.head)
        return (state, out), hs

    return jax.vmap(row)(state, x, reset, u)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 5))
def _forward(params: Params, model: Model, state: State, x: Array, reset: Array, head_steps: int | None):
    return cells.forward(params, model, state, x, reset, head_steps)


def _split(params: Params, model: Model) -> tuple[Params, Params]:
    """(the held kernels, the rest), both by layer name."""
    held, rest = {}, {}
    for i, name in enumerate(model.layer_names):
        keys = _held(model, i)
        held[name] = {k: v for k, v in params[name].items() if k in keys}
        # each held kernel's transpose, laid out once for the backward's products (cells.dot_t)
        held[name].update({k + "_t": v.T for k, v in held[name].items() if is_dot(*v.shape)})
        rest[name] = {k: v for k, v in params[name].items() if k not in keys}
    rest["dense"] = params["dense"]
    return held, rest


def _forward_fwd(params: Params, model: Model, state: State, x: Array, reset: Array, head_steps: int | None):
    held, rest = _split(params, model)

    def run(rest: Params, u: tuple, state: State):
        joined = {name: {**rest[name], **held.get(name, {})} for name in rest}
        return _layers_forward(joined, model, state, x, reset, u, head_steps)

    out, pullback, outputs = jax.vjp(run, rest, _zeros(model, x), state, has_aux=True)
    first_kernel = None if model.tokens else params[model.layer_names[0]]["kernel"]
    return out, (pullback, outputs, state, x, reset, first_kernel)


def _forward_bwd(model: Model, head_steps: int | None, saved, cotangent):
    pullback, outputs, state, x, reset, first_kernel = saved
    d_rest, d_u, d_state = pullback(cotangent)
    grads = {name: dict(d) for name, d in d_rest.items()}
    d_x = None  # token ids have no gradient
    for i, name in enumerate(model.layer_names):
        u_x, dz_h = d_u[i]
        dz_x = dz_h if u_x is None else u_x
        h = outputs[i]
        grads[name]["recurrent_kernel"] = _product(_read(state[i].h, h, reset), dz_h)
        if "kernel" in _held(model, i):
            inputs = x if i == 0 else outputs[i - 1]
            grads[name]["kernel"] = _product(inputs, dz_x)
        if i == 0 and first_kernel is not None:  # the inputs' own gradient (nothing in fit asks)
            d_x = jnp.einsum("btg,fg->btf", dz_x, first_kernel)
    return grads, d_state, d_x, None


def _read(h0: Array, h: Array, reset: Array) -> Array:
    """The state each step of `h` (rows, steps, units) read: `h0` first, zero after a reset
    (`reset` marks every step, or the first alone)."""
    read = jnp.concatenate([h0[:, None], h[:, :-1]], axis=1)
    if reset.shape[1] == 1:  # the first step alone: mask `h0`, not every step
        return read.at[:, 0].set(jnp.where(reset, 0.0, h0))
    return jnp.where(reset[..., None], 0.0, read)


@jax.custom_batching.custom_vmap
def _product(a: Array, b: Array) -> Array:
    """`Σ over rows and steps of aᵀ b`, for `(rows, steps, ·)` arrays laid out time-major by
    the loop that made them: one 2-D product of the time-major views, which XLA reads in place
    (a rows-first einsum copied both into rows-first order first: 1.5 ms of the char model's
    30 an update). Under `vmap` (fit's seeds) a batched product copies `a` transposed for the
    batched kernel, so one seed folds its size-1 axis into the rows instead (`_product_vmap`)."""
    return _time_major(a).T @ _time_major(b)


def _time_major(v: Array) -> Array:
    """`(..., rows, steps, f)` as `(steps × ... × rows, f)`: the loop's own order, so no copy
    (the steps axis moved first before any reshape, or XLA keeps the transposes apart)."""
    v = jnp.moveaxis(v, -2, 0)
    return v.reshape(-1, v.shape[-1])


@_product.def_vmap
def _product_vmap(axis_size: int, in_batched: list, a: Array, b: Array):
    a, b = (v if batched else jnp.broadcast_to(v, (axis_size, *v.shape)) for v, batched in zip((a, b), in_batched))
    if axis_size == 1:  # one seed: the size-1 axis folds into the rows
        return _product(a, b)[None], True
    # seeds (split over devices by fit: a loop over them would gather them onto each one)
    a, b = (jnp.moveaxis(v, -2, 1).reshape(axis_size, -1, v.shape[-1]) for v in (a, b))
    return jnp.einsum("snf,sng->sfg", a, b), True


_forward.defvjp(_forward_fwd, _forward_bwd)
