"""Inference at any batch size: step-by-step predictions equal the batched forward pass, and
batched `predict` equals both, across batches and across calls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry.core import cells, engine
from statecarry.core.fit import fit
from statecarry.core.predict import Predictor, predict
from statecarry.core.spec import Model, Train
from statecarry.data.layout import Batches, from_series, to_streams
from statecarry.errors import DataError

TRAIN_BATCH, T, U = 4, 5, 3
MODEL = Model(cell="lstm", units=U, layers=1, head="sigmoid", features=1, outputs=1)
# Two GRU layers and a softmax head: a state of two layers, probabilities from logits.
GRU = Model(cell="gru", units=3, layers=2, head="softmax", features=2, outputs=3)


def sine(n):
    return 0.5 + 0.4 * np.sin(np.arange(n) / 6.0)


@pytest.fixture(scope="module")
def params():
    """Trained with batch_size 4 (stateful, next-value targets on a sine), as a user would."""
    batches = from_series(sine(400), TRAIN_BATCH, T)
    result = fit(batches, Model(units=U), Train(epochs=2, loss="mse"), seeds=[0])
    assert result.model == MODEL and result.state[0].h.shape == (1, TRAIN_BATCH, U)
    return result.params_of(0)


_forward = jax.jit(cells.forward, static_argnums=1)


def forward(params, x, reset):
    """The batched oracle: one call over the whole (batch, time, features) block."""
    state = cells.zeros_state(MODEL, x.shape[0])
    _, pred = _forward(params, MODEL, state, jnp.asarray(x), jnp.asarray(reset))
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


@pytest.mark.parametrize("batch_size", [1, 7])
def test_a_model_trained_at_batch_4_predicts_at_any_batch_size(params, batch_size):
    """`predict` over several batches of a series at batch 1 or 7 equals one unbroken forward
    pass over each stream: the state crosses the batch boundaries, whatever the batch size."""
    batches = from_series(sine(300), batch_size, T, tail="drop")
    pred, state = predict(params, batches)
    assert pred.shape == batches.y.shape and state[0].h.shape == (batch_size, U)
    streams = to_streams(batches.x)
    want = forward(params, streams, np.zeros(streams.shape[:2], bool))
    np.testing.assert_allclose(to_streams(pred), want, atol=1e-6)
    # a bare (batch, time, features) array is one batch
    bare, _ = predict(params, streams)
    np.testing.assert_allclose(bare[0], want, atol=1e-6)
    # and the batches really carried state: each window alone from zeros differs
    alone = forward(params, batches.x.reshape((-1, T, 1)), np.zeros((batches.x.size // T, T), bool))
    assert np.abs(alone.reshape(pred.shape) - pred).max() > 1e-4


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
    series = sine(30)
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
    with pytest.raises(DataError, match=r"2 row\(s\) but the state has 3"):
        predictor.step(state, np.zeros((2, 1)))
    with pytest.raises(DataError, match="indices from 0 to 2"):
        predictor.reset(state, [3])
    with pytest.raises(DataError, match="one entry per row"):
        predictor.reset(state, np.array([True, False]))
    with pytest.raises(DataError, match="positive"):
        predictor.init_state(0)
    with pytest.raises(DataError, match="one stream"):
        next(predictor.stream([0.1], state=state))
    with pytest.raises(DataError, match="does not fit 2 rows"):
        predict(params, np.zeros((2, T, 1)), state=predictor.init_state(3))


# -- a stacked GRU: predict, Predictor and the engine's outputs agree ------------------------


@pytest.fixture(scope="module")
def gru():
    """Perturbed parameters (every bias matters) and 3 batches of 3 rows with mid-row resets."""
    params = cells.init(jax.random.key(5), GRU)
    rng = np.random.default_rng(5)
    params = jax.tree.map(lambda a: a + 0.3 * rng.standard_normal(a.shape).astype(np.float32), params)
    nb, b, t = 3, 3, 4
    reset = np.zeros((nb, b, t), bool)
    reset[0, 1, 2] = reset[1, 0, 0] = reset[2, 2, 3] = True
    x = rng.uniform(-1, 1, (nb, b, t, GRU.features)).astype(np.float32)
    zeros = np.zeros((nb, b, t), np.float32)
    batches = Batches(x, np.zeros((nb, b, t, 1), np.float32), reset, zeros, reset & False)
    return params, batches


def test_predict_on_a_stacked_gru_equals_stepping_the_predictor_and_the_engine(gru):
    params, batches = gru
    pred, state = predict(params, batches, GRU)
    nb, b, t = batches.reset.shape
    assert pred.shape == (nb, b, t, GRU.outputs) and len(state) == GRU.layers
    np.testing.assert_allclose(pred.sum(-1), 1.0, atol=1e-6)  # probabilities, not logits

    predictor = Predictor(params, GRU)
    stepped = predictor.init_state(b)
    for k in range(nb):
        for s in range(t):
            if batches.reset[k, :, s].any():
                stepped = predictor.reset(stepped, batches.reset[k, :, s])
            stepped, y = predictor.step(stepped, batches.x[k, :, s])
            np.testing.assert_allclose(pred[k, :, s], y, atol=1e-6)
    trees_close(state, stepped)

    after, logits = engine.outputs(params, jax.tree.map(jnp.asarray, batches), GRU, Train())
    np.testing.assert_allclose(pred, jax.nn.softmax(logits, axis=-1), atol=1e-6)
    trees_close(state, after)
    # the resets and the second layer both matter (else the comparisons prove little)
    no_resets, _ = predict(params, batches._replace(reset=np.zeros_like(batches.reset)), GRU)
    assert np.abs(no_resets - pred).max() > 1e-4
    one_layer = {"gru": params["gru"], "dense": {"kernel": params["dense"]["kernel"], "bias": params["dense"]["bias"]}}
    assert np.abs(predict(one_layer, batches, GRU.replace(layers=1))[0] - pred).max() > 1e-4


def test_a_state_returned_by_predict_continues_the_stream_as_one_long_call(gru):
    params, batches = gru
    whole, end = predict(params, batches, GRU)
    head = Batches(*(f[:1] for f in batches))
    tail = Batches(*(f[1:] for f in batches))
    first, middle = predict(params, head, GRU)
    rest, last = predict(params, tail, GRU, state=middle)
    np.testing.assert_allclose(np.concatenate([first, rest]), whole, rtol=0, atol=1e-6)
    trees_close(last, end)
    # without the state the second call starts from zeros, and differs
    fresh, _ = predict(params, tail, GRU)
    assert np.abs(fresh - whole[1:]).max() > 1e-4


def trees_close(a, b, atol=1e-6):
    assert jax.tree.structure(jax.tree.map(np.asarray, a)) == jax.tree.structure(jax.tree.map(np.asarray, b))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=atol)
