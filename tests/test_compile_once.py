"""Issue 10's speed paths keep the numbers: Adam's hyperparameters are data of one compiled
program (Keras' Adam is the oracle), and a program stored on disk by one process is the
program another process runs (a fresh trace is the oracle)."""

import jax
import numpy as np
import optax
import pytest

import statecarry as sc
from statecarry.core import cells, engine, modes, programs, runtime
from statecarry.core.spec import Model, Train
from statecarry.data.layout import from_samples

B, T, F = 4, 5, 2
MODEL = Model("lstm", 3, 1, "sigmoid", F, 1)
# two settings far from Keras' defaults, so a constant left in the program would show
SETTINGS = [
    dict(learning_rate=3e-2, beta1=0.8, beta2=0.99, adam_eps=1e-3),
    dict(learning_rate=1e-3, beta1=0.95, beta2=0.9999, adam_eps=1e-7),
]


@pytest.mark.usefixtures("keras_broadcasts")  # Keras broadcasts ranks; our code must not
def test_one_compiled_update_follows_keras_adam_for_any_learning_rate_and_betas():
    keras = pytest.importorskip("keras")
    from statecarry.core.interop import from_keras, to_keras

    @jax.jit
    def update(params, opt_state, batch):
        train = Train(mode="stateless")  # the defaults: the values come from opt_state
        grads, _ = jax.grad(modes.batch_loss, has_aux=True)(
            params, cells.zeros_state(MODEL, B), batch, MODEL, train
        )
        updates, opt_state = engine.make_optimizer(train).update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    rng = np.random.default_rng(0)
    for setting in SETTINGS:
        params = cells.init(jax.random.key(1), MODEL)
        km = to_keras(params, MODEL, batch_size=B, time_steps=T, stateful=False)
        km.compile(
            optimizer=keras.optimizers.Adam(
                setting["learning_rate"], setting["beta1"], setting["beta2"], setting["adam_eps"]
            ),
            loss="binary_crossentropy",
        )
        opt_state = engine.make_optimizer(Train(**setting)).init(params)
        for _ in range(3):
            x = rng.uniform(0, 1, (B, T, F)).astype(np.float32)
            y = rng.integers(0, 2, (B, 1)).astype(np.float32)
            km.train_on_batch(x, y)
            batch = engine.with_mode_resets(from_samples(x, y, B), Train(mode="stateless"), True)
            params, opt_state = update(params, opt_state, jax.tree.map(lambda a: a[0], batch))
        _, theirs = from_keras(km)
        for layer, tensors in params.items():
            for name, ours in tensors.items():
                np.testing.assert_allclose(ours, theirs[layer][name], atol=1e-5, rtol=1e-4)
    assert update._cache_size() == 1  # both settings ran the one compiled program


def series_data():
    return sc.from_series(np.sin(np.arange(96.0) / 4).astype(np.float32), batch_size=2, time_steps=6)


def test_fit_traces_once_for_every_learning_rate_and_each_gets_its_own_numbers():
    data = series_data()
    model = Model("gru", 3, 1, "linear")
    before = engine.TRACES.get("run_epoch_seeds", 0)
    fits = [sc.fit(data, model, Train(epochs=2, **s), seeds=[0, 1]) for s in SETTINGS]
    assert engine.TRACES["run_epoch_seeds"] - before <= 1  # 0 if another test traced it
    a, b = (f.metrics["train_loss"] for f in fits)
    assert not np.allclose(a[-1], b[-1])
    sc.clear_cache()  # a fresh trace of the second setting alone: the same numbers
    again = sc.fit(data, model, Train(epochs=2, **SETTINGS[1]), seeds=[0, 1])
    np.testing.assert_array_equal(again.metrics["train_loss"], b)


def test_train_structure_drops_only_what_is_data():
    t = Train(mode="stateful", horizon=3, epochs=7, loss="mse", **SETTINGS[0])
    assert t.structure() == Train(mode="stateful", horizon=3, epochs=1, loss="mse")


@pytest.fixture
def program_dir(tmp_path, monkeypatch):
    pytest.importorskip("flatbuffers")  # jax.export's serialiser; without it nothing is stored
    monkeypatch.setattr(runtime, "_PROGRAM_DIR", tmp_path)
    runtime.clear_cache()
    yield tmp_path
    runtime.clear_cache()


def test_a_stored_program_runs_without_tracing_and_gives_the_same_numbers(program_dir):
    data, model, train = series_data(), Model("lstm", 4, 2, "linear"), Train(epochs=2, horizon=2)
    first = sc.fit(data, model, train, seeds=[3, 4])
    stored = sorted(program_dir.glob("*.jaxexport"))
    assert len(stored) == 2  # the init and the epoch
    runtime.clear_cache()  # as a new process: nothing compiled in memory
    before = engine.TRACES.get("run_epoch_seeds", 0)
    second = sc.fit(data, model, train, seeds=[3, 4])
    assert engine.TRACES.get("run_epoch_seeds", 0) == before  # read from disk, not traced
    for name, values in first.metrics.items():
        np.testing.assert_array_equal(second.metrics[name], values)


def test_a_damaged_stored_program_is_traced_again(program_dir):
    data, model, train = series_data(), Model("gru", 2, 1, "linear"), Train(epochs=1)
    first = sc.fit(data, model, train, seeds=[0])
    for path in program_dir.glob("*.jaxexport"):
        path.write_bytes(b'[]\ngarbage')
    runtime.clear_cache()
    before = engine.TRACES.get("run_epoch_seeds", 0)
    second = sc.fit(data, model, train, seeds=[0])
    assert engine.TRACES["run_epoch_seeds"] == before + 1
    np.testing.assert_array_equal(second.metrics["train_loss"], first.metrics["train_loss"])


def test_the_stored_name_changes_with_the_program_and_the_engine_source(monkeypatch):
    key = ("epoch", (MODEL, Train()))
    before = programs.digest(key)
    assert before == programs.digest(key)
    assert before != programs.digest(("epoch", (MODEL, Train(horizon=2))))
    monkeypatch.setattr(programs, "_source_hash", lambda: "an edited engine")
    assert programs.digest(key) != before
