"""Keras' Adam as an optax transformation.

optax's `adam` divides the bias-corrected moments, `m_hat / (sqrt(v_hat) + eps)`; Keras folds
the corrections into the step size, `lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`.
The two differ by where epsilon sits (Kingma & Ba's "epsilon hat"): with Keras' eps = 1e-7
and small gradients the first steps differ in the third digit. We match Keras exactly so one
step from identical weights gives identical weights.

The hyperparameters travel in the optimizer's state as data (`KerasAdamState.hyper`), not as
constants of the compiled program, so one program serves every learning rate and beta: a
learning-rate sweep compiles once, and seeds with different learning rates run side by side.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

HYPER = ("learning_rate", "beta1", "beta2", "adam_eps", "1-beta1", "1-beta2")


class KerasAdamState(NamedTuple):
    count: jax.Array  # steps taken, int32
    mu: optax.Updates  # first moment
    nu: optax.Updates  # second moment
    hyper: jax.Array  # (6,) float32: the values of HYPER (`hyper`)


def hyper(
    learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7
) -> np.ndarray:
    """Adam's hyperparameters as the float32 data `update` reads. The complements 1 - b are
    taken in float64 first, as Python computed them when they were constants of the program,
    so the numbers are the same to the last bit."""
    return np.array([learning_rate, b1, b2, eps, 1 - b1, 1 - b2], np.float64).astype(np.float32)


def keras_adam(
    learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7
) -> optax.GradientTransformation:
    """Adam exactly as `keras.optimizers.Adam` (amsgrad=False) updates its variables."""

    def init(params: optax.Params) -> KerasAdamState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        values = jnp.asarray(hyper(learning_rate, b1, b2, eps))
        return KerasAdamState(jnp.zeros([], jnp.int32), zeros, zeros, values)

    def update(
        grads: optax.Updates, state: KerasAdamState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, KerasAdamState]:
        del params
        # each (*lanes,): one value per seed when the seeds are the trailing axis (engine.py)
        lr, b1_, b2_, eps_, one_minus_b1, one_minus_b2 = state.hyper
        count = state.count + 1
        t = count.astype(jnp.float32)
        alpha = lr * jnp.sqrt(1 - b2_**t) / (1 - b1_**t)

        def per(a: jax.Array, like: jax.Array) -> jax.Array:  # a lane's value on each entry
            return jnp.broadcast_to(a, like.shape)

        mu = jax.tree.map(lambda m, g: m + (g - m) * per(one_minus_b1, m), state.mu, grads)
        nu = jax.tree.map(lambda v, g: v + (g * g - v) * per(one_minus_b2, v), state.nu, grads)
        updates = jax.tree.map(lambda m, v: -per(alpha, m) * m / (jnp.sqrt(v) + per(eps_, v)), mu, nu)
        return updates, KerasAdamState(count, mu, nu, state.hyper)

    return optax.GradientTransformation(init, update)
