"""Keras' Adam as an optax transformation.

optax's `adam` divides the bias-corrected moments, `m_hat / (sqrt(v_hat) + eps)`; Keras folds
the corrections into the step size, `lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`.
The two differ by where epsilon sits (Kingma & Ba's "epsilon hat"): with Keras' eps = 1e-7
and small gradients the first steps differ in the third digit. We match Keras exactly so one
step from identical weights gives identical weights.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class KerasAdamState(NamedTuple):
    count: jax.Array  # steps taken, int32
    mu: optax.Updates  # first moment
    nu: optax.Updates  # second moment


def keras_adam(
    learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7
) -> optax.GradientTransformation:
    """Adam exactly as `keras.optimizers.Adam` (amsgrad=False) updates its variables."""

    def init(params: optax.Params) -> KerasAdamState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return KerasAdamState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update(
        grads: optax.Updates, state: KerasAdamState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, KerasAdamState]:
        del params
        count = state.count + 1
        t = count.astype(jnp.float32)
        mu = jax.tree.map(lambda m, g: m + (g - m) * (1 - b1), state.mu, grads)
        nu = jax.tree.map(lambda v, g: v + (g * g - v) * (1 - b2), state.nu, grads)
        alpha = learning_rate * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        updates = jax.tree.map(lambda m, v: -alpha * m / (jnp.sqrt(v) + eps), mu, nu)
        return updates, KerasAdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)
