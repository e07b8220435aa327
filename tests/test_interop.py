"""Keras interop: params -> Keras -> params is exact, and both models compute the same thing."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry import model
from statecarry.errors import InteropError
from statecarry.interop import from_keras, to_keras

keras = pytest.importorskip("keras")

B, T, F, U = 4, 5, 1, 3


pytestmark = pytest.mark.usefixtures("keras_broadcasts")


def random_params(seed=0, features=F, outputs=1):
    params = model.init(jax.random.key(seed), features, U, outputs)
    rng = np.random.default_rng(seed)  # perturb the zero biases so every weight matters
    return jax.tree.map(lambda a: a + 0.3 * rng.standard_normal(a.shape).astype(np.float32), params)


def ours(params, state, x):
    return model.forward(params, state, jnp.asarray(x), jnp.zeros(x.shape[:2], bool))


def test_round_trip_is_exact():
    params = random_params(features=2, outputs=3)
    back = from_keras(to_keras(params, batch_size=B))
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, np.asarray(b))


def test_outputs_and_carried_state_agree_over_two_batches():
    params = random_params(1)
    m = to_keras(params, batch_size=B, time_steps=T, stateful=True, return_sequences=True)
    rng = np.random.default_rng(1)
    state = model.zeros_state(B, U)
    for _ in range(2):
        x = rng.uniform(0, 1, (B, T, F)).astype(np.float32)
        state, pred = ours(params, state, x)
        np.testing.assert_allclose(np.asarray(m(x)), pred, atol=1e-5)
        h, c = (np.asarray(v.value) for v in m.layers[0].states)
        np.testing.assert_allclose(h, state.h, atol=1e-5)
        np.testing.assert_allclose(c, state.c, atol=1e-5)
    # the second batch really read the carried state
    _, fresh = ours(params, model.zeros_state(B, U), x)
    assert np.abs(np.asarray(fresh) - pred).max() > 1e-3


def test_a_model_built_in_keras_reads_into_our_forward_pass():
    m = keras.Sequential(
        [
            keras.Input(batch_shape=(None, T, 2)),
            keras.layers.LSTM(U),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    params = from_keras(m)
    x = np.random.default_rng(2).uniform(0, 1, (3, T, 2)).astype(np.float32)
    _, pred = ours(params, model.zeros_state(3, U), x)
    np.testing.assert_allclose(pred[:, -1], np.asarray(m(x)), atol=1e-5)


def keras_model(*layers, features=F):
    return keras.Sequential([keras.Input(batch_shape=(B, T, features)), *layers])


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: keras_model(keras.layers.GRU(U), keras.layers.Dense(1, activation="sigmoid")),
            r"\[GRU, Dense\]",
        ),
        (lambda: keras_model(keras.layers.LSTM(U)), r"exactly LSTM then Dense, got \[LSTM\]"),
        (lambda: keras_model(keras.layers.LSTM(U), keras.layers.Dense(1)), "activation='linear'"),
        (
            lambda: keras_model(
                keras.layers.LSTM(U, activation="relu"), keras.layers.Dense(1, activation="sigmoid")
            ),
            "activation='relu'",
        ),
        (
            lambda: keras_model(
                keras.layers.LSTM(U, use_bias=False), keras.layers.Dense(1, activation="sigmoid")
            ),
            "no bias",
        ),
    ],
)
def test_a_model_that_is_not_ours_raises_interop_error(make, match):
    with pytest.raises(InteropError, match=match):
        from_keras(make())


def test_mismatched_shapes_raise_interop_error():
    m = to_keras(random_params(features=2), batch_size=B)
    with pytest.raises(InteropError, match=r"features 2 \(expected 1\)"):
        from_keras(m, like=random_params())
    bad = random_params()
    bad["lstm"]["recurrent_kernel"] = bad["lstm"]["recurrent_kernel"][:, :8]
    with pytest.raises(InteropError, match=r"lstm/recurrent_kernel has shape \(3, 8\)"):
        to_keras(bad, batch_size=B)
    with pytest.raises(InteropError, match="params must be"):
        to_keras({"lstm": {}}, batch_size=B)


def test_missing_keras_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # `import keras` now raises ImportError
    with pytest.raises(InteropError, match=r"pip install 'statecarry\[test\]'.*KERAS_BACKEND=jax"):
        to_keras(random_params(), batch_size=B)
