"""UORO and SnAp-1 against the exact gradient: `jax.grad` through the unrolled history.

The oracle and the data come from `test_core_gradients.py`. SnAp-1 must equal the oracle
exactly where its sparsity pattern is exact (one step of history; a diagonal recurrence), and
UORO must be unbiased: over many draws of its random signs the mean gradient equals the
exact one within a 95% interval, and is not the truncated gradient.
"""

from __future__ import annotations

from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry.core import cells, memory, modes, rtrl
from statecarry.core.fit import fit
from statecarry.core.spec import Model, Train
from statecarry.errors import ConfigError, TooLargeForRTRL
from test_core_gradients import (
    N_BATCHES,
    assert_reaches_past_the_batch,
    assert_trees_close,
    batch,
    oracle,
    random_setup,
    run_mode,
    task_setup,
)

MODELS = {
    "lstm": Model(cell="lstm", head="sigmoid"),
    "gru": Model(cell="gru", head="sigmoid"),
    "lstm2": Model(cell="lstm", layers=2, head="sigmoid"),
    "gru2": Model(cell="gru", layers=2, head="sigmoid"),
}


def assert_matches_oracle(params, data, model: Model, train: Train):
    """Every batch's gradient equals `jax.grad` through the whole history since the last
    reset, and the state carried is the plain forward state."""
    grads, states = run_mode(params, data, model, train)
    expected, expected_states = oracle(params, data, model, train, reach=None)
    for k in range(N_BATCHES):
        assert_trees_close(grads[k], expected[k])
    assert_trees_close(states, expected_states, atol=1e-6)
    return grads


def diagonal_recurrence(params, model: Model):
    """Zero every recurrent weight from unit m to another unit k: unit k reads only its own h."""
    g, u = 4 if model.cell == "lstm" else 3, model.units
    mask = jnp.tile(jnp.eye(u), (1, g))  # (u, g*u): row k keeps column g*u + k
    out = dict(params)
    for name in model.layer_names:
        out[name] = {**params[name], "recurrent_kernel": params[name]["recurrent_kernel"] * mask}
    return out


# -- SnAp-1 is RTRL where its sparsity pattern is exact ------------------------------------


@pytest.mark.parametrize("case", ["lstm", "gru"])
def test_snap1_equals_the_oracle_after_one_step_of_history(case):
    """A reset at the last step of batches 0 and 2: batches 1 and 3 start one step after it,
    where the sensitivity is the immediate Jacobian, which SnAp-1 keeps whole."""
    train = Train(mode="snap1", loss="bce")
    model, params, data = random_setup(MODELS[case], train, seed=4)
    data.reset[0::2, :, -1] = True
    grads = assert_matches_oracle(params, data, model, train)
    assert_reaches_past_the_batch(params, data, model, train, grads)


@pytest.mark.parametrize("case", ["lstm", "gru"])
@pytest.mark.parametrize("carry", ["hc", "c"])
def test_snap1_equals_the_oracle_through_any_history_with_a_diagonal_recurrence(case, carry):
    if carry == "c" and case != "lstm":
        pytest.skip("carry c is an LSTM's")
    train = Train(mode="snap1", loss="bce", carry=carry)
    model, params, data = random_setup(MODELS[case], train, seed=5)  # a reset in mid-batch
    params = diagonal_recurrence(params, model)
    grads = assert_matches_oracle(params, data, model, train)
    assert_reaches_past_the_batch(params, data, model, train, grads)


@pytest.mark.parametrize("case", ["lstm2", "gru2"])
def test_snap1_on_a_stack_is_exact_for_the_top_layer_with_a_diagonal_recurrence(case):
    """Layer by layer: the top layer and the head are exact; the bottom layer's influence on
    the layer above through the carried state is what SnAp-1 drops, so it differs."""
    train = Train(mode="snap1", loss="bce")
    model, params, data = random_setup(MODELS[case], train, seed=6)
    params = diagonal_recurrence(params, model)
    grads, states = run_mode(params, data, model, train)
    expected, expected_states = oracle(params, data, model, train, reach=None)
    top, bottom = model.layer_names[-1], model.layer_names[0]
    for k in range(N_BATCHES):
        assert_trees_close(grads[k][top], expected[k][top])
        assert_trees_close(grads[k]["dense"], expected[k]["dense"])
    assert_trees_close(states, expected_states, atol=1e-6)
    gap = np.abs(np.asarray(grads[-1][bottom]["kernel"] - expected[-1][bottom]["kernel"])).max()
    assert gap > 1e-6


def test_snap1_differs_from_rtrl_where_the_recurrence_mixes_units():
    """A full recurrent kernel: SnAp-1 is an approximation, not RTRL in disguise."""
    train = Train(mode="snap1", loss="bce")
    model, params, data = random_setup(MODELS["lstm"], train, seed=7)
    grads, _ = run_mode(params, data, model, train)
    expected, _ = oracle(params, data, model, train, reach=None)
    assert np.abs(np.asarray(grads[-1]["lstm"]["kernel"] - expected[-1]["lstm"]["kernel"])).max() > 1e-5


def test_snap1_on_the_blog_task_with_a_marker_reaches_past_the_batch():
    train = Train(mode="snap1")
    model, params, data = task_setup("prev-batch", train, seed=1)
    grads, states = run_mode(params, data, model, train)
    _, expected_states = oracle(params, data, model, train, reach=None)
    assert_trees_close(states, expected_states, atol=1e-6)
    assert_reaches_past_the_batch(params, data, model, train, grads)


# -- UORO is unbiased ----------------------------------------------------------------------

DRAWS = 4096


