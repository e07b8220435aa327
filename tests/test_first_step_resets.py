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
    assert not Source(lambda seed: (data, None), None, 1).resets_first_only()  # made seed by seed
    one_step = sc.from_series(_series(), batch_size=4, time_steps=1)
    assert not Source(one_step, None, 1).resets_first_only()  # nothing to gain


def _fit(monkeypatch, cut: bool, data, test, model, train, seeds):
    runtime.clear_cache()
    if not cut:
        monkeypatch.setattr(Source, "resets_first_only", lambda self: False)
    seen = []
    run_stream = cells.run_stream

    def spy(params, model, state, x, reset):
        seen.append(reset.shape[0])
        return run_stream(params, model, state, x, reset)

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
