"""The engine against oracles: seeds run alone, a Python loop over batches with Keras' history
semantics, modes equal by construction, and the no-hidden-state rules.

Runs are tiny (64 training samples, 2 epochs) and shared through `run_once`, so each compiled
program is built once for the whole module (and, with the same config, for test_cli too).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry.core import cells, engine, modes
from statecarry.core.cells import LSTMState
from statecarry.core.fit import fit
from statecarry.core.spec import Model, Train
from statecarry.data.layout import Batches, from_samples
from statecarry.experiments import blog
from statecarry.experiments.config import Config

# Same as the CLI tests' `--n-train 64 --n-test 32 --time-steps 3 --epochs 2 --lr 0.01`, so
# they share compiled programs. lr 0.01 so two epochs move the model enough to tell modes apart.
STATEFUL = Config(task="first-step", n_train=64, n_test=32, time_steps=3, epochs=2, learning_rate=0.01)
STATELESS = STATEFUL.replace(mode="stateless")
NEVER = STATEFUL.replace(reset="never")
MODES = {"stateful": STATEFUL, "stateless": STATELESS}
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
SOLO = (0, 9, 15)  # seeds also run alone


@functools.cache
def run_once(config: Config, seeds: tuple[int, ...], chunk_size: int | None = None) -> blog.History:
    return blog.run(config, list(seeds), chunk_size=chunk_size)


def trees_close(a, b, rtol=1e-6, atol=1e-7):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_conftest_gives_two_host_devices_so_seed_chunks_are_sharded():
    assert jax.device_count() == 2


# -- vmap equivalence ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["stateful", "stateless"])
def test_seed_k_of_a_vectorised_sharded_run_equals_seed_k_run_alone(mode):
    config = MODES[mode]
    # stateful: one sharded chunk of 16; stateless: chunks of 4 (the last one padded).
    many = run_once(config, tuple(range(16))) if mode == "stateful" else run_once(config, tuple(range(10)), 4)
    for k in SOLO:
        if k >= len(many.seeds):
            continue
        alone = run_once(config, (k,))
        for m in blog.METRICS:
            np.testing.assert_allclose(many.metrics[m][:, k], alone.metrics[m][:, 0], rtol=1e-5, atol=1e-6)
    # The seeds are independent runs, not copies of one.
    assert len(set(many.metrics["train_loss"][-1].tolist())) == len(many.seeds)


def test_a_pinned_data_seed_shares_one_data_set_and_only_the_initialisation_varies():
    pinned = blog.run(STATEFUL.replace(data_seed=9), list(range(16)))  # the shared-data program
    own = run_once(STATEFUL, (9,))  # seed 9 makes the same data and the same initialisation
    for m in blog.METRICS:
        np.testing.assert_allclose(pinned.metrics[m][:, 9], own.metrics[m][:, 0], rtol=1e-5, atol=1e-6)
    many = run_once(STATEFUL, tuple(range(16)))
    assert not np.allclose(pinned.metrics["train_loss"][:, 3], many.metrics["train_loss"][:, 3])
    assert len(set(pinned.metrics["train_loss"][-1].tolist())) == 16  # initialisations differ


def test_the_same_config_and_seeds_give_identical_numbers():
    first = run_once(STATEFUL, tuple(range(16)))
    again = blog.run(STATEFUL, list(range(16)))
    for m in blog.METRICS:
        np.testing.assert_array_equal(first.metrics[m], again.metrics[m])


# -- Keras' history semantics: a Python loop over batches is the oracle ----------------------

BLOG = STATEFUL.model_spec()  # LSTM(3), a sigmoid Dense(1), one feature


@jax.jit
def oracle_step(params, state, x, y):
    """MSE of the last step's prediction and its gradient, written from `cells.forward` alone."""

    def loss(params):
        state_out, pred = cells.forward(params, BLOG, state, x, jnp.zeros(x.shape[:2], bool))
        p = pred[:, -1, 0]
        target = y[:, -1, 0]
        return jnp.mean((p - target) ** 2), (state_out, jnp.mean(((p > 0.5) == (target > 0.5)).astype(jnp.float32)))

    (value, (state_out, acc)), grads = jax.value_and_grad(loss, has_aux=True)(params)
    return value, acc, state_out, grads


@jax.jit
def oracle_update(params, opt_state, grads):
    updates, opt_state = engine.make_optimizer(STATEFUL.train_spec()).update(grads, opt_state, params)
    return jax.tree.map(lambda p, u: p + u, params, updates), opt_state