def uoro_draws(params, data, model: Model, train: Train, n: int):
    """The last batch's UORO gradient for keys 0..n-1 (flattened), parameters held fixed."""
    grad_fn = modes.grad_fn(train)
    batch_size, time_steps = data.x.shape[1:3]

    def one(key):
        state = cells.zeros_state(model, batch_size)
        extra = modes.init_extra(train, model, params, batch_size, time_steps, key)
        for k in range(N_BATCHES):
            g, state, extra, _ = grad_fn(params, state, extra, batch(data, k), model, train)
        return jax.flatten_util.ravel_pytree(g)[0]

    # In chunks: one vmap over more than ~32k streams (keys x rows) returned wrong values for
    # its last lanes on XLA:CPU (jaxlib of this session); chunks of 1024 keys never did.
    run = jax.jit(jax.vmap(one))
    chunks = [run(jax.vmap(jax.random.key)(jnp.arange(lo, lo + 1024))) for lo in range(0, n, 1024)]
    return np.concatenate([np.asarray(c, np.float64) for c in chunks])


def flat(tree) -> np.ndarray:
    return np.asarray(jax.flatten_util.ravel_pytree(tree)[0], np.float64)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lstm", "gru", "lstm2"])
def test_uoro_mean_over_draws_is_the_exact_gradient(case):
    train = Train(mode="uoro", loss="bce")
    model, params, data = random_setup(MODELS[case], train, seed=8)  # a reset in mid-batch
    draws = uoro_draws(params, data, model, train, DRAWS)
    exact = flat(oracle(params, data, model, train, reach=None)[0][-1])
    truncated = flat(oracle(params, data, model, train, reach=1)[0][-1])
    # the estimate along the part that crosses the boundary, per draw: a scalar with a CLT
    direction = (exact - truncated) / np.linalg.norm(exact - truncated)
    along = draws @ direction
    mean, se = along.mean(), along.std(ddof=1) / np.sqrt(DRAWS)
    assert abs(mean - exact @ direction) < 1.96 * se  # unbiased: inside the 95% interval
    assert abs(mean - truncated @ direction) > 4 * se  # and not the truncated gradient
    # every estimated coordinate (the head's gradient is exact, with no variance) inside a
    # family-wise 95% interval (Bonferroni over the coordinates)
    std = draws.std(0, ddof=1)
    noisy = std > 1e-4 * std.max()
    z = (draws.mean(0) - exact)[noisy] / (std[noisy] / np.sqrt(DRAWS))
    assert noisy.sum() >= model.recurrent_params() // 2
    assert np.abs(z).max() < NormalDist().inv_cdf(1 - 0.025 / noisy.sum())


def test_uoro_carries_the_exact_forward_state_and_resets_its_factors():
    train = Train(mode="uoro", loss="bce")
    model, params, data = random_setup(MODELS["gru2"], train, seed=9)
    data.reset[:, :, 0] = True  # every batch starts afresh: no history, so no estimate
    grads, states = run_mode(params, data, model, train)
    expected, expected_states = oracle(params, data, model, train, reach=None)
    assert_trees_close(states, expected_states, atol=1e-6)
    assert_trees_close(grads, expected, atol=1e-6)  # exact: nothing crosses a boundary


def test_uoro_same_seed_same_numbers_and_another_seed_other_signs():
    train = Train(mode="uoro", epochs=2)
    _, _, data = task_setup("prev-batch", train)
    model = Model(units=3)
    a = fit(data, model, train, seeds=[0, 1])
    b = fit(data, model, train, seeds=[0, 1])
    assert_trees_close(a.params, b.params, atol=0, rtol=0)
    # the same initial parameters with other signs: seed 0's run depends on its key's signs
    ka = modes.init_extra(train, a.model, a.params_of(0), 3, 4, jax.random.key(0)).key
    kb = modes.init_extra(train, a.model, a.params_of(0), 3, 4, jax.random.key(1)).key
    assert not np.array_equal(np.asarray(ka), np.asarray(kb))


# -- the interface: config, memory estimate and refusal ------------------------------------


@pytest.mark.parametrize("mode", ["uoro", "snap1"])
def test_online_modes_take_no_horizon(mode):
    with pytest.raises(ConfigError, match="already reach back"):
        Train(mode=mode, horizon=2)


@pytest.mark.parametrize("mode", ["uoro", "snap1"])
def test_memory_is_linear_in_params_not_state_times_params(mode):
    def estimate(units: int, m: str) -> int:
        model = Model(units=units, features=1, outputs=1)
        return rtrl.bytes_per_seed(model, 4, mode=m)

    # doubling the units: rtrl's memory grows ~8x (state x params), the others' ~4x (params)
    assert estimate(64, "rtrl") / estimate(32, "rtrl") > 7
    assert estimate(64, mode) / estimate(32, mode) < 4.5
    model = Model(units=32, features=1, outputs=1)
    per_stream = 2 * model.recurrent_params() if mode == "snap1" else (
        model.state_size() + model.recurrent_params()
    )
    assert rtrl.bytes_per_seed(model, 4, mode=mode) == 4 * 4 * per_stream * memory.ONLINE_COPIES


@pytest.mark.parametrize("mode", ["uoro", "snap1"])
def test_online_modes_refuse_what_does_not_fit_by_name(mode):
    model = Model(units=256, layers=2, features=1, outputs=1)
    with pytest.raises(TooLargeForRTRL, match=rf"{mode} needs about .* per seed .* it may use"):
        rtrl.seeds_that_fit(model, 4, budget=2**20, mode=mode)
    # where rtrl is refused, these fit
    budget = 4 * 2**30
    with pytest.raises(TooLargeForRTRL):
        rtrl.seeds_that_fit(model, 4, budget=budget)
    assert rtrl.seeds_that_fit(model, 4, budget=budget, mode=mode) >= 1
