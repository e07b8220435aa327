"""Inference at any batch size: step-by-step predictions equal the batched forward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry import engine, model
from statecarry.config import Config
from statecarry.data.layout import from_series
from statecarry.errors import DataError
from statecarry.predict import Predictor

TRAIN_BATCH, T, U = 4, 5, 3


@pytest.fixture(scope="module")
def params():
    """Trained with batch_size 4 (stateful, next-value targets on a sine), as a user would."""
    config = Config(batch_size=TRAIN_BATCH, time_steps=T, units=U, epochs=2)
    series = 0.5 + 0.4 * np.sin(np.arange(400) / 6.0)
    batches = jax.tree.map(jnp.asarray, from_series(series, TRAIN_BATCH, T))
    batches = engine.with_mode_resets(batches, config, start_of_pass=True)
    carry = engine.init_carry(jax.random.key(0), config, TRAIN_BATCH)
    epoch = jax.jit(engine.train_epoch, static_argnames="config")
    for _ in range(config.epochs):
        carry, _ = epoch(carry, batches, config=config)
    return carry.params


def forward(params, x, reset):
    """The batched oracle: one call over the whole (batch, time, features) block."""
    state = model.zeros_state(x.shape[0], U)
    _, pred = model.forward(params, state, jnp.asarray(x), jnp.asarray(reset))
    return np.asarray(pred)


@pytest.mark.parametrize("batch_size", [1, 3, 7])
def test_step_by_step_equals_the_batched_forward_pass_at_any_batch_size(params, batch_size):
    rng = np.random.default_rng(batch_size)
    x = rng.uniform(0, 1, (batch_size, 12, 1)).astype(np.float32)
    predictor = Predictor(params)
    state = predictor.init_state(batch_size)
    steps = []
    for t in range(x.shape[1]):
        state, y = predictor.step(state, x[:, t])
        steps.append(np.asarray(y))
    want = forward(params, x, np.zeros(x.shape[:2], bool))
    np.testing.assert_allclose(np.stack(steps, axis=1), want, atol=1e-6)


def test_resetting_rows_equals_forward_with_those_resets(params):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 10, 1)).astype(np.float32)
    reset = np.zeros((3, 10), bool)
    reset[0, 4] = reset[2, 4] = reset[1, 7] = True
    predictor = Predictor(params)
    state, steps = predictor.init_state(3), []
    for t in range(10):
        if reset[:, t].any():  # a bool mask at step 4, row indices at step 7
            state = predictor.reset(state, reset[:, t] if t == 4 else np.flatnonzero(reset[:, t]))
        state, y = predictor.step(state, x[:, t])
        steps.append(np.asarray(y))
    got = np.stack(steps, axis=1)
    np.testing.assert_allclose(got, forward(params, x, reset), atol=1e-6)
    # and the resets mattered: without them row 0 differs after step 4
    assert np.abs(got - forward(params, x, np.zeros_like(reset)))[0, 4:].max() > 1e-4


def test_rows_are_independent_of_the_batch_they_run_in(params):
    x = np.random.default_rng(1).uniform(0, 1, (5, 8, 1)).astype(np.float32)
    predictor = Predictor(params)
    wide, alone = predictor.init_state(5), predictor.init_state(1)
    for t in range(8):
        wide, y_wide = predictor.step(wide, x[:, t])
        alone, y_alone = predictor.step(alone, x[3:4, t])
        np.testing.assert_allclose(y_wide[3:4], y_alone, atol=1e-6)


def test_stream_feeds_one_value_at_a_time(params):
    series = 0.5 + 0.4 * np.sin(np.arange(30) / 6.0)
    predictor = Predictor(params)
    got = np.stack(list(predictor.stream(iter(series.tolist()))))
    want = forward(params, series[None, :, None].astype(np.float32), np.zeros((1, 30), bool))[0]
    np.testing.assert_allclose(got, want, atol=1e-6)
    # continuing from a warmed-up state equals one unbroken stream
    state = predictor.init_state(1)
    for value in series[:10]:
        state, _ = predictor.step(state, [value])
    rest = np.stack(list(predictor.stream(series[10:], state=state)))
    np.testing.assert_allclose(rest, want[10:], atol=1e-6)


def test_bad_inference_input_raises_data_error(params):
    predictor = Predictor(params)
    state = predictor.init_state(3)
    with pytest.raises(DataError, match=r"\(batch, features\) = \(3, 1\)"):
        predictor.step(state, np.zeros((2, 1)))
    with pytest.raises(DataError, match="indices from 0 to 2"):
        predictor.reset(state, [3])
    with pytest.raises(DataError, match="one entry per row"):
        predictor.reset(state, np.array([True, False]))
    with pytest.raises(DataError, match="positive"):
        predictor.init_state(0)
    with pytest.raises(DataError, match="one stream"):
        next(predictor.stream([0.1], state=state))
