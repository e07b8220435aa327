"""The engine: an epoch is one `jax.lax.scan` over batches; many seeds are one `vmap`.

The scan's carry is `(params, opt_state, state, extra)`. Modes differ only in where the state
is reset and in how far back a gradient reaches:

- `stateless`: the state is zeroed before every batch;
- `stateful`, horizon 1: carried from batch to batch, the gradient stops at the batch
  boundary (Keras);
- `stateful`, horizon K: each update back-propagates through the current batch and the K-1
  before it (truncated BPTT, k1 = 1 batch, k2 = K batches; Williams & Peng 1990);
- `rtrl`: the exact gradient through the whole carried history, by forward-mode
  sensitivities (see `rtrl.py`).

Evaluation has its own state and never touches the training carry: there is no hidden state.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from . import model
from .config import Config
from .data.layout import Batches
from .model import LSTMState, Params
from .optim import keras_adam

BCE_EPS = 1e-7
SHUFFLE_STREAM = 0x5EED  # Keras' backend epsilon, used to clip probabilities in binary cross-entropy


class Stats(NamedTuple):
    """Sums over the steps that carry a target; divided out once per epoch."""

    loss: Array  # sum of weight * loss
    weight: Array  # sum of weight
    correct: Array  # sum of weight * (prediction rounded at 0.5 == target)
    known_correct: Array  # correct predictions among targets the inputs determine
    known: Array  # number of such targets


class Carry(NamedTuple):
    params: Params
    opt_state: optax.OptState
    state: LSTMState  # the exact forward state at the start of the next batch
    extra: Any  # the mode's own carry: a window of past batches (horizon), sensitivities (rtrl)


def make_optimizer(config: Config) -> optax.GradientTransformation:
    return keras_adam(config.learning_rate, config.beta1, config.beta2, config.adam_eps)


# -- loss and metrics ------------------------------------------------------------------------


def step_losses(
    pred: Float[Array, "*steps outputs"], y: Float[Array, "*steps outputs"], loss: str
) -> Float[Array, "*steps"]:
    if loss == "mse":
        return jnp.mean((pred - y) ** 2, axis=-1)
    p = jnp.clip(pred, BCE_EPS, 1 - BCE_EPS)
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p), axis=-1)


def batch_stats(pred: Array, batch: Batches, loss: str) -> Stats:
    losses = step_losses(pred, batch.y, loss)
    correct = jnp.mean(((pred > 0.5) == (batch.y > 0.5)).astype(jnp.float32), axis=-1)
    return Stats(
        loss=jnp.sum(batch.weight * losses),
        weight=jnp.sum(batch.weight),
        correct=jnp.sum(batch.weight * correct),
        known_correct=jnp.sum(jnp.where(batch.known, correct, 0.0)),
        known=jnp.sum(batch.known.astype(jnp.float32)),
    )


def enter_batch(state: LSTMState, config: Config) -> LSTMState:
    """What crosses a batch boundary: both h and c (Keras), or only c (`carry="c"`)."""
    if config.carry == "c":
        return LSTMState(jnp.zeros_like(state.h), state.c)
    return state


def batch_loss(
    params: Params, state: LSTMState, batch: Batches, config: Config
) -> tuple[Array, tuple[LSTMState, Stats]]:
    """Mean loss over the batch's targets (Keras' per-batch loss), the state after it, stats."""
    state, pred = model.forward(params, enter_batch(state, config), batch.x, batch.reset)
    stats = batch_stats(pred, batch, config.loss)
    return stats.loss / jnp.maximum(stats.weight, 1.0), (state, stats)


# -- gradients, one function per mode ---------------------------------------------------------


def truncated_grad(params: Params, state: LSTMState, extra: Any, batch: Batches, config: Config):
    """Horizon 1: the incoming state is an input, not a function of the parameters, so the
    gradient stops at the batch boundary exactly as in Keras and PyTorch with `.detach()`."""
    (_, (state, stats)), grads = jax.value_and_grad(batch_loss, has_aux=True)(
        params, state, batch, config
    )
    return grads, state, extra, stats


class Window(NamedTuple):
    """The K-1 batches before the current one, and the exact state at the start of each."""

    x: Array  # (K-1, batch, time, features)
    reset: Array  # (K-1, batch, time)
    start: LSTMState  # (K-1, batch, units) each


def init_window(config: Config, batch_size: int) -> Window:
    k = config.horizon - 1
    shape = (k, batch_size, config.time_steps)
    zeros = jnp.zeros((k, batch_size, config.units))
    # reset=True everywhere: an empty window contributes no gradient.
    return Window(
        jnp.zeros(shape + (config.features,)), jnp.ones(shape, bool), LSTMState(zeros, zeros)
    )


def horizon_grad(params: Params, state: LSTMState, window: Window, batch: Batches, config: Config):
    """Horizon K: re-run the K-1 previous batches from the stop-gradient state of K batches
    ago, then the current batch, and differentiate the current batch's loss through all of it.

    The window is a scan, so compile time does not grow with K. The state entering the
    current batch keeps its exact forward value (straight-through): the loss and the state
    carried forward are exactly those of the ordinary forward pass; only the gradient comes
    through the re-run window.
    """

    def loss(params: Params) -> tuple[Array, tuple[LSTMState, Stats]]:
        def one(s: LSTMState, past: tuple[Array, Array]) -> tuple[LSTMState, None]:
            x, reset = past
            s, _ = model.forward(params, enter_batch(s, config), x, reset)
            return s, None

        # the horizon: no gradient into batches older than the window
        start = jax.lax.stop_gradient(jax.tree.map(lambda s: s[0], window.start))
        rerun, _ = jax.lax.scan(one, start, (window.x, window.reset))
        entering = jax.tree.map(lambda exact, r: exact + (r - jax.lax.stop_gradient(r)), state, rerun)
        return batch_loss(params, entering, batch, config)

    (_, (new_state, stats)), grads = jax.value_and_grad(loss, has_aux=True)(params)

    def push(buf: Array, new: Array) -> Array:
        return jnp.concatenate([buf[1:], new[None]])

    window = Window(
        push(window.x, batch.x),
        push(window.reset, batch.reset),
        jax.tree.map(push, window.start, state),
    )
    return grads, new_state, window, stats


def _grad_fn(config: Config):
    """The one place a mode picks its gradient (and its extra carry)."""
    if config.mode == "rtrl":
        from . import rtrl

        return rtrl.rtrl_grad
    if config.horizon > 1:
        return horizon_grad
    return truncated_grad


def init_extra(config: Config, params: Params, batch_size: int) -> Any:
    if config.mode == "rtrl":
        from . import rtrl

        return rtrl.init_sensitivity(params, batch_size, config.units)
    if config.horizon > 1:
        return init_window(config, batch_size)
    return ()


# -- epochs ----------------------------------------------------------------------------------


def with_mode_resets(batches: Batches, config: Config, start_of_pass: bool) -> Batches:
    """Add the mode's resets to the data's own: before every batch (stateless) and, when
    `start_of_pass`, before the first step of the pass."""
    reset = jnp.asarray(batches.reset)
    nb, b, t = reset.shape
    first_step = jnp.zeros((nb, b, t), bool).at[:, :, 0].set(True)
    if config.mode == "stateless":
        reset = reset | first_step
    if start_of_pass:
        reset = reset.at[0, :, 0].set(True)
    return batches._replace(reset=reset)


def shuffle(batches: Batches, key: Array) -> Batches:
    """Reshuffle the samples (Keras' `shuffle=True`): streams are broken on purpose."""
    nb, b = batches.x.shape[:2]
    order = jax.random.permutation(key, nb * b)

    def permute(a: Array) -> Array:
        return a.reshape((nb * b,) + a.shape[2:])[order].reshape(a.shape)

    return jax.tree.map(permute, batches)


def train_epoch(carry: Carry, batches: Batches, config: Config) -> tuple[Carry, Stats]:
    """One epoch, one optimizer update per batch, as Keras' `fit(shuffle=False)`.

    `batches` must already hold the mode's resets (`with_mode_resets`).
    """
    optimizer = make_optimizer(config)
    grad_fn = _grad_fn(config)

    def step(carry: Carry, batch: Batches) -> tuple[Carry, Stats]:
        grads, state, extra, stats = grad_fn(carry.params, carry.state, carry.extra, batch, config)
        updates, opt_state = optimizer.update(grads, carry.opt_state, carry.params)
        params = optax.apply_updates(carry.params, updates)
        return Carry(params, opt_state, state, extra), stats

    carry, stats = jax.lax.scan(step, carry, batches)
    return carry, jax.tree.map(jnp.sum, stats)


def evaluate(
    params: Params, batches: Batches, config: Config, state: LSTMState | None = None
) -> tuple[Stats, LSTMState]:
    """Loss and accuracy over `batches` on a state of its own.

    With `state=None` the pass starts from zeros (a reset before its first step); pass a state
    to continue from it instead. The training carry is never read or written.
    """
    fresh = state is None
    if fresh:
        state = model.zeros_state(batches.batch_size, config.units)
    batches = with_mode_resets(batches, config, start_of_pass=fresh)

    def step(state: LSTMState, batch: Batches) -> tuple[LSTMState, Stats]:
        state, pred = model.forward(params, enter_batch(state, config), batch.x, batch.reset)
        return state, batch_stats(pred, batch, config.loss)

    state, stats = jax.lax.scan(step, state, batches)
    return jax.tree.map(jnp.sum, stats), state


def init_carry(key: Array, config: Config, batch_size: int) -> Carry:
    params = model.init(key, config.features, config.units)
    return Carry(
        params,
        make_optimizer(config).init(params),
        model.zeros_state(batch_size, config.units),
        init_extra(config, params, batch_size),
    )


class EpochMetrics(NamedTuple):
    train_loss: Array
    train_acc: Array
    train_known_acc: Array
    test_loss: Array
    test_acc: Array
    test_known_acc: Array


def _ratio(a: Array, b: Array) -> Array:
    return jnp.where(b > 0, a / jnp.maximum(b, 1e-30), jnp.nan)


def epoch_metrics(train: Stats, test: Stats) -> EpochMetrics:
    return EpochMetrics(
        _ratio(train.loss, train.weight),
        _ratio(train.correct, train.weight),
        _ratio(train.known_correct, train.known),
        _ratio(test.loss, test.weight),
        _ratio(test.correct, test.weight),
        _ratio(test.known_correct, test.known),
    )


def run_epoch(
    carry: Carry, train: Batches, test: Batches, key: Array, epoch: Array, config: Config
) -> tuple[Carry, EpochMetrics]:
    """Train one epoch, then evaluate on the test set with a fresh state: one seed."""
    if config.shuffle:
        # a stream of its own: fold_in(key, small n) can equal the keys init drew from `key`
        train = shuffle(train, jax.random.fold_in(jax.random.fold_in(key, SHUFFLE_STREAM), epoch))
    train = with_mode_resets(train, config, start_of_pass=config.reset == "epoch")
    carry, train_stats = train_epoch(carry, train, config)
    test_stats, _ = evaluate(carry.params, test, config)
    return carry, epoch_metrics(train_stats, test_stats)


TRACES: dict[str, int] = {}  # times each program was traced: a second epoch must not add one


def run_epoch_seeds(
    carry: Carry,
    train: Batches,
    test: Batches,
    keys: Array,
    epoch: Array,
    config: Config,
    shared_data: bool,
) -> tuple[Carry, EpochMetrics]:
    """`run_epoch` for many seeds (seed axis first); `shared_data`: one data set for all."""
    TRACES["run_epoch_seeds"] = TRACES.get("run_epoch_seeds", 0) + 1
    data_axis = None if shared_data else 0
    return jax.vmap(run_epoch, in_axes=(0, data_axis, data_axis, 0, None, None))(
        carry, train, test, keys, epoch, config
    )


@partial(jax.jit, static_argnames=("config", "batch_size"))
def init_carry_seeds(keys: Array, config: Config, batch_size: int) -> Carry:
    return jax.vmap(init_carry, in_axes=(0, None, None))(keys, config, batch_size)
