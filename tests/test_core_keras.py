"""core.interop against Keras 3 (JAX backend): forward pass, carried and reset state, Adam steps,
exact round trips, and the errors for models that are not ours."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from statecarry.core import cells, engine, heads, modes
from statecarry.core.interop import from_keras, to_keras
from statecarry.core.spec import Model, Train
from statecarry.data.layout import from_samples
from statecarry.errors import InteropError

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.usefixtures("keras_broadcasts")

B, T, F, U = 4, 5, 2, 3
OUTPUTS = {"sigmoid": 1, "linear": 2, "softmax": 3}
KERAS_LOSS = {
    "bce": "binary_crossentropy",
    "mse": "mse",
    "cross-entropy": "sparse_categorical_crossentropy",
}

# The shapes the parity tests cover: a GRU, and stacks of both cells, across the heads.
MODELS = [
    Model("gru", U, 1, "sigmoid", F, 1),
    Model("lstm", U, 2, "linear", F, 2),
    Model("gru", U, 2, "softmax", F, 3),
]
IDS = [f"{m.cell}{m.layers}-{m.head}" for m in MODELS]


def model_of(cell="lstm", layers=1, head="sigmoid", features=F):
    return Model(cell, U, layers, head, features, OUTPUTS[head])


def random_params(model, seed=0):
    params = cells.init(jax.random.key(seed), model)
    rng = np.random.default_rng(seed)  # perturb the zero biases so every weight matters
    return jax.tree.map(
        lambda a: np.asarray(a) + 0.3 * rng.standard_normal(a.shape).astype(np.float32), params
    )


def windows(seed, n=2):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, (B, T, F)).astype(np.float32) for _ in range(n)]


def ours(params, model, state, x, reset=None):
    reset = jnp.zeros((B, T), bool) if reset is None else reset
    state, out = cells.forward(params, model, state, jnp.asarray(x), reset)
    return state, np.asarray(heads.prediction(out, model.head))  # softmax: Keras gives probs


def keras_state(keras_model):
    """The stateful Keras layers' carried state, one tuple per layer like ours."""
    return [tuple(np.asarray(v.value) for v in layer.states) for layer in keras_model.layers[:-1]]


def assert_same_state(state, keras_model):
    theirs = keras_state(keras_model)
    assert len(theirs) == len(state)
    for layer_ours, layer_theirs in zip(state, theirs):
        assert len(layer_ours) == len(layer_theirs)  # (h, c) or (h,)
        for a, b in zip(layer_ours, layer_theirs):
            np.testing.assert_allclose(np.asarray(a), b, atol=1e-5)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_outputs_and_every_layers_state_carry_over_two_batches(model):
    params = random_params(model, 1)
    km = to_keras(params, model, batch_size=B, time_steps=T, return_sequences=True)
    state = cells.zeros_state(model, B)
    for x in windows(1):
        state, pred = ours(params, model, state, x)
        np.testing.assert_allclose(np.asarray(km(x)), pred, atol=1e-5)
        assert_same_state(state, km)
    # the second batch really read the carried state
    _, fresh = ours(params, model, cells.zeros_state(model, B), x)
    assert np.abs(fresh - pred).max() > 1e-3


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_a_reset_matches_keras_reset_state(model):
    params = random_params(model, 2)
    km = to_keras(params, model, batch_size=B, time_steps=T)
    x1, x2 = windows(2)
    km(x1)
    for layer in km.layers[:-1]:
        layer.reset_state()
    after_reset = np.asarray(km(x2))
    # ours: a reset flag on the first step zeroes whatever state came in, in every layer
    carried, _ = ours(params, model, cells.zeros_state(model, B), x1)
    reset = jnp.zeros((B, T), bool).at[:, 0].set(True)
    state, pred = ours(params, model, carried, x2, reset)
    np.testing.assert_allclose(pred[:, -1], after_reset, atol=1e-5)
    assert_same_state(state, km)
    fresh = np.asarray(to_keras(params, model, batch_size=B, time_steps=T)(x2))
    np.testing.assert_allclose(after_reset, fresh, atol=1e-6)


def test_keras_predict_on_batch_does_not_carry_state_on_jax():
    """Pins Keras' behaviour (3.15, JAX backend): only a direct `model(x)` updates a stateful
    layer's state; `predict_on_batch` and `predict` run from it but never write it back."""
    model = model_of("lstm", 2)
    params = random_params(model, 3)
    km = to_keras(params, model, batch_size=B, time_steps=T)
    x1, x2 = windows(3)
    km.predict_on_batch(x1)
    assert all(np.all(s == 0) for layer in keras_state(km) for s in layer)
    _, fresh = ours(params, model, cells.zeros_state(model, B), x2)
    np.testing.assert_allclose(km.predict_on_batch(x2), fresh[:, -1], atol=1e-5)


