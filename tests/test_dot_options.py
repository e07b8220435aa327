"""Big models' dots run in YNNPACK (runtime.BIG_DOT_OPTIONS), tiny models' loops stay one
kernel, and the option changes the speed, not the numbers: the same fit and predictions with
the option off are the oracle."""

import jax
import numpy as np
import pytest

import statecarry as sc
from statecarry.core import cells, predict, runtime

if runtime.jaxlib_version() < (0, 10):
    pytest.skip("YNNPACK's per-compile option needs jaxlib 0.10", allow_module_level=True)

rng = np.random.default_rng(0)
SERIES = np.cumsum(rng.normal(size=(1_200, 2)), 0).astype(np.float32) / 30
DATA = sc.from_series(SERIES, 8, 20, tail="drop")
TRAIN = sc.Train(mode="stateful", epochs=2)


def _epoch_text(units: int) -> str:
    runtime.clear_cache()
    sc.fit(DATA, sc.Model(units=units, head="linear"), TRAIN, seeds=[0])
    [compiled] = [c for k, c in runtime._EXECUTABLES.items() if k[0] == "epoch"]
    return compiled.as_text()


def test_a_big_models_epoch_runs_its_dots_in_ynnpack_and_a_tiny_ones_does_not():
    assert runtime.has_dots(sc.Model(units=16)) and not runtime.has_dots(sc.Model(units=3))
    assert "ynn_fusion" in _epoch_text(16)
    assert "ynn_fusion" not in _epoch_text(3)  # its loop stays one kernel


def test_predict_compiles_a_big_models_dots_in_ynnpack():
    model = sc.Model(units=16, head="linear", features=2, outputs=2)
    params = sc.fit(DATA, model, sc.Train(epochs=1), seeds=[0]).params_of(0)
    fn = predict._predict_fn(model, predict.STATEFUL, True)
    x, reset = predict._as_x(DATA, model)
    text = fn.lower(params, x, reset, cells.zeros_state(model, 1)).compile().as_text()
    assert "ynn_fusion" in text


def test_the_option_changes_speed_not_numbers(monkeypatch):
    model = sc.Model(cell="gru", units=16, head="linear")  # LSTM's dot is the same matvec

    def run():
        runtime.clear_cache()
        f = sc.fit(DATA, model, TRAIN, seeds=[0, 1])
        pred, _ = sc.predict(f.params_of(1), DATA, f.model)
        return f, pred

    on, pred_on = run()
    monkeypatch.setattr(runtime, "BIG_DOT_OPTIONS", {})
    off, pred_off = run()
    runtime.clear_cache()
    np.testing.assert_allclose(on.metrics["train_loss"], off.metrics["train_loss"], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(on.params), jax.tree.leaves(off.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pred_on, pred_off, rtol=1e-4, atol=1e-6)
