"""Token inputs (`Model(inputs="tokens")`): one id per step, read as the one-hot row of the
first kernel. The oracle is the same model fed the one-hot vectors (the engine's product path,
itself checked against Keras in test_core_keras.py), and Keras' own Embedding for interop."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statecarry as sc
from statecarry.core import cells, checkpoint, interop
from statecarry.data.layout import Batches, from_series
from statecarry.errors import ConfigError, DataError, InteropError

V = 7  # tokens
EYE = np.eye(V, dtype=np.float32)


def ids_batches(seed: int = 0, length: int = 1200, batch: int = 4, steps: int = 12) -> Batches:
    ids = np.random.default_rng(seed).integers(0, V, length)
    return from_series(ids[:, None].astype(np.float32), batch, steps, tail="drop")


def one_hot(b: Batches) -> Batches:
    return b._replace(x=EYE[np.asarray(b.x)[..., 0].astype(int)])


def test_lookup_is_the_one_hot_product_with_and_without_lanes():
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(V, 12)).astype(np.float32))
    for i in range(V):
        x = jnp.asarray([float(i)])
        np.testing.assert_array_equal(cells.lookup(x, w), EYE[i] @ w)
    lanes = jnp.asarray(rng.normal(size=(V, 12, 5)).astype(np.float32))
    ids = np.array([0, 6, 3, 3, 1])
    got = cells.lookup(jnp.asarray(ids, jnp.float32)[None], lanes)
    want = np.einsum("nl,nml->ml", EYE[ids].T, np.asarray(lanes))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(cells.lookup(jnp.asarray([2.0]), lanes), lanes[2])  # one id, every lane


MODES = [
    sc.Train(epochs=2),
    sc.Train(epochs=2, mode="stateless"),
    sc.Train(epochs=2, horizon=3),
    sc.Train(epochs=1, mode="rtrl"),
    sc.Train(epochs=1, mode="snap1"),
    sc.Train(epochs=1, mode="uoro"),
]


@pytest.mark.parametrize(
    "cell, train",
    [("lstm", MODES[0]), ("gru", MODES[0]), ("gru", MODES[1]), ("lstm", MODES[2]), ("lstm", MODES[3]),
     ("gru", MODES[4]), ("gru", MODES[5])],  # fmt: skip
    ids=lambda v: v if isinstance(v, str) else f"{v.mode}-h{v.horizon}",
)
def test_fit_on_ids_equals_fit_on_one_hot_vectors(cell, train):
    layers = 2 if train.mode == "stateful" else 1
    model = sc.Model(cell=cell, units=6, layers=layers, head="softmax")
    data, test = ids_batches(0), ids_batches(1, length=400)
    vectors = sc.fit(one_hot(data), model, train, seeds=[0, 3], test=one_hot(test))
    tokens = sc.fit(data, model.replace(inputs="tokens"), train, seeds=[0, 3], test=test)
    assert tokens.model.features == V and tokens.model.tokens
    for key in ("train_loss", "test_loss", "test_acc"):
        np.testing.assert_allclose(tokens.metrics[key], vectors.metrics[key], rtol=2e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(tokens.params_of(3)), jax.tree.leaves(vectors.params_of(3))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("train", [MODES[0], MODES[2]], ids=lambda t: f"{t.mode}-h{t.horizon}")
def test_each_seed_reads_its_own_ids_in_the_lanes(train):
    """Data made per seed: in the lanes layout each lane looks up its own seed's ids."""
    model = sc.Model(units=4, head="softmax", features=V, outputs=V)
    vectors = sc.fit(lambda s: one_hot(ids_batches(s)), model, train, seeds=range(5))
    tokens = sc.fit(ids_batches, model.replace(inputs="tokens"), train, seeds=range(5))
    np.testing.assert_allclose(tokens.metrics["train_loss"], vectors.metrics["train_loss"], rtol=2e-5)
    assert len(set(np.round(tokens.metrics["train_loss"][-1], 5))) == 5  # the seeds' data differ