ADAM_CASES = [(m, loss) for m, loss in zip(MODELS, ("bce", "mse", "cross-entropy"))]
ADAM_CASES.append((model_of("gru", 1, "sigmoid"), "mse"))


@pytest.mark.parametrize(
    "model, loss", ADAM_CASES, ids=[f"{m.cell}{m.layers}-{loss}" for m, loss in ADAM_CASES]
)
def test_three_adam_steps_match_keras_train_on_batch(model, loss):
    params = random_params(model, 4)
    km = to_keras(params, model, batch_size=B, time_steps=T, stateful=False)
    km.compile(optimizer=keras.optimizers.Adam(), loss=KERAS_LOSS[loss])
    rng = np.random.default_rng(5)
    train = Train(mode="stateless", loss=loss)
    optimizer = engine.make_optimizer(train)

    @jax.jit  # one compile for the three steps, as Keras' train_on_batch has
    def update(params, opt_state, batch):
        grads, _ = jax.grad(modes.batch_loss, has_aux=True)(
            params, cells.zeros_state(model, B), batch, model, train
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    ours_params, opt_state = params, optimizer.init(params)
    for x in windows(5, 3):
        if model.head == "softmax":  # a class index per sample
            y = rng.integers(0, model.outputs, (B, 1))
        else:
            y = rng.integers(0, 2, (B, model.outputs)).astype(np.float32)
        km.train_on_batch(x, y)
        batch = jax.tree.map(jnp.asarray, from_samples(x, y, B))
        batch = engine.with_mode_resets(batch, train, start_of_pass=True)
        batch = jax.tree.map(lambda a: a[0], batch)  # the one batch
        ours_params, opt_state = update(ours_params, opt_state, batch)
    _, theirs = from_keras(km)
    moved = 0.0
    for path, a in jax.tree_util.tree_leaves_with_path(ours_params):
        layer, name = (p.key for p in path)
        np.testing.assert_allclose(a, theirs[layer][name], atol=1e-5, err_msg=f"{layer}/{name}")
        moved = max(moved, float(np.abs(np.asarray(a) - params[layer][name]).max()))
    assert moved > 1e-4  # the steps moved the weights by much more than the tolerance


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("head", ["sigmoid", "linear", "softmax"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_round_trip_is_exact(cell, head, layers):
    model = model_of(cell, layers, head)
    params = random_params(model)
    back_model, back = from_keras(to_keras(params, model, batch_size=B))
    assert back_model == model
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_a_model_built_in_keras_reads_into_our_forward_pass():
    km = keras.Sequential(
        [
            keras.Input(batch_shape=(None, T, F)),
            keras.layers.GRU(U, return_sequences=True),
            keras.layers.GRU(U),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model, params = from_keras(km)
    assert model == Model("gru", U, 2, "sigmoid", F, 1)
    (x,) = windows(6, 1)
    _, pred = ours(params, model, cells.zeros_state(model, B), x)
    np.testing.assert_allclose(pred[:, -1], np.asarray(km(x)), atol=1e-5)


def test_features_and_outputs_are_read_from_params_when_unset():
    model = model_of("gru", 2, "linear")
    km = to_keras(random_params(model), model.replace(features=None, outputs=None), B)
    assert from_keras(km)[0] == model


def built(*layers):
    return keras.Sequential([keras.Input(batch_shape=(B, T, F)), *layers])


def sig(units=1):
    return keras.layers.Dense(units, activation="sigmoid")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: built(keras.layers.SimpleRNN(U), sig()), r"one kind .*got \[SimpleRNN, Dense\]"),
        (
            lambda: built(keras.layers.LSTM(U, return_sequences=True), keras.layers.GRU(U), sig()),
            r"got \[LSTM, GRU, Dense\]",
        ),
        (lambda: built(keras.layers.LSTM(U)), r"got \[LSTM\]"),
        (lambda: built(keras.layers.LSTM(U), keras.layers.Dense(1, activation="relu")), "'relu'"),
        (lambda: built(keras.layers.GRU(U, activation="relu"), sig()), "activation='relu'"),
        (lambda: built(keras.layers.GRU(U, reset_after=False), sig()), "reset_after=True"),
        (lambda: built(keras.layers.LSTM(U, use_bias=False), sig()), "no bias"),
        (lambda: built(keras.layers.GRU(U, go_backwards=True), sig()), "go_backwards=False"),
        (
            lambda: built(keras.layers.LSTM(U, return_sequences=True), keras.layers.LSTM(4), sig()),
            r"different sizes \[3, 4\]",
        ),
        (
            lambda: built(keras.layers.LSTM(U), keras.layers.Dense(1, activation="softmax")),
            "at least 2 classes",
        ),
    ],
)
def test_a_model_that_is_not_ours_raises_interop_error(make, match):
    with pytest.raises(InteropError, match=match):
        from_keras(make())


def test_a_keras_model_unlike_the_one_it_replaces_raises_interop_error():
    model = model_of("gru", 1, features=2)
    km = to_keras(random_params(model), model, batch_size=B)
    with pytest.raises(InteropError, match=r"features 2 \(expected 1\)"):
        from_keras(km, like=model.replace(features=1))
    with pytest.raises(
        InteropError, match=r"cell 'gru' \(expected 'lstm'\), layers 1 \(expected 2"
    ):
        from_keras(km, like=model.replace(cell="lstm", layers=2))
    assert from_keras(km, like=model.replace(features=None, outputs=None))[0] == model


def test_params_that_do_not_fit_the_model_raise_interop_error():
    model = model_of("lstm", 2)
    bad = random_params(model)
    bad["lstm_1"]["recurrent_kernel"] = bad["lstm_1"]["recurrent_kernel"][:, :8]
    with pytest.raises(InteropError, match=r"lstm_1/recurrent_kernel has shape \(3, 8\)"):
        to_keras(bad, model, batch_size=B)
    with pytest.raises(InteropError, match="params must hold lstm, lstm_1, dense"):
        to_keras(random_params(model_of("lstm", 1)), model, batch_size=B)
    gru = model_of("gru", 2)
    with pytest.raises(InteropError, match=r"gru/kernel has shape \(2, 12\)"):
        to_keras(random_params(model) | {"gru": bad["lstm"], "gru_1": bad["lstm"]}, gru, B)


def test_a_stateful_keras_model_needs_a_batch_size():
    model = model_of()
    with pytest.raises(InteropError, match="fixed batch size; pass batch_size"):
        to_keras(random_params(model), model)
    assert not to_keras(random_params(model), model, stateful=False).layers[0].stateful


def test_missing_keras_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # `import keras` now raises ImportError
    model = model_of()
    with pytest.raises(InteropError, match=r"pip install 'statecarry\[test\]'.*KERAS_BACKEND=jax"):
        to_keras(random_params(model), model, batch_size=B)


@pytest.mark.parametrize(
    "options",
    [dict(stateful=False), dict(batch_size=2, time_steps=5, stateful=True, return_sequences=True)],
    ids=["last-step-only", "stateful-batch-2"],
)
def test_import_checks_a_keras_file_on_its_own_terms(tmp_path, options):
    """`import` compares the two on a random batch before writing: a Keras model that returns
    only the last step (Keras' default) is compared there, and a stateful one at its own batch
    size and steps (both once crashed the comparison with a traceback)."""
    from statecarry.core.checkpoint import load
    from statecarry.core.keras_files import import_keras

    model = model_of("lstm", 2, features=2)
    params = random_params(model)
    to_keras(params, model, **options).save(tmp_path / "m.keras")
    assert import_keras(tmp_path / "m.keras", tmp_path / "m.safetensors") < 1e-5
    back, back_params = load(tmp_path / "m.safetensors")
    assert back == model
    for a, b in zip(jax.tree.leaves(back_params), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)


def test_import_like_refuses_other_sizes_for_a_model_saved_from_python(tmp_path):
    from statecarry.core.checkpoint import save
    from statecarry.core.keras_files import import_keras

    model = model_of("lstm", 1, features=2)
    to_keras(random_params(model), model, stateful=False, return_sequences=True).save(tmp_path / "m.keras")
    other = model.replace(units=U + 1)
    save(tmp_path / "other.safetensors", other, random_params(other))  # no table columns or scaling
    with pytest.raises(InteropError, match=rf"units {U} \(expected {U + 1}\)"):
        import_keras(tmp_path / "m.keras", tmp_path / "out.safetensors", like=tmp_path / "other.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_to_keras_without_a_model_says_to_pass_it():
    model = model_of("lstm", 1)
    with pytest.raises(InteropError, match="to_keras takes the statecarry Model the params were trained as, got NoneType"):
        to_keras(random_params(model), None, batch_size=1)
