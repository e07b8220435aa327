"""Parity with Keras 3 (JAX backend): forward pass, carried state, reset, and Adam steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry.core import cells, engine
from statecarry.core.spec import Model, Train
from statecarry.data.layout import from_samples

keras = pytest.importorskip("keras")

B, T, F, U = 4, 5, 1, 3
MODEL = Model(cell="lstm", units=U, layers=1, head="sigmoid", features=F, outputs=1)  # the blog's


pytestmark = pytest.mark.usefixtures("keras_broadcasts")


def keras_model(params, stateful=True):
    m = keras.Sequential(
        [
            keras.Input(batch_shape=(B, T, F)),
            keras.layers.LSTM(U, stateful=stateful),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    m.layers[0].set_weights([np.asarray(params["lstm"][k]) for k in ("kernel", "recurrent_kernel", "bias")])
    m.layers[1].set_weights([np.asarray(params["dense"][k]) for k in ("kernel", "bias")])
    return m


def random_params(seed=0):
    params = cells.init(jax.random.key(seed), MODEL)
    # Perturb the zero biases so every weight matters in the comparison.
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: a + 0.3 * rng.standard_normal(a.shape).astype(np.float32), params)


def batches_of(rng, n=2):
    return [rng.integers(0, 2, (B, T, F)).astype(np.float32) for _ in range(n)]


def no_reset():
    return jnp.zeros((B, T), bool)


_forward = jax.jit(cells.forward, static_argnums=1)


def forward(params, state, x, reset):
    return _forward(params, MODEL, state, jnp.asarray(x), reset)


def test_forward_and_carried_state_match_keras_stateful_over_two_batches():
    params = random_params()
    m = keras_model(params)
    x1, x2 = batches_of(np.random.default_rng(1))
    state = cells.zeros_state(MODEL, B)
    for x in (x1, x2):
        state, pred = forward(params, state, x, no_reset())
        keras_out = np.asarray(m(x))
        np.testing.assert_allclose(pred[:, -1], keras_out, atol=1e-5)
        h, c = (np.asarray(v.value) for v in m.layers[0].states)
        (lstm,) = state  # one layer, its state in Keras' order (h, c)
        np.testing.assert_allclose(lstm.h, h, atol=1e-5)
        np.testing.assert_allclose(lstm.c, c, atol=1e-5)
    # The second batch really depended on the carried state (else the test proves little).
    _, fresh = forward(params, cells.zeros_state(MODEL, B), x2, no_reset())
    assert np.abs(np.asarray(fresh[:, -1]) - keras_out).max() > 1e-3


def test_state_after_reset_matches_a_fresh_keras_model():
    params = random_params(2)
    m = keras_model(params)
    x1, x2 = batches_of(np.random.default_rng(3))
    m(x1)
    m.layers[0].reset_state()
    after_reset = np.asarray(m(x2))
    fresh = np.asarray(keras_model(params)(x2))
    np.testing.assert_allclose(after_reset, fresh, atol=1e-6)
    # ours: a reset flag on the first step zeroes whatever state came in
    carried, _ = forward(params, cells.zeros_state(MODEL, B), x1, no_reset())
    reset = jnp.zeros((B, T), bool).at[:, 0].set(True)
    _, pred = forward(params, carried, x2, reset)
    np.testing.assert_allclose(pred[:, -1], fresh, atol=1e-5)


@pytest.mark.parametrize("steps", [1, 3])
def test_adam_steps_match_keras_fit_from_identical_weights(steps):
    params = random_params(4)
    m = keras_model(params, stateful=False)
    m.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    rng = np.random.default_rng(5)
    xs = [rng.integers(0, 2, (B, T, F)).astype(np.float32) for _ in range(steps)]
    ys = [rng.integers(0, 2, (B, 1)).astype(np.float32) for _ in range(steps)]
    for x, y in zip(xs, ys):
        m.train_on_batch(x, y)

    train = Train(mode="stateless", loss="mse")  # Keras' Adam defaults
    carry = engine.Carry(params, engine.make_optimizer(train).init(params), cells.zeros_state(MODEL, B), ())
    data = from_samples(np.concatenate(xs), np.concatenate(ys), B)
    data = engine.with_mode_resets(jax.tree.map(jnp.asarray, data), train, start_of_pass=True)
    carry, _ = jax.jit(engine.train_epoch, static_argnums=(2, 3))(carry, data, MODEL, train)
    ours = [carry.params["lstm"][k] for k in ("kernel", "recurrent_kernel", "bias")]
    ours += [carry.params["dense"][k] for k in ("kernel", "bias")]
    theirs = [v for layer in m.layers for v in layer.get_weights()]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # the step moved the weights by much more than the tolerance
    assert max(np.abs(np.asarray(a) - np.asarray(b0)).max() for a, b0 in zip(ours, jax.tree.leaves(params))) > 1e-4