def test_the_vocabulary_comes_from_the_data_or_the_model():
    data = ids_batches()
    test = data._replace(x=np.where(np.asarray(data.x) == 0, V + 2, data.x).astype(np.float32))
    fitted = sc.fit(data, sc.Model(units=3, head="softmax", inputs="tokens"), sc.Train(epochs=1), test=test)
    assert fitted.model.features == V + 3  # the largest id in train or test, plus one
    wide = sc.fit(data, sc.Model(units=3, head="softmax", inputs="tokens", features=50), sc.Train(epochs=1))
    assert wide.params_of(0)["lstm"]["kernel"].shape == (50, 12)
    seeds = [ids_batches(s) for s in range(3)]
    seeds[2] = seeds[2]._replace(x=seeds[2].x + 4)  # only seed 2 holds ids 7 to 10
    stacked = Batches(*(np.stack(f) for f in zip(*seeds)))
    every = sc.fit(stacked, sc.Model(units=3, head="softmax", inputs="tokens"), sc.Train(epochs=1), seeds=3)
    assert every.model.features == V + 4  # every seed's data, not the first seed's
    with pytest.raises(DataError, match=r"token id \d+ at \(2, .*give Model\(features=\.\.\.\)"):
        sc.fit(lambda s: seeds[s], sc.Model(units=3, head="softmax", inputs="tokens"), sc.Train(epochs=1), seeds=3)
    zeros = data._replace(x=np.zeros_like(data.x))
    assert sc.fit(zeros, sc.Model(units=3, head="softmax", inputs="tokens"), sc.Train(epochs=1)).model.features == 2


@pytest.mark.parametrize(
    "x, words",
    [
        (lambda x: np.concatenate([x, x], -1), "one token id per step, but x has 2 columns"),
        (lambda x: x - 1, "token id -1"),
        (lambda x: x + 0.5, ".5 at (0, 0, 0, 0); token ids are whole numbers from 0 to 6."),
        (lambda x: x + 10, f"past the model's {V} tokens (0 to {V - 1}); give Model(features=...)"),
    ],
)
def test_ids_that_do_not_fit_get_one_sentence(x, words):
    data = ids_batches()
    bad = data._replace(x=x(np.asarray(data.x)).astype(np.float32))
    model = sc.Model(units=3, head="softmax", inputs="tokens", features=V)
    with pytest.raises(DataError, match=re.escape(words)):
        sc.fit(bad, model, sc.Train(epochs=1))


def test_model_checks_its_inputs():
    with pytest.raises(ConfigError, match="unknown inputs 'ids'; choose one of values, tokens"):
        sc.Model(inputs="ids")
    for features in (1, 2**24 + 1):
        with pytest.raises(ConfigError, match="a model on tokens reads 2 to 16,777,216 of them"):
            sc.Model(inputs="tokens", features=features)
    assert sc.Model(inputs="tokens", features=9).input_width == 1
    assert sc.Model(features=9).input_width == 9


def test_predict_and_a_predictor_at_another_batch_size_match_the_vectors():
    model = sc.Model(units=5, head="softmax", inputs="tokens")
    fit = sc.fit(ids_batches(), model, sc.Train(epochs=1))
    params, tokens = fit.params_of(0), fit.model
    vectors = tokens.replace(inputs="values")
    x = ids_batches(2, batch=3).x[:2]  # batch 3, not the 4 it was trained at
    ours, state = sc.predict(params, x, tokens)
    theirs, _ = sc.predict(params, EYE[np.asarray(x)[..., 0].astype(int)], vectors)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    predictor = sc.Predictor(params, tokens)
    s = predictor.init_state(3)
    for t in range(x.shape[2]):
        s, y = predictor.step(s, np.asarray(x)[0, :, t, 0])  # (batch,) ids
    np.testing.assert_allclose(y, ours[0, :, -1], rtol=1e-5, atol=1e-7)
    with pytest.raises(DataError, match="token id 9 at .*; a trained model has a row only for the ids it was trained with"):
        predictor.step(s, np.array([1.0, 9.0, 2.0]))
    with pytest.raises(DataError, match=r"x must be \(batch,\) token ids: this model reads one id per step, got shape \(3, 7\)"):
        predictor.step(s, EYE[[1, 2, 3]])
    for ambiguous in (np.asarray(x)[0, 0], EYE[[1, 2, 3]]):  # a column of ids; one-hot rows
        with pytest.raises(DataError, match=re.escape("one stream of ids (time,) is x[None, :, None], a (batch, time) array of them x[..., None]")):
            sc.predict(params, ambiguous, tokens)  # (time, 1) and (time, 7) read as (batch, time) would be wrong
    for call in (lambda: sc.predict(params, x), lambda: sc.Predictor(params).step(s, np.array([1.0, 2, 3])),
                 lambda: sc.evaluate(params, ids_batches(2, batch=3))):  # fmt: skip
        with pytest.raises(DataError, match="a model on token ids: pass its Model, inputs='tokens'"):
            call()  # the params alone look like a model on 7 values
    with pytest.raises(DataError, match="this model reads token ids"):
        sc.rollout(params, np.zeros((4, 1)), 3, tokens)