def zeros(batch_size, units):
    return (LSTMState(jnp.zeros((batch_size, units)), jnp.zeros((batch_size, units))),)


def h_zeroed(state):
    return tuple(LSTMState(jnp.zeros_like(s.h), s.c) for s in state)


def oracle_history(config: Config, seed: int, keep_h: bool = True):
    """Keras' `fit(shuffle=False)` one epoch at a time, then `evaluate`, as a plain loop.

    Returns per-epoch (train_loss, train_acc, test_loss, test_acc) and every batch's loss.
    """
    train, test = blog.seed_batches(config, seed)
    model, train_spec = config.model_spec(), config.train_spec()
    assert model == BLOG and train_spec.loss_for(model) == "mse"
    carry = engine.init_carry(jax.random.key(seed), model, train_spec, config.batch_size, config.time_steps)
    params, opt_state = carry.params, carry.opt_state
    fresh = zeros(config.batch_size, config.units)
    stateless = config.mode == "stateless"

    def entering(state):
        return state if keep_h else h_zeroed(state)

    history, batch_losses = [], []
    state = fresh
    for _ in range(config.epochs):
        if config.reset == "epoch":
            state = fresh
        losses, accs = [], []
        for k in range(train.n_batches):
            state = fresh if stateless else entering(state)
            loss, acc, state, grads = oracle_step(params, state, train.x[k], train.y[k])
            params, opt_state = oracle_update(params, opt_state, grads)  # after the loss is logged
            losses.append(float(loss))
            accs.append(float(acc))
        batch_losses.append(losses)
        test_state, test_losses, test_accs = fresh, [], []
        for k in range(test.n_batches):
            test_state = fresh if stateless else entering(test_state)
            loss, acc, test_state, _ = oracle_step(params, test_state, test.x[k], test.y[k])
            test_losses.append(float(loss))
            test_accs.append(float(acc))
        history.append((np.mean(losses), np.mean(accs), np.mean(test_losses), np.mean(test_accs)))
    return np.array(history), np.array(batch_losses)


@pytest.mark.parametrize("config", [STATEFUL, STATELESS, NEVER], ids=["stateful", "stateless", "reset-never"])
def test_epoch_metrics_are_the_mean_of_per_batch_values_before_each_update(config):
    seed = 9
    want, _ = oracle_history(config, seed)
    got = run_once(config, (seed,))
    for i, m in enumerate(METRICS):
        np.testing.assert_allclose(got.metrics[m][:, 0], want[:, i], rtol=2e-5, atol=1e-6, err_msg=m)


def test_reset_never_carries_the_training_state_into_the_next_epoch():
    seed = 9
    never, never_batches = oracle_history(NEVER, seed)
    reset, reset_batches = oracle_history(STATEFUL, seed)
    # Epoch 1 is identical (both start from zeros); the first batch of epoch 2 is not.
    np.testing.assert_allclose(never_batches[0], reset_batches[0], rtol=1e-6)
    assert abs(never_batches[1][0] - reset_batches[1][0]) > 1e-5
    got = run_once(NEVER, (seed,)).metrics["train_loss"][1, 0]
    assert got == pytest.approx(never[1, 0], rel=2e-5)
    assert abs(got - reset[1, 0]) > 1e-6 + 2e-5 * abs(got)


# -- engine-level: evaluation, resets, carry, shuffle ----------------------------------------

SMALL = Config(task="first-step", n_train=16, n_test=8, time_steps=3, epochs=1)
MODEL = SMALL.model_spec()
TRAIN = SMALL.train_spec()


@functools.cache
def small_data(seed=0) -> tuple[Batches, Batches]:
    train, test = blog.seed_batches(SMALL, seed)
    return jax.tree.map(jnp.asarray, train), jax.tree.map(jnp.asarray, test)


STATIC = ("model", "train")
jit_run_epoch = jax.jit(engine.run_epoch, static_argnames=STATIC)
jit_train_epoch = jax.jit(engine.train_epoch, static_argnames=STATIC)
jit_evaluate = jax.jit(engine.evaluate, static_argnames=STATIC)


def trained_carry(seed=0):
    """A carry one epoch into training, so its state and moments are not zeros."""
    train, test = small_data(seed)
    carry = engine.init_carry(jax.random.key(seed), MODEL, TRAIN, SMALL.batch_size, SMALL.time_steps)
    carry, _ = jit_run_epoch(carry, train, test, jax.random.key(seed), jnp.int32(0), model=MODEL, train=TRAIN)
    return carry


