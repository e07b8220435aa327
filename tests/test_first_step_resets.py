"""Resets cut to each batch's first step (`cells.run_stream`, `Source.resets_first_only`): data
that resets nowhere else trains to the same bits as with every step's reset, which is the
oracle (that path is checked against Keras elsewhere)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statecarry as sc
from statecarry.core import cells, runtime
from statecarry.core.source import Source
from statecarry.core.spec import Model


def _series(n=400, seed=0):
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return (np.sin(t / 7.0) + 0.1 * rng.standard_normal(n)).astype(np.float32)[:, None]


@pytest.mark.parametrize("cell,units", [("lstm", 16), ("gru", 16), ("lstm", 3)])
def test_run_stream_with_one_reset_equals_every_step(cell, units):
    model = Model(cell=cell, units=units, layers=2, features=2, outputs=1, head="linear")
    params = cells.init(jax.random.key(1), model)
    x = jax.random.normal(jax.random.key(2), (9, 2))
    state = jax.tree.map(lambda s: s[0] + 0.5, cells.zeros_state(model, 1))  # not zeros
    for first in (True, False):
        every = jnp.zeros(9, bool).at[0].set(first)

        def total(params, reset):
            state_after, h = cells.run_stream(params, model, state, x, reset)
            return jnp.sum(h) + sum(jnp.sum(s) for s in jax.tree.leaves(state_after))

        for a, b in zip(jax.tree.leaves(jax.value_and_grad(total)(params, every)),
                        jax.tree.leaves(jax.value_and_grad(total)(params, every[:1]))):  # fmt: skip
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_which_data_may_be_cut():
    data = sc.from_series(_series(), batch_size=4, time_steps=10)
    assert not data.reset.any()  # one stream a row: the modes add the resets
    assert Source(data, None, 1).resets_first_only()
    first = data._replace(reset=data.reset.copy())
    first.reset[2, 1, 0] = True  # a stream that starts with a batch
    assert Source(first, None, 1).resets_first_only()
    mid = data._replace(reset=data.reset.copy())
    mid.reset[3, 1, 4] = True
    assert not Source(mid, None, 1).resets_first_only()
    assert not Source(data, mid, 1).resets_first_only()  # the test set's resets count too
    made = Source(lambda seed: (data, None), None, 1)  # made seed by seed: known once made
    assert not made.resets_first_only()
    assert made.resets_first_only([(data, None), (first, data)])
    assert not made.resets_first_only([(data, None), (data, mid)])
    one_step = sc.from_series(_series(), batch_size=4, time_steps=1)
    assert not Source(one_step, None, 1).resets_first_only()  # nothing to gain


def _fit(monkeypatch, cut: bool, data, test, model, train, seeds):
    runtime.clear_cache()
    # a program stored by an earlier test in this process would be loaded, not traced (spy)
    monkeypatch.setattr(runtime, "_PROGRAM_DIR", None)
    if not cut:
        monkeypatch.setattr(Source, "resets_first_only", lambda self, made=None: False)
    seen = []
    run_stream = cells.run_stream

    def spy(params, model, state, x, reset, *rest, **named):
        seen.append(reset.shape[0])
        return run_stream(params, model, state, x, reset, *rest, **named)

    monkeypatch.setattr(cells, "run_stream", spy)
    result = sc.fit(data, model, train, seeds=seeds, test=test)
    monkeypatch.undo()
    return result, set(seen)


@pytest.mark.parametrize(
    "model,train,seeds",
    [
        (sc.Model(cell="lstm", units=16, head="linear"), sc.Train(mode="stateful", epochs=2), [0]),
        (sc.Model(cell="gru", units=16, head="linear"), sc.Train(mode="stateful", horizon=3, epochs=2), [0, 1]),
        (sc.Model(cell="lstm", units=3, head="linear"), sc.Train(mode="stateless", shuffle=True, epochs=2), [0, 1, 2]),
        (sc.Model(cell="lstm", units=3, head="linear"), sc.Train(mode="stateful", horizon=2, reset="never", epochs=2), [5]),
    ],
)
def test_fit_with_cut_resets_equals_every_step(monkeypatch, model, train, seeds):
    series = _series(600)
    data = sc.from_series(series[:480], batch_size=4, time_steps=10, tail="drop")
    test = sc.from_series(series[480:], batch_size=4, time_steps=10, tail="drop")
    cut, seen_cut = _fit(monkeypatch, True, data, test, model, train, seeds)
    every, seen_every = _fit(monkeypatch, False, data, test, model, train, seeds)
    assert seen_cut == {1} and seen_every == {10}  # each program really took its own path
    for name in every.metrics:
        np.testing.assert_array_equal(cut.metrics[name], every.metrics[name])
    for a, b in zip(jax.tree.leaves((cut.params, cut.state)), jax.tree.leaves((every.params, every.state))):
        np.testing.assert_array_equal(a, b)


def test_online_modes_keep_every_step(monkeypatch):
    data = sc.from_series(_series(), batch_size=4, time_steps=10, tail="drop")
    _, seen = _fit(monkeypatch, True, data, None, sc.Model(cell="lstm", units=3, head="linear"), sc.Train(mode="rtrl", epochs=1), [0])
    assert 1 not in seen


def _made_data(mid_reset_seed=None):
    """A data function: each seed its own noisy series; `mid_reset_seed`'s resets mid-batch."""
    def make(seed):
        series = _series(600, seed)
        data = sc.from_series(series[:480], batch_size=4, time_steps=10, tail="drop")
        test = sc.from_series(series[480:], batch_size=4, time_steps=10, tail="drop")
        if seed == mid_reset_seed:
            data = data._replace(reset=data.reset.copy())
            data.reset[5, 2, 6] = True
        return data, test

    return make


