"""Losses and metrics per head, as sums over the steps that carry a target.

A batch's stats are sums (weighted by `Batches.weight`), so an epoch's are the sums over its
batches and a metric is one division at the end: exactly Keras' history, whose epoch loss is
the mean over the batches as they were trained. Which sums are kept depends on the head:
accuracy for sigmoid and softmax (and the "determined" accuracy over the steps `known`
marks), RMSE and MAE for a linear head.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .spec import HEAD_LOSSES

# Keras' backend epsilon, used to clip probabilities in binary cross-entropy.
BCE_EPS = 1e-7


def step_losses(
    out: Float[Array, "*steps outputs"], y: Float[Array, "*steps outputs"], loss: str
) -> Float[Array, "*steps"]:
    """The loss at every step. `out` is the head's output: probabilities (sigmoid), values
    (linear) or logits (softmax, whose `y` holds the class index in its one column)."""
    if loss == "mse":
        return jnp.mean((out - y) ** 2, axis=-1)
    if loss == "bce":
        p = jnp.clip(out, BCE_EPS, 1 - BCE_EPS)
        return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p), axis=-1)
    labels = y[..., 0].astype(jnp.int32)
    log_p = jax.nn.log_softmax(out, axis=-1)
    return -jnp.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]


def loss_sum(out: Array, batch, head: str, loss: str | Array) -> Array:
    """The weighted sum of the step losses: of the loss named, or of the head's loss at index
    `loss` (data). Every loss's sum is taken as its own program would, then one is kept (the
    others' gradients are selected away)."""
    if isinstance(loss, str):
        return jnp.sum(batch.weight * step_losses(out, batch.y, loss))
    names = HEAD_LOSSES[head]
    total = loss_sum(out, batch, head, names[0])
    for k, name in enumerate(names[1:], 1):
        total = jnp.where(loss == k, loss_sum(out, batch, head, name), total)
    return total


def batch_stats(out: Array, batch, head: str, loss: str | Array) -> dict[str, Array]:
    """The batch's sums: loss and weight always; then the head's own. `out` is (batch, time,
    outputs); with a trailing lane axis (on it, and on `batch` unless shared), one per lane.

    `loss` names the loss, or is data: an index into the head's losses (`HEAD_LOSSES`), so
    one compiled program serves a sweep over them (each loss is computed, the lane's is kept)."""
    if out.ndim > 3:  # lanes: one sum per lane, the seeds staying last
        axis = -1 if batch.y.ndim == out.ndim else None  # data of its own per lane, or shared
        if isinstance(loss, str):
            return jax.vmap(lambda o, b: batch_stats(o, b, head, loss), in_axes=(-1, axis), out_axes=-1)(out, batch)
        return jax.vmap(lambda o, b, k: batch_stats(o, b, head, k), in_axes=(-1, axis, -1), out_axes=-1)(out, batch, loss)
    w = batch.weight
    stats = {"loss": loss_sum(out, batch, head, loss), "weight": jnp.sum(w)}
    if head == "linear":
        stats["squared_error"] = jnp.sum(w * jnp.mean((out - batch.y) ** 2, axis=-1))
        stats["absolute_error"] = jnp.sum(w * jnp.mean(jnp.abs(out - batch.y), axis=-1))
        return stats
    if head == "softmax":
        correct = (first_max(out) == batch.y[..., 0].astype(jnp.int32)).astype(jnp.float32)
    else:
        correct = jnp.mean(((out > 0.5) == (batch.y > 0.5)).astype(jnp.float32), axis=-1)
    stats["correct"] = jnp.sum(w * correct)
    stats["known_correct"] = jnp.sum(jnp.where(batch.known, correct, 0.0))
    stats["known"] = jnp.sum(batch.known.astype(jnp.float32))
    return stats


def first_max(out: Array) -> Array:
    """`jnp.argmax(out, axis=-1)` (the first largest, or the first NaN) as two plain
    reductions, which XLA:CPU vectorises; its argmax is one two-operand reduction that it does
    not (the char model's accuracy: 457 -> 204 us a batch, /tmp measurement in RESULTS.md)."""
    top = jnp.max(out, axis=-1, keepdims=True)
    hit = (out == top) | jnp.isnan(out)
    index = jax.lax.broadcasted_iota(jnp.int32, out.shape, out.ndim - 1)
    return jnp.min(jnp.where(hit, index, out.shape[-1]), axis=-1)


def metric_names(head: str, known: bool) -> tuple[str, ...]:
    """The metrics of one pass over data (prefixed train_/test_ by `fit`)."""
    if head == "linear":
        return ("loss", "rmse", "mae")
    return ("loss", "acc", "known_acc") if known else ("loss", "acc")


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.maximum(b, np.float32(1e-30)), np.float32(np.nan))


def metrics(sums: dict[str, np.ndarray], head: str, known: bool) -> dict[str, np.ndarray]:
    """Metrics from an epoch's sums (each with a leading seed axis)."""
    out = {"loss": _ratio(sums["loss"], sums["weight"])}
    if head == "linear":
        out["rmse"] = np.sqrt(_ratio(sums["squared_error"], sums["weight"]))
        out["mae"] = _ratio(sums["absolute_error"], sums["weight"])
        return out
    out["acc"] = _ratio(sums["correct"], sums["weight"])
    if known:
        out["known_acc"] = _ratio(sums["known_correct"], sums["known"])
    return out


def prediction(out: Array, head: str) -> Array:
    """What a user reads: probabilities for softmax (the head gives logits), else as is."""
    return jax.nn.softmax(out, axis=-1) if head == "softmax" else out