def test_evaluation_never_changes_the_training_state():
    train, test = small_data()
    carry = trained_carry()
    assert float(jnp.abs(carry.state[0].h).sum()) > 0  # a leak into a non-zero state would show
    after_run, (run_train, run_test) = jit_run_epoch(
        carry, train, test, jax.random.key(0), jnp.int32(1), model=MODEL, train=TRAIN
    )
    after_train, train_stats = jit_train_epoch(
        carry, engine.with_mode_resets(train, TRAIN, start_of_pass=True), model=MODEL, train=TRAIN
    )
    trees_close(after_run, after_train, rtol=0, atol=0)
    test_stats, _ = jit_evaluate(after_run.params, test, model=MODEL, train=TRAIN)
    assert set(run_test) == set(test_stats) and set(run_train) == set(train_stats)
    for name in ("loss", "weight", "correct"):
        assert float(run_test[name]) == pytest.approx(float(test_stats[name]), rel=1e-6)
        assert float(run_train[name]) == pytest.approx(float(train_stats[name]), rel=1e-6)


def test_evaluate_is_pure_and_starts_from_zeros_unless_given_a_state():
    _, test = small_data()
    carry = trained_carry()
    first, end_state = jit_evaluate(carry.params, test, model=MODEL, train=TRAIN)
    again, _ = jit_evaluate(carry.params, test, model=MODEL, train=TRAIN)
    trees_close(first, again, rtol=0, atol=0)
    from_zeros, _ = jit_evaluate(carry.params, test, model=MODEL, train=TRAIN, state=zeros(4, SMALL.units))
    trees_close(first, from_zeros)
    continued, _ = jit_evaluate(carry.params, test, model=MODEL, train=TRAIN, state=end_state)
    assert abs(float(continued["loss"]) - float(first["loss"])) > 1e-6  # a given state is used


def test_the_second_epoch_does_not_recompile_the_epoch():
    carry = trained_carry()
    train, test = small_data()
    for epoch in (1, 2):
        carry, _ = jit_run_epoch(carry, train, test, jax.random.key(0), jnp.int32(epoch), model=MODEL, train=TRAIN)
    assert jit_run_epoch._cache_size() == 1


def traces() -> int:
    return engine.TRACES.get("run_epoch_seeds", 0)


def test_fit_traces_the_epoch_once_whatever_the_number_of_epochs():
    # A model no other test uses, so its first fit must trace: once, not once per epoch.
    train_data, test_data = blog.seed_batches(SMALL, 1)
    model = Model(units=2, features=1, outputs=1)
    counts = []
    for epochs in (3, 4):  # epochs do not change the program
        before = traces()
        result = fit(train_data, model, Train(epochs=epochs), [0, 1], test_data)
        counts.append(traces() - before)
        assert result.epochs == epochs and np.isfinite(result.metrics["test_loss"]).all()
    assert counts == [1, 0]  # once for three epochs; a second fit reuses the program


def test_runner_traces_the_epoch_once_whatever_the_number_of_epochs():
    # A config no other test uses, so its first run must trace: once, not once per epoch.
    fresh = Config(task="first-step", n_train=8, n_test=8, time_steps=2, units=2, epochs=3)
    counts = []
    for _ in range(2):
        before = traces()
        history = blog.run(fresh, [0])
        counts.append(traces() - before)
        assert history.epochs == 3
    assert counts == [1, 0]  # once for three epochs; a second run reuses the program


def with_batch_resets(batches: Batches) -> Batches:
    return batches._replace(reset=batches.reset.at[:, :, 0].set(True))


def test_stateful_with_a_reset_before_every_batch_is_stateless():
    train, test = small_data()
    stateless = TRAIN.replace(mode="stateless")
    carry = trained_carry()
    resets = with_batch_resets(train)
    a, a_stats = jit_train_epoch(carry, engine.with_mode_resets(resets, TRAIN, True), model=MODEL, train=TRAIN)
    b, b_stats = jit_train_epoch(
        carry, engine.with_mode_resets(train, stateless, True), model=MODEL, train=stateless
    )
    trees_close(a, b)
    trees_close(a_stats, b_stats)
    ev_a, _ = jit_evaluate(a.params, with_batch_resets(test), model=MODEL, train=TRAIN)
    ev_b, _ = jit_evaluate(a.params, test, model=MODEL, train=stateless)
    trees_close(ev_a, ev_b)
    # Without the resets the two modes differ: the comparison above can fail.
    _, c_stats = jit_train_epoch(carry, engine.with_mode_resets(train, TRAIN, True), model=MODEL, train=TRAIN)
    assert abs(float(c_stats["loss"]) - float(b_stats["loss"])) > 1e-6