@pytest.mark.parametrize("units,seeds", [(3, [0, 1, 2]), (16, [0, 1])])
def test_data_made_seed_by_seed_is_cut_when_made_at_once(monkeypatch, units, seeds):
    """A data function's data is known once made: all of it when one wave made it (the blog's
    experiments), so it is cut like data given whole, to the same bits."""
    model, train = sc.Model(cell="lstm", units=units, head="linear"), sc.Train(mode="stateful", epochs=2)
    cut, seen_cut = _fit(monkeypatch, True, _made_data(), None, model, train, seeds)
    every, seen_every = _fit(monkeypatch, False, _made_data(), None, model, train, seeds)
    assert seen_cut == {1} and seen_every == {10}
    for name in every.metrics:
        np.testing.assert_array_equal(cut.metrics[name], every.metrics[name])
    for a, b in zip(jax.tree.leaves(cut.params), jax.tree.leaves(every.params)):
        np.testing.assert_array_equal(a, b)


def test_data_made_seed_by_seed_keeps_every_step_when_one_seed_resets_mid_batch(monkeypatch):
    model, train = sc.Model(cell="lstm", units=3, head="linear"), sc.Train(mode="stateful", epochs=1)
    _, seen = _fit(monkeypatch, True, _made_data(mid_reset_seed=2), None, model, train, [0, 1, 2])
    assert seen == {10}  # seed 2's mid-batch reset is honoured, although seed 0's data had none


def test_data_made_in_waves_keeps_every_step(monkeypatch):
    """Waves after the first are made after the program: what they hold is not known then."""
    from statecarry.core import memory

    monkeypatch.setattr(memory, "plan_for", lambda *a, **k: (1, 1))  # a seed a chunk, a chunk a wave
    model, train = sc.Model(cell="lstm", units=16, head="linear"), sc.Train(mode="stateful", epochs=1)
    cut, seen = _fit(monkeypatch, True, _made_data(), None, model, train, [0, 1, 2, 3])
    assert seen == {10}
