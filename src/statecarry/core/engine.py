"""The engine: an epoch is one `jax.lax.scan` over batches; many seeds are one `vmap`, or for
small models the CPU's vector lanes (`run_epoch_lanes`).

The scan's carry is `(params, opt_state, state, extra, loss)`. Modes differ only in where the
state is reset and in how far back a gradient reaches (`modes.py`):

- `stateless`: the state is zeroed before every batch;
- `stateful`, horizon 1: carried from batch to batch, the gradient stops at the batch
  boundary (Keras);
- `stateful`, horizon K: each update back-propagates through the current batch and the K-1
  before it (truncated BPTT, k1 = 1 batch, k2 = K batches; Williams & Peng 1990);
- `rtrl`: the exact gradient through the whole carried history (`rtrl.py`);
- `uoro`, `snap1`: cheap approximations of it (`uoro.py`, unbiased; `snap.py`, sparse).

Evaluation has its own state and never touches the training carry: there is no hidden state.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from . import cells, heads, modes, runtime
from .batch import enter_batch, head_steps
from .cells import Params, State
from .optim import keras_adam
from .spec import HEAD_LOSSES, Model, Train
from .ticks import tick

# A stream of its own for the epoch shuffles: fold_in(key, small n) can equal the keys that
# `cells.init` drew from the same seed key.
SHUFFLE_STREAM = 0x5EED


class Carry(NamedTuple):
    params: Params
    opt_state: optax.OptState
    state: State  # the exact forward state at the start of the next batch
    extra: Any  # the mode's own carry: a window of past batches (horizon), sensitivities (rtrl)
    # the lane's loss as data, an index into HEAD_LOSSES[head], when Trains run side by side
    # with different losses (one program for them all, `fit`); None: the Train's own
    loss: Any = None


def make_optimizer(train: Train) -> optax.GradientTransformation:
    return keras_adam(train.learning_rate, train.beta1, train.beta2, train.adam_eps)


def with_mode_resets(batches, train: Train, start_of_pass: bool):
    """Add the mode's resets to the data's own: before every batch (stateless) and, when
    `start_of_pass`, before the first step of the pass."""
    reset = jnp.asarray(batches.reset)  # (batches, batch, time, *lanes)
    if train.mode == "stateless":
        reset = reset | jnp.zeros(reset.shape, bool).at[:, :, 0].set(True)
    if start_of_pass:
        reset = reset.at[0, :, 0].set(True)
    return batches._replace(reset=reset)


def shuffle(batches, key: Array):
    """Reshuffle the samples (Keras' `shuffle=True`): streams are broken on purpose."""
    nb, b = batches.x.shape[:2]
    order = jax.random.permutation(key, nb * b)

    def permute(a: Array) -> Array:
        return a.reshape((nb * b,) + a.shape[2:])[order].reshape(a.shape)

    return jax.tree.map(permute, batches)


def train_epoch(carry: Carry, batches, model: Model, train: Train, ticks: bool = False) -> tuple[Carry, dict]:
    """One epoch, one optimizer update per batch, as Keras' `fit(shuffle=False)`.

    `batches` must already hold the mode's resets (`with_mode_resets`). `ticks`: each update
    tells the host (`ticks.tick`), for progress within a long epoch.
    """
    optimizer = make_optimizer(train)
    grad_fn = modes.grad_fn(train)

    def step(carry: Carry, batch) -> tuple[Carry, dict]:
        if ticks:
            batch, index = batch
        grads, state, extra, stats = grad_fn(
            carry.params, carry.state, carry.extra, batch, model, train, carry.loss
        )
        updates, opt_state = optimizer.update(grads, carry.opt_state, carry.params)
        params = optax.apply_updates(carry.params, updates)
        if ticks:
            after = jax.tree.leaves(params)[0].reshape(-1)[0]  # an updated weight: the batch is done
            jax.debug.callback(tick, index + 0 * after)
        return Carry(params, opt_state, state, extra, carry.loss), stats

    xs = (batches, jnp.arange(batches.x.shape[0])) if ticks else batches
    carry, stats = jax.lax.scan(step, carry, xs)
    return carry, jax.tree.map(lambda a: jnp.sum(a, axis=0), stats)


def outputs(params: Params, batches, model: Model, train: Train, state: State | None = None):
    """Head outputs for every batch, on a state of its own: `(state after, outputs)`.

    With `state=None` the pass starts from zeros; pass a state to continue from it instead.
    The mode's resets and carry rule apply, as in training.
    """
    fresh = state is None
    if fresh:
        state = cells.zeros_state(model, batches.x.shape[1], cells.lanes_of(params))
    batches = with_mode_resets(batches, train, start_of_pass=fresh)

    def step(state: State, batch) -> tuple[State, Array]:
        return cells.forward(
            params, model, enter_batch(state, train), batch.x, batch.reset
        )

    return jax.lax.scan(step, state, batches)


def evaluate(
    params: Params, batches, model: Model, train: Train, state: State | None = None, loss=None
) -> tuple[dict, State]:
    """The stats of `batches` on a state of its own; the training carry is never read or
    written. From zeros unless `state` is given; `loss` as in `batch.batch_loss`."""
    fresh = state is None
    if fresh:
        state = cells.zeros_state(model, batches.x.shape[1], cells.lanes_of(params))
    batches = with_mode_resets(batches, train, start_of_pass=fresh)
    loss = train.loss_for(model) if loss is None else loss

    def step(state: State, batch) -> tuple[State, dict]:
        state, out = cells.forward(
            params, model, enter_batch(state, train), batch.x, batch.reset, head_steps(batch)
        )
        return state, heads.batch_stats(out, batch, model.head, loss)

    state, stats = jax.lax.scan(step, state, batches)
    return jax.tree.map(lambda a: jnp.sum(a, axis=0), stats), state


def init_carry(
    key: Array, model: Model, train: Train, batch_size: int, time_steps: int, loss_as_data: bool = False,
    reset_steps: int | None = None,
) -> Carry:
    """A seed's carry before its first batch (`reset_steps`: `modes.init_window`)."""
    params = cells.init(key, model)
    return Carry(
        params,
        make_optimizer(train).init(params),
        cells.zeros_state(model, batch_size),
        modes.init_extra(train, model, params, batch_size, time_steps, key, reset_steps),
        jnp.int32(0) if loss_as_data else None,  # `fit` writes each lane's
    )


def loss_index(model: Model, train: Train) -> int:
    """The Train's loss as the data `Carry.loss` holds."""
    return HEAD_LOSSES[model.head].index(train.loss_for(model))


def run_epoch(
    carry: Carry, data, test, key: Array, epoch: Array, model: Model, train: Train, ticks: bool = False
) -> tuple[Carry, tuple[dict, dict]]:
    """Train one epoch, then evaluate on `test` (if any) with a fresh state: one seed."""
    if train.shuffle:
        key = jax.random.fold_in(jax.random.fold_in(key, SHUFFLE_STREAM), epoch)
        data = shuffle(data, key)
    data = with_mode_resets(data, train, start_of_pass=train.reset == "epoch")
    carry, train_stats = train_epoch(carry, data, model, train, ticks)
    test_stats = {} if test is None else evaluate(carry.params, test, model, train, loss=carry.loss)[0]
    return carry, (train_stats, test_stats)


TRACES: dict[str, int] = {}  # times each program was traced: a second epoch must not add one


def run_epoch_seeds(
    carry: Carry, data, test, keys: Array, epoch: Array, model: Model, train: Train, shared: bool,
    lanes: bool | None = None, ticks: bool = False,
) -> tuple[Carry, tuple[dict, dict]]:
    """`run_epoch` for many seeds (seed axis first); `shared`: one data set for all.

    Small models train with the seeds in the vector lanes (`run_epoch_lanes`, where a seed's own
    data comes with the seed axis last; `uses_lanes` says which), the others with `vmap`; both
    give every seed the numbers it gets alone. `lanes=False` keeps `vmap` (None: `uses_lanes`);
    `ticks` (vmap only): progress from each batch (`train_epoch`)."""
    TRACES["run_epoch_seeds"] = TRACES.get("run_epoch_seeds", 0) + 1
    lanes = uses_lanes(model, train) if lanes is None else lanes
    if lanes:
        return run_epoch_lanes(carry, data, test, keys, epoch, model, train, shared)
    axis = None if shared else 0

    def one(carry, data, test, key):
        return run_epoch(carry, data, test, key, epoch, model, train, ticks)

    return jax.vmap(one, in_axes=(0, axis, axis, 0))(carry, data, test, keys)


def init_carry_seeds(
    keys: Array, model: Model, train: Train, batch_size: int, time_steps: int, loss_as_data: bool = False,
    reset_steps: int | None = None,
) -> Carry:
    """Every seed's carry. A stack of layers initialises its seeds one after another: each
    layer's orthogonal kernel is a QR factorisation, and jaxlib 0.10's LAPACK kernel for a batch
    of them waits on XLA:CPU's thread pool for helpers from inside it; two layers' batched QRs
    running at once on a 2-core machine took both pool threads and hung for good (LSTM(192+) x 2,
    2 seeds; tests/test_init_layers.py). One seed at a time, each QR is a batch of one,
    which runs inline; the numbers are the same."""
    def one(key: Array) -> Carry:
        return init_carry(key, model, train, batch_size, time_steps, loss_as_data, reset_steps)

    return jax.lax.map(one, keys) if model.layers > 1 else jax.vmap(one)(keys)


def uses_lanes(model: Model, train: Train) -> bool:
    """Whether the seeds run in the vector lanes: on a CPU, for what `runtime.lane_width` allows
    (the online modes' per-seed Jacobians would mix lanes; a big model's products are matmuls)."""
    return runtime.lane_width(model, train) > 1 and jax.default_backend() == "cpu"


def run_epoch_lanes(
    carry: Carry, data, test, keys: Array, epoch: Array, model: Model, train: Train, shared: bool
) -> tuple[Carry, tuple[dict, dict]]:
    """`run_epoch_seeds` with the seed axis last: every array is (..., seeds), so one vector
    instruction serves 8 or 16 seeds where `vmap`'s (seeds, ..., 3 units) layout fills the
    vector registers with a model's few units. Each seed runs the same operations (its float32
    sums may round otherwise than under `vmap`, in the last place).

    Shared data stays one copy without a lane axis (every lane reads it); data of a seed's
    own comes with the seed axis last (`fit` lays it out so once, not every epoch), as does a
    seed's shuffle. The carry and the sums come and go with the seed axis first, as
    `run_epoch_seeds`'s do.
    """
    start = train.reset == "epoch"
    if train.shuffle:

        def shuffled(data, key: Array):
            key = jax.random.fold_in(jax.random.fold_in(key, SHUFFLE_STREAM), epoch)
            return with_mode_resets(shuffle(data, key), train, start_of_pass=start)

        data = _seeds_last(jax.vmap(shuffled, in_axes=(None if shared else -1, 0))(data, keys))
    else:
        data = with_mode_resets(data, train, start_of_pass=start)
    carry, train_stats = train_epoch(_seeds_last(carry), data, model, train)
    test_stats = {}
    if test is not None:
        test_stats = evaluate(carry.params, test, model, train, loss=carry.loss)[0]
    return jax.tree.map(lambda a: jnp.moveaxis(a, -1, 0), carry), (train_stats, test_stats)


def _seeds_last(tree):
    return jax.tree.map(lambda a: jnp.moveaxis(a, 0, -1), tree)
