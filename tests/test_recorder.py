"""Experiments hand their runs to a recorder: the store keeps each one as a child run, epoch by
epoch, and `--resume` answers from it without training again."""

import numpy as np
import pytest

from statecarry import store
from statecarry.cli._record import stored_recorder
from statecarry.core import fit as fit_module
from statecarry.experiments import forecast, series, varlen
from statecarry.experiments.recorder import Measured, unrecorded

TINY = varlen.with_setup(varlen.Setup(), n_train=32, n_test=16, batch_size=4, time_steps=6,
                         max_length=8, units=2, epochs=2)  # fmt: skip


def test_unrecorded_just_runs_the_work():
    calls = []
    out = unrecorded("varlen", {"a": 1}, [0], lambda on_epoch: calls.append(on_epoch) or Measured({}))
    assert calls == [None] and out.metrics == {}


def test_varlen_layouts_are_stored_and_resumed_without_training(monkeypatch):
    seeds = [0, 1]
    with store.recording("varlen", {"setup": "tiny"}, seeds) as rec:
        first = varlen.compare(seeds, TINY, record=stored_recorder(rec))
        parent = rec.run_id
    s = store.open_store()
    children = s.children(parent)
    assert [c.kind for c in children] == ["varlen"] * len(first)
    assert all(c.status == "done" and c.epochs == TINY.epochs for c in children)
    stored = s.get_run(children[0].id).metrics["test_acc"]
    np.testing.assert_array_equal(np.asarray(stored, np.float32), first[0].test_acc)

    def no_training(*args, **kwargs):
        raise AssertionError("resume trained again")

    monkeypatch.setattr(varlen, "fit", no_training)
    with store.recording("varlen", {"setup": "tiny"}, seeds) as rec:
        again = varlen.compare(seeds, TINY, record=stored_recorder(rec, resume=True))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.test_acc, b.test_acc)
        assert a.epoch_seconds == b.epoch_seconds
    assert varlen.suggest_verdict(again) == varlen.suggest_verdict(first)


def test_forecast_models_resume_their_forecasts(monkeypatch):
    data = series.Series(np.sin(np.arange(120) / 6.0) + np.arange(120) / 50, "wave", "sine")
    setup = forecast.Setup(window=4, horizon=3, units=2, epochs=1, batch_size=4, ahead=5, cells=("lstm",))
    with store.recording("forecast", {"series": "wave"}, [0]) as rec:
        first = forecast.compare(data, [0], setup, record=stored_recorder(rec))
    monkeypatch.setattr(forecast, "fit", lambda *a, **k: pytest.fail("resume trained again"))
    with store.recording("forecast", {"series": "wave"}, [0]) as rec:
        again = forecast.compare(data, [0], setup, record=stored_recorder(rec, resume=True))
    for a, b in zip(first.results, again.results):
        np.testing.assert_allclose(a.paths, b.paths)
        np.testing.assert_allclose(a.recursive_rmse, b.recursive_rmse)


def test_clear_cache_forgets_every_compiled_program(monkeypatch):
    import statecarry as sc
    from statecarry.core import engine, runtime

    # Without the on-disk program store that a CLI test may have switched on earlier in this
    # process (it would answer the second fit without tracing: tests/test_compile_once.py).
    monkeypatch.setattr(runtime, "_PROGRAM_DIR", None)

    batches = sc.from_series(np.sin(np.arange(64.0) / 3), batch_size=2, time_steps=4)
    model, train = sc.Model(cell="gru", units=2, head="linear"), sc.Train(epochs=1)
    fitted = sc.fit(batches, model, train, seeds=[0])
    sc.predict(fitted.params_of(0), batches, fitted.model)
    assert runtime._EXECUTABLES and any(c.cache_info().currsize for c in runtime._PROGRAM_CACHES)
    sc.clear_cache()
    assert not runtime._EXECUTABLES
    assert not any(c.cache_info().currsize for c in runtime._PROGRAM_CACHES)
    before = engine.TRACES["run_epoch_seeds"]
    sc.fit(batches, model, train, seeds=[0])
    assert engine.TRACES["run_epoch_seeds"] == before + 1  # compiled again
    assert fit_module.fit is sc.fit