def test_carry_c_zeroes_h_at_batch_boundaries_only():
    train, test = small_data()
    carry = trained_carry()
    only_c = TRAIN.replace(carry="c")
    state = carry.state
    batch = jax.tree.map(lambda a: a[0], train)
    loss_c, (after_c, _) = modes.batch_loss(carry.params, state, batch, MODEL, only_c)
    loss_h0, (after_h0, _) = modes.batch_loss(carry.params, h_zeroed(state), batch, MODEL, TRAIN)
    loss_hc, _ = modes.batch_loss(carry.params, state, batch, MODEL, TRAIN)
    assert float(loss_c) == float(loss_h0)
    trees_close(after_c, after_h0, rtol=0, atol=0)  # h is not zeroed inside the batch
    assert abs(float(loss_c) - float(loss_hc)) > 1e-7
    # Evaluation crosses its batch boundaries the same way: a loop that zeroes h is the oracle.
    got, _ = jit_evaluate(carry.params, test, model=MODEL, train=only_c)
    state, correct, losses = zeros(4, SMALL.units), [], []
    for k in range(test.n_batches):
        loss, acc, state, _ = oracle_step(carry.params, h_zeroed(state), test.x[k], test.y[k])
        losses.append(float(loss))
        correct.append(float(acc))
    assert float(got["loss"] / got["weight"]) == pytest.approx(np.mean(losses), rel=1e-5)
    assert float(got["correct"] / got["weight"]) == pytest.approx(np.mean(correct), abs=1e-6)


def numbered_batches(n=24, batch_size=4, time_steps=3) -> Batches:
    """Sample n has x = n + step/10, label n, resets at step 0 when n % 3 == 0, known when odd."""
    x = (np.arange(n)[:, None] + np.arange(time_steps)[None, :] / 10)[..., None]
    b = from_samples(x, np.arange(n, dtype=np.float32), batch_size, known=np.arange(n) % 2 == 1)
    reset = b.reset.copy()
    reset[..., 0] = (np.arange(n) % 3 == 0).reshape(reset.shape[:2])
    return jax.tree.map(jnp.asarray, b._replace(reset=reset))


shuffle = jax.jit(engine.shuffle)


def test_shuffle_permutes_whole_samples_with_their_labels_and_masks():
    b = numbered_batches()
    s = shuffle(b, jax.random.key(3))
    ids = np.asarray(s.y[..., -1, 0]).astype(int)  # (n_batches, batch)
    assert sorted(ids.ravel().tolist()) == list(range(24))
    assert ids.ravel().tolist() != list(range(24))
    np.testing.assert_allclose(np.asarray(s.x[..., 0]), ids[..., None] + np.arange(3) / 10, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(s.reset[..., 0]), ids % 3 == 0)
    np.testing.assert_array_equal(np.asarray(s.known[..., -1]), ids % 2 == 1)
    np.testing.assert_array_equal(np.asarray(s.weight), np.asarray(b.weight))  # target still last
    same = shuffle(b, jax.random.key(3))
    other = shuffle(b, jax.random.fold_in(jax.random.key(3), 1))
    np.testing.assert_array_equal(np.asarray(same.y), np.asarray(s.y))
    assert not np.array_equal(np.asarray(other.y), np.asarray(s.y))


def test_mode_resets_stateless_every_batch_stateful_only_at_the_start_of_a_pass():
    b = numbered_batches()
    data = np.asarray(b.reset)
    stateless = np.asarray(engine.with_mode_resets(b, TRAIN.replace(mode="stateless"), False).reset)
    stateful = np.asarray(engine.with_mode_resets(b, TRAIN, True).reset)
    carried = np.asarray(engine.with_mode_resets(b, TRAIN, False).reset)
    assert stateless[..., 0].all() and (stateless[..., 1:] == data[..., 1:]).all()
    assert stateful[0, :, 0].all() and (stateful[1:] == data[1:]).all() and (stateful[0, :, 1:] == data[0, :, 1:]).all()
    np.testing.assert_array_equal(carried, data)
