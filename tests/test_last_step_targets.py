"""Targets cut to each batch's last step (`Source.targets_last_only`, `source.cut`, the head's
`head_steps`): data whose every target is a sequence's label at a batch's last step (the blog's
experiments, `from_samples`) trains with the head on that step alone. The oracle is the same
fit with the head on every step and the other steps weighted 0 (that path is checked against
Keras elsewhere)."""

import jax
import numpy as np
import pytest

import statecarry as sc
from statecarry.core import cells, kernel_grads, runtime
from statecarry.core.source import Source, cut


def _samples(n=96, steps=6, seed=0):
    """Sequences labelled by their mean's sign, one label each (`from_samples`)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, 2)).astype(np.float32)
    y = (x[..., 0].mean(axis=1) > 0).astype(np.float32)
    return sc.from_samples(x[: n * 3 // 4], y[: n * 3 // 4], 4), sc.from_samples(x[n * 3 // 4 :], y[n * 3 // 4 :], 4)


def test_which_data_may_be_cut():
    data, test = _samples()
    assert Source(data, test, 1).targets_last_only()
    mid = data._replace(weight=data.weight.copy())
    mid.weight[3, 1, 2] = 1.0  # one target mid-batch
    assert not Source(mid, None, 1).targets_last_only()
    assert not Source(data, mid, 1).targets_last_only()  # the test set's targets count too
    known = data._replace(known=data.known.copy())
    known.known[0, 0, 0] = True  # a step counted in the determined accuracy, though weight 0
    assert not Source(known, None, 1).targets_last_only()
    series = sc.from_series(np.arange(200, dtype=np.float32)[:, None], batch_size=4, time_steps=10)
    assert not Source(series, None, 1).targets_last_only()  # a target at every step
    made = Source(lambda seed: (data, test), None, 1)  # made seed by seed: known once made
    assert not made.targets_last_only()
    assert made.targets_last_only([(data, test), (data, None)])
    assert not made.targets_last_only([(data, test), (data, mid)])
    x = np.ones((8, 1, 1), np.float32)
    assert not Source(sc.from_samples(x, np.ones(8), 4), None, 1).targets_last_only()  # one step


def test_cut_keeps_the_last_step_of_targets_and_the_first_of_resets():
    data, _ = _samples()
    both = cut(data, resets=True, targets=True)
    np.testing.assert_array_equal(both.x, data.x)
    np.testing.assert_array_equal(both.reset, data.reset[..., :1])
    np.testing.assert_array_equal(both.y, data.y[..., -1:, :])
    np.testing.assert_array_equal(both.weight, data.weight[..., -1:])
    np.testing.assert_array_equal(both.known, data.known[..., -1:])
    assert cut(data, False, False) is data and cut(None, True, True) is None


def _fit(monkeypatch, cut_targets: bool, data, test, model, train, seeds):
    runtime.clear_cache()
    # a program stored by an earlier test in this process would be loaded, not traced (spy)
    monkeypatch.setattr(runtime, "_PROGRAM_DIR", None)
    if not cut_targets:
        monkeypatch.setattr(Source, "targets_last_only", lambda self, made=None: False)
    seen = []

    def spying(forward):
        def spy(params, model, state, x, reset, head_steps=None):
            seen.append(head_steps)
            return forward(params, model, state, x, reset, head_steps)

        return spy

    monkeypatch.setattr(cells, "forward", spying(cells.forward))  # evaluation, small models
    monkeypatch.setattr(kernel_grads, "forward", spying(kernel_grads.forward))  # training
    result = sc.fit(data, model, train, seeds=seeds, test=test)
    monkeypatch.undo()
    return result, set(seen)


@pytest.mark.parametrize(
    "model,train,seeds",
    [
        (sc.Model(cell="lstm", units=3, head="sigmoid"), sc.Train(mode="stateful", epochs=2), [0, 1, 2]),
        (sc.Model(cell="gru", units=16, head="sigmoid"), sc.Train(mode="stateful", epochs=2), [0, 1]),
        (sc.Model(cell="lstm", units=16, layers=2, head="sigmoid"), sc.Train(mode="stateful", horizon=3, epochs=2), [4]),
        (sc.Model(cell="lstm", units=3, head="sigmoid"), sc.Train(mode="stateless", shuffle=True, epochs=2), [0, 1]),
        (sc.Model(cell="gru", units=3, head="linear"), sc.Train(mode="stateful", horizon=2, epochs=2), [3]),
    ],
)
def test_fit_with_cut_targets_equals_every_step(monkeypatch, model, train, seeds):
    data, test = _samples()
    cut_fit, seen_cut = _fit(monkeypatch, True, data, test, model, train, seeds)
    every, seen_every = _fit(monkeypatch, False, data, test, model, train, seeds)
    # each program really took its own path (a horizon's window re-runs earlier batches for
    # their state alone, with the head on every step: XLA drops it, unused)
    assert seen_cut == ({1, None} if train.horizon > 1 else {1}) and seen_every == {None}
    for name in every.metrics:  # the loss sums fewer terms (the others were exact zeros)
        np.testing.assert_allclose(cut_fit.metrics[name], every.metrics[name], rtol=1e-6, atol=1e-7)
    for a, b in zip(jax.tree.leaves((cut_fit.params, cut_fit.state)), jax.tree.leaves((every.params, every.state))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_each_seed_its_own_data_with_a_softmax_head(monkeypatch):
    """Data stacked seed by seed (the lanes read it seed axis last), classes as ids."""
    def classes(seed):
        data, test = _samples(seed=seed)
        return tuple(b._replace(y=(b.y > 0) + (b.y * 0 + seed % 2)) for b in (data, test))  # 3 ids

    seeds = [0, 1, 2]
    pairs = [classes(s) for s in seeds]
    data, test = (sc.Batches(*(np.stack(f) for f in zip(*(p[k] for p in pairs)))) for k in (0, 1))
    model = sc.Model(cell="lstm", units=3, head="softmax", outputs=3)
    train = sc.Train(mode="stateful", epochs=2)
    cut_fit, seen_cut = _fit(monkeypatch, True, data, test, model, train, seeds)
    every, seen_every = _fit(monkeypatch, False, data, test, model, train, seeds)
    assert seen_cut == {1} and seen_every == {None}
    for name in every.metrics:
        np.testing.assert_allclose(cut_fit.metrics[name], every.metrics[name], rtol=1e-6, atol=1e-7)
    for a, b in zip(jax.tree.leaves(cut_fit.params), jax.tree.leaves(every.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_online_modes_keep_every_step(monkeypatch):
    data, test = _samples()
    model = sc.Model(cell="lstm", units=3, head="sigmoid")
    _, seen = _fit(monkeypatch, True, data, test, model, sc.Train(mode="rtrl", epochs=1), [0])
    assert 1 not in seen


def test_data_made_seed_by_seed_is_cut_when_made_at_once(monkeypatch):
    model, train = sc.Model(cell="lstm", units=3, head="sigmoid"), sc.Train(mode="stateful", epochs=2)
    make = lambda seed: _samples(seed=seed)  # noqa: E731
    cut_fit, seen_cut = _fit(monkeypatch, True, make, None, model, train, [0, 1, 2])
    every, seen_every = _fit(monkeypatch, False, make, None, model, train, [0, 1, 2])
    assert seen_cut == {1} and seen_every == {None}
    for name in every.metrics:
        np.testing.assert_allclose(cut_fit.metrics[name], every.metrics[name], rtol=1e-6, atol=1e-7)
