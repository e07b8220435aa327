"""Plain-JAX ways to write one LSTM(256) layer's gradient, for `charlm_profile.py --variants`.

Not statecarry's code: the shapes of the char model (batch 32, 64 steps, 96 one-hot inputs, 256
units, a softmax over 96), written out so each layout of the products can be timed alone.
Each returns the gradients of a cross-entropy (plus the final state's sum, so that the state's
cotangent is not zero) with respect to `Wx, Wh, b, Wd`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

T, B, F, H, V = 64, 32, 96, 256, 96
sigmoid = jax.nn.sigmoid


def gates(z, c):
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
    return jnp.tanh(c) * sigmoid(o), c


def autodiff(Wx, Wh, b, x, h0, c0):
    def step(carry, x_t):
        h, c = gates(x_t @ Wx + carry[0] @ Wh + b, carry[1])
        return (h, c), h

    return jax.lax.scan(step, (h0, c0), x)


def hoisted_input(Wx, Wh, b, x, h0, c0):
    zx = (x.reshape(T * B, F) @ Wx + b).reshape(T, B, 4 * H)

    def step(carry, z_t):
        h, c = gates(z_t + carry[0] @ Wh, carry[1])
        return (h, c), h

    return jax.lax.scan(step, (h0, c0), zx)


def hoisted_split(Wx, Wh, b, x, h0, c0):
    zx = (x.reshape(T * B, F) @ Wx + b).reshape(T, B, 4, H)
    per_gate = tuple(zx[:, :, k] for k in range(4))

    def step(carry, z_t):
        r = carry[0] @ Wh
        i, f, g, o = (z_t[k] + r[:, k * H : (k + 1) * H] for k in range(4))
        c = sigmoid(f) * carry[1] + sigmoid(i) * jnp.tanh(g)
        h = jnp.tanh(c) * sigmoid(o)
        return (h, c), h

    return jax.lax.scan(step, (h0, c0), per_gate)


def joint_product(Wx, Wh, b, x, h0, c0):
    W = jnp.concatenate([Wx, Wh], 0)

    def step(carry, x_t):
        h, c = gates(jnp.concatenate([x_t, carry[0]], -1) @ W + b, carry[1])
        return (h, c), h

    return jax.lax.scan(step, (h0, c0), x)


def weights_in_blocks(block: int):
    """The layer with a hand-written backward: dz per step in a loop, the weight gradients as
    products over `block` steps at a time (`block` = T: once, after the loop)."""

    @jax.custom_vjp
    def run(Wx, Wh, b, x, h0, c0):
        return autodiff(Wx, Wh, b, x, h0, c0)

    def forward(Wx, Wh, b, x, h0, c0):
        def step(carry, x_t):
            h, c = carry
            i, f, g, o = jnp.split(x_t @ Wx + h @ Wh + b, 4, axis=-1)
            acts = (sigmoid(i), sigmoid(f), jnp.tanh(g), sigmoid(o))
            c_new = acts[1] * c + acts[0] * acts[2]
            tanh_c = jnp.tanh(c_new)
            return (tanh_c * acts[3], c_new), (tanh_c * acts[3], c, jnp.concatenate(acts, -1), tanh_c)

        (h, c), (hs, cs, acts, tanh_c) = jax.lax.scan(step, (h0, c0), x)
        return ((h, c), hs), (Wx, Wh, x, h0, hs, cs, acts, tanh_c)

    def backward(saved, cotangent):
        Wx, Wh, x, h0, hs, cs, acts, tanh_c = saved
        (dh_last, dc_last), dhs = cotangent
        Wh_t = Wh.T  # laid out once, not transposed inside every step's product
        h_prev = jnp.concatenate([h0[None], hs[:-1]], 0)

        def step(carry, inputs):
            dh, dc = carry
            dh_t, c, a, tc = inputs
            si, sf, tg, so = jnp.split(a, 4, axis=-1)
            dh = dh + dh_t
            do = dh * tc * so * (1 - so)
            dc = dc + dh * so * (1 - tc * tc)
            dz = jnp.concatenate([dc * tg * si * (1 - si), dc * c * sf * (1 - sf), dc * si * (1 - tg * tg), do], -1)
            return (dz @ Wh_t, dc * sf), dz

        def per_block(carry, blk):
            dh, dc, dWx, dWh, db = carry
            dhs_b, cs_b, acts_b, tc_b, hp_b, x_b = blk
            (dh, dc), dz = jax.lax.scan(step, (dh, dc), (dhs_b, cs_b, acts_b, tc_b), reverse=True)
            dz = dz.reshape(block * B, 4 * H)
            dWh = dWh + hp_b.reshape(block * B, H).T @ dz
            dWx = dWx + x_b.reshape(block * B, F).T @ dz
            return (dh, dc, dWx, dWh, db + jnp.ones(block * B) @ dz), None

        blocks = tuple(a.reshape((T // block, block) + a.shape[1:]) for a in (dhs, cs, acts, tanh_c, h_prev, x))
        start = (dh_last, dc_last, jnp.zeros_like(Wx), jnp.zeros_like(Wh), jnp.zeros(4 * H))
        (dh0, dc0, dWx, dWh, db), _ = jax.lax.scan(per_block, start, blocks, reverse=True)
        return dWx, dWh, db, None, dh0, dc0

    run.defvjp(forward, backward)
    return run


VARIANTS = {
    "autodiff": autodiff,
    "hoisted-input": hoisted_input,
    "hoisted-split": hoisted_split,
    "joint-product": joint_product,
    "weights-after": weights_in_blocks(T),
    "weights-per-8": weights_in_blocks(8),
}


def compiled(compiler_options: dict) -> tuple[dict, tuple]:
    """Every variant's gradient, compiled, and the arguments they take."""
    rng = np.random.default_rng(0)
    normal = lambda *shape, scale: jnp.asarray(rng.normal(size=shape).astype(np.float32) * scale)  # noqa: E731
    params = (normal(F, 4 * H, scale=0.1), normal(H, 4 * H, scale=0.05), normal(4 * H, scale=0.1),
              normal(H, V, scale=0.05))  # fmt: skip
    x = jnp.asarray(np.eye(F, dtype=np.float32)[rng.integers(0, F, size=(T, B))])
    y = jnp.asarray(rng.integers(0, V, size=(T, B)))
    h0 = normal(B, H, scale=0.1)

    def loss_of(layer):
        def loss(params, h0, c0):
            Wx, Wh, b, Wd = params
            (h, c), hs = layer(Wx, Wh, b, x, h0, c0)
            log_p = jax.nn.log_softmax(hs @ Wd)
            return -jnp.mean(jnp.take_along_axis(log_p, y[..., None], -1)) + jnp.sum(h * c)

        return loss

    args = (params, h0, h0 * 0.5)
    fns = {name: jax.jit(jax.grad(loss_of(layer))).lower(*args).compile(compiler_options=compiler_options)
           for name, layer in VARIANTS.items()}  # fmt: skip
    return fns, args
