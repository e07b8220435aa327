"""Progress from inside a big model's epoch (`core/ticks.py`): each batch's update ticks the
host, so `fit`'s progress moves within an epoch, and the numbers are those of a fit without it."""

import numpy as np
import pytest

from statecarry.core import runtime, ticks
from statecarry.core.fit import fit
from statecarry.core.spec import Model, Train
from statecarry.data.layout import from_series

MODEL = Model(cell="lstm", units=16, head="linear")  # its products are dots: seeds-first, ticking


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 1)).astype(np.float32)
    return from_series(x, 4, 10), from_series(x[:120], 4, 10)


@pytest.mark.parametrize("seeds, chunk", [([0], None), ([0, 1, 2], 2)])
def test_progress_moves_batch_by_batch_with_the_same_numbers(monkeypatch, seeds, chunk):
    monkeypatch.setattr(ticks, "REPORT_EVERY_SECONDS", 0.0)  # every tick reports
    train, test = data()
    batches = train.x.shape[0]
    spec = Train(mode="stateful", epochs=2)
    assert runtime.has_dots(MODEL)
    calls = []
    got = fit(train, MODEL, spec, seeds, test=test, chunk_size=chunk, on_progress=lambda *a: calls.append(a))
    plain = fit(train, MODEL, spec, seeds, test=test, chunk_size=chunk)
    for name in plain.metrics if hasattr(plain, "metrics") else ():
        np.testing.assert_array_equal(got.metrics[name], plain.metrics[name])
    np.testing.assert_array_equal(got.params["lstm"]["kernel"], plain.params["lstm"]["kernel"])
    done = [d for stage, d, _ in calls if stage == "train"]
    n_chunks = -(-len(seeds) // (chunk or len(seeds)))
    total = spec.epochs * n_chunks * batches
    assert {t for stage, _, t in calls if stage == "train"} == {total}
    assert done == sorted(set(done)) and done[-1] == total  # forward only, to the end
    assert any(d % batches for d in done), done  # some within an epoch, not only at its end
    assert len(done) >= total // 2  # about one a batch


def test_small_models_in_the_lanes_do_not_tick(monkeypatch):
    monkeypatch.setattr(ticks, "REPORT_EVERY_SECONDS", 0.0)
    train, test = data()
    calls = []
    fit(train, Model(cell="lstm", units=3, head="linear"), Train(epochs=2), [0, 1], test=test,
        on_progress=lambda *a: calls.append(a))  # fmt: skip
    assert [d for s, d, _ in calls if s == "train"] == [1, 2]  # epochs, as before


def test_a_batch_counts_once_however_many_calls_it_makes(monkeypatch):
    """XLA may tick once a batch, once per seed or once per device: the count is of batches,
    and a new pass (the next chunk or epoch) begins once a pass has shown all of them."""
    monkeypatch.setattr(ticks, "REPORT_EVERY_SECONDS", 0.0)
    got = []
    with ticks.listening(got.append, 3):
        for index in [0, 0, 1, 1, 2, 2, 0, 1, 0, 1, 2, 2]:  # two passes of 3 batches, each call twice
            ticks.tick(np.array([index, index]))
    assert got == [1, 2, 3, 4, 5, 6]
    ticks.tick(np.array(0))  # no listener: nothing, no error
    assert got == [1, 2, 3, 4, 5, 6]


def test_per_seed_data_with_one_batch_an_epoch_never_runs_ahead(monkeypatch):
    """XLA calls the tick once per seed when each seed has its own data; with one batch an
    epoch every call is batch 0, so the count is held to the pass under way."""
    monkeypatch.setattr(ticks, "REPORT_EVERY_SECONDS", 0.0)
    train, test = data()
    one = train._replace(**{f: getattr(train, f)[:1] for f in train._fields})
    per_seed = one._replace(**{f: np.stack([getattr(one, f)] * 4) for f in one._fields})
    calls = []
    fit(per_seed, MODEL, Train(epochs=4), [0, 1, 2, 3], on_progress=lambda *a: calls.append(a),
        on_epoch=lambda e, m: calls.append(("epoch", e, 4)))  # fmt: skip
    train_calls = [c for c in calls if c[0] == "train"]
    assert [d for _, d, _ in train_calls] == [1, 2, 3, 4] and {t for *_, t in train_calls} == {4}, calls
    # and never ahead of the epochs closed so far by more than the one under way
    closed = 0
    for stage, d, _ in calls:
        closed += stage == "epoch"
        assert stage == "epoch" or d <= closed + 1, calls


def test_an_exception_from_the_progress_callback_comes_back_as_itself(monkeypatch):
    """Raised in a tick (on XLA's thread, at batch 3 of 10), not as XLA's runtime error."""
    monkeypatch.setattr(ticks, "REPORT_EVERY_SECONDS", 0.0)

    class Stop(Exception):
        pass

    def stop(stage, done, total):
        if stage == "train" and done >= 3:
            raise Stop("cancelled")

    train, test = data()
    with pytest.raises(Stop, match="cancelled"):
        fit(train, MODEL, Train(epochs=2), [0], test=test, on_progress=stop)
