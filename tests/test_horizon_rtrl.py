"""Gradients across batch boundaries, each against an explicitly unrolled `jax.grad` oracle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry import engine, model, rtrl
from statecarry.config import Config
from statecarry.data.layout import from_samples
from statecarry.data.tasks import make_samples

N_BATCHES = 4


def setup(config: Config, seed: int = 0):
    params = model.init(jax.random.key(seed), config.features, config.units)
    # Non-zero biases so every path through the cell matters.
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda a: a + 0.2 * rng.standard_normal(a.shape).astype(np.float32), params)
    train, _ = make_samples(config, seed)
    data = from_samples(train.x, train.y, config.batch_size, train.known)
    data = jax.tree.map(lambda a: jnp.asarray(a[:N_BATCHES]), data)
    data = engine.with_mode_resets(data, config, start_of_pass=True)
    return params, data


def batch(data, k):
    return jax.tree.map(lambda a: a[k], data)


def unrolled_grad(params, data, config, k, first):
    """jax.grad of batch k's loss through batches first..k, written out batch by batch, from the
    stop-gradient exact state at the start of batch `first`."""
    state = model.zeros_state(config.batch_size, config.units)
    for j in range(first):  # the exact forward state, no gradient needed
        state, _ = model.forward(params, engine.enter_batch(state, config), data.x[j], data.reset[j])
    start = jax.lax.stop_gradient(state)

    def loss(params):
        s = start
        for j in range(first, k):
            s, _ = model.forward(params, engine.enter_batch(s, config), data.x[j], data.reset[j])
        return engine.batch_loss(params, s, batch(data, k), config)[0]

    return jax.jit(jax.grad(loss))(params)


def run_mode(params, data, config):
    """The engine's own gradient at every batch with the parameters held fixed (lr = 0)."""
    grad_fn = jax.jit(engine._grad_fn(config), static_argnums=4)
    state = model.zeros_state(config.batch_size, config.units)
    extra = engine.init_extra(config, params, config.batch_size)
    grads, states = [], []
    for k in range(N_BATCHES):
        g, state, extra, _ = grad_fn(params, state, extra, batch(data, k), config)
        grads.append(g)
        states.append(state)
    return grads, states


def assert_trees_close(a, b, atol=1e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=1e-4)


def tree_distance(a, b):
    return max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize(("horizon", "carry"), [(2, "hc"), (3, "c")])
def test_horizon_gradient_equals_unrolled_grad_from_stop_gradient_state(horizon, carry):
    config = Config(task="prev-batch", mode="stateful", horizon=horizon, carry=carry)
    params, data = setup(config)
    grads, _ = run_mode(params, data, config)
    for k in (0, N_BATCHES - 2, N_BATCHES - 1):
        assert_trees_close(grads[k], unrolled_grad(params, data, config, k, max(0, k - horizon + 1)))
    # and it is not simply the truncated gradient
    assert tree_distance(grads[-1], unrolled_grad(params, data, config, N_BATCHES - 1, N_BATCHES - 1)) > 1e-6


def test_horizon_carries_the_exact_forward_state():
    config = Config(task="prev-batch", mode="stateful", horizon=3)
    params, data = setup(config)
    _, states = run_mode(params, data, config)
    _, truncated_states = run_mode(params, data, config.replace(horizon=1))
    assert_trees_close(states, truncated_states, atol=1e-6)


def test_horizon_is_truncation_when_every_batch_starts_with_a_reset():
    config = Config(task="first-step", mode="stateful", horizon=3)
    params, data = setup(config)
    data = data._replace(reset=data.reset.at[:, :, 0].set(True))
    grads, _ = run_mode(params, data, config)
    truncated, _ = run_mode(params, data, config.replace(horizon=1))
    assert_trees_close(grads, truncated, atol=1e-6)


@pytest.mark.parametrize("carry", ["hc", "c"])
def test_rtrl_gradient_equals_grad_through_the_whole_history(carry):
    config = Config(task="prev-batch", mode="rtrl", carry=carry)
    params, data = setup(config, seed=1)
    grads, _ = run_mode(params, data, config)
    for k in (1, N_BATCHES - 1):
        assert_trees_close(grads[k], unrolled_grad(params, data, config, k, 0))


def test_rtrl_honours_a_reset_in_the_middle_of_a_batch():
    config = Config(task="prev-batch", mode="rtrl")
    params, data = setup(config, seed=2)
    # row 1 starts a new sequence at step 2 of batch 3: nothing before it may matter
    data = data._replace(reset=data.reset.at[3, 1, 2].set(True))
    grads, _ = run_mode(params, data, config)
    for k in (1, N_BATCHES - 1):
        assert_trees_close(grads[k], unrolled_grad(params, data, config, k, 0))


def test_rtrl_refuses_what_does_not_fit_with_the_estimate_and_alternatives():
    config = Config(mode="rtrl", units=64)
    with pytest.raises(rtrl.TooLargeForRTRL, match=r"GiB.*--horizon"):
        rtrl.seeds_that_fit(config, budget=2**20)
    assert rtrl.seeds_that_fit(Config(mode="rtrl"), budget=2**30) > 1


def test_rtrl_refuses_more_seeds_than_fit_at_once(monkeypatch):
    from statecarry import runner

    config = Config(task="prev-batch", mode="rtrl", n_train=64, n_test=32, epochs=1)
    monkeypatch.setattr(rtrl, "available_bytes", lambda: 2 * 3 * rtrl.bytes_per_seed(config))
    with pytest.raises(rtrl.TooLargeForRTRL, match=r"at most 3 seeds.*--seeds 3"):
        runner.run(config, range(4))