def test_save_and_load_keep_the_inputs_and_older_readers_are_told(tmp_path):
    import json

    import safetensors

    fit = sc.fit(ids_batches(), sc.Model(units=3, head="softmax", inputs="tokens"), sc.Train(epochs=1))
    checkpoint.save(tmp_path / "m.safetensors", fit.model, fit.params_of(0))
    model, params = checkpoint.load(tmp_path / "m.safetensors")
    assert model == fit.model and model.inputs == "tokens"
    values = fit.model.replace(inputs="values")
    checkpoint.save(tmp_path / "v.safetensors", values, fit.params_of(0))
    for name, version, has_inputs in (("m", "2", True), ("v", "1", False)):
        with safetensors.safe_open(tmp_path / f"{name}.safetensors", "numpy") as f:
            meta = f.metadata()
        # a statecarry that reads format 1 only says "upgrade" for ids and reads values as before
        assert meta["format_version"] == version and ("inputs" in json.loads(meta["model"])) == has_inputs


def test_memory_estimate_counts_one_number_per_step():
    from statecarry.core.memory import DATA_COPIES, estimate

    shapes = dict(batch_size=32, time_steps=64, n_batches=100, test_batches=4)
    onehot = estimate(sc.Model(units=8, head="softmax", features=96, outputs=96), sc.Train(), **shapes)
    tokens = estimate(sc.Model(units=8, head="softmax", features=96, outputs=96, inputs="tokens"), sc.Train(), **shapes)
    fewer = 4 * (96 - 1) * 32 * 64 * 104  # 95 fewer float32 per step of train and test data
    assert onehot.total(1, 1) - tokens.total(1, 1) == fewer * DATA_COPIES
    unknown = estimate(sc.Model(units=8, head="softmax", outputs=96, inputs="tokens"), sc.Train(), **shapes)
    assert unknown.total(1, 1) < tokens.total(1, 1)  # the vocabulary not yet read: guessed as 1 input


keras = pytest.importorskip("keras")


@pytest.mark.parametrize("cell, units, table", [("gru", 4, (V, V)), ("lstm", 1, (V, 4))])
def test_keras_reads_ids_through_an_embedding_and_back(keras_broadcasts, cell, units, table):
    """7 tokens, 12 kernel columns: a frozen identity table; 7 tokens, 4 columns: the kernel
    is the table (never tokens squared: a word vocabulary would not fit)."""
    model = sc.Model(cell=cell, units=units, layers=2, head="softmax", inputs="tokens")
    fit = sc.fit(ids_batches(), model, sc.Train(epochs=1))
    params, model = fit.params_of(0), fit.model
    keras_model = interop.to_keras(params, model, stateful=False, return_sequences=True)
    embedding = keras_model.layers[0]
    assert np.shape(embedding.get_weights()[0]) == table and embedding.trainable == (table[1] < V)
    x = ids_batches(3).x[0]
    ours, _ = sc.predict(params, x, model)
    theirs = keras_model.predict(np.asarray(x)[..., 0].astype(np.int32), verbose=0)
    np.testing.assert_allclose(ours[0], theirs, rtol=1e-4, atol=1e-6)
    back, back_params = interop.from_keras(keras_model)
    assert back == model
    for a, b in zip(jax.tree.leaves(back_params), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)  # the table times the kernel, one of them the identity


def test_a_learned_keras_embedding_folds_into_the_first_kernel(keras_broadcasts):
    keras_model = keras.Sequential([
        keras.Input(batch_shape=(None, None), dtype="int32"),
        keras.layers.Embedding(V, 5),
        keras.layers.LSTM(6, return_sequences=True),
        keras.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model, params = interop.from_keras(keras_model)
    assert (model.inputs, model.features, params["lstm"]["kernel"].shape) == ("tokens", V, (V, 24))
    x = ids_batches(4).x[0]
    ours, _ = sc.predict(params, x, model)
    theirs = keras_model.predict(np.asarray(x)[..., 0].astype(np.int32), verbose=0)
    np.testing.assert_allclose(ours[0], theirs, rtol=1e-4, atol=1e-6)
    masked = keras.Sequential([keras.Input(shape=(None,), dtype="int32"), keras.layers.Embedding(V, 5, mask_zero=True),
                               keras.layers.LSTM(6), keras.layers.Dense(1, activation="sigmoid")])  # fmt: skip
    with pytest.raises(InteropError, match="mask_zero=True, which skips steps with id 0"):
        interop.from_keras(masked)
