"""Seeds in the vector lanes (engine.run_epoch_lanes): the layout `fit` picks for small models
trains every seed as the seed-first `vmap` program does (the oracle: the engine's per-seed
program, vmapped), for every path the lanes serve, and is picked only where it can be."""

import jax
import numpy as np
import pytest

from statecarry.core import engine, runtime
from statecarry.core.fit import fit
from statecarry.core.spec import Model, Train
from statecarry.data.layout import Batches, from_series

SEEDS = [0, 1, 2]


def series(k: int, n: int = 60, features: int = 2) -> np.ndarray:
    rng = np.random.default_rng(7 + k)
    t = np.arange(n)[:, None] + 5 * k + np.arange(features)[None, :]
    return (np.sin(t / 4.0) + 0.1 * rng.standard_normal((n, features))).astype(np.float32)


def data(k: int):
    s = series(k)
    return from_series(s[:36], 2, 3), from_series(s[36:], 2, 3)


def both(monkeypatch, *args, **kwargs):
    """(the lanes' fit, the vmap program's fit) of the same call."""
    runtime.clear_cache()
    lanes = fit(*args, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(engine, "uses_lanes", lambda model, train: False)
        runtime.clear_cache()
        vmapped = fit(*args, **kwargs)
    runtime.clear_cache()
    return lanes, vmapped


CASES = {
    "stateful": (Model(units=3, head="linear"), Train(epochs=2, learning_rate=0.01)),
    "stateless": (Model(units=3, head="linear"), Train(mode="stateless", epochs=2, learning_rate=0.01)),
    "horizon 3": (Model(units=3, head="linear"), Train(horizon=3, epochs=2, learning_rate=0.01)),
    "gru stack, carry": (Model(cell="gru", units=5, layers=2, head="linear"), Train(epochs=2, learning_rate=0.01)),
    "shuffled": (Model(units=3, head="linear"), Train(epochs=2, shuffle=True, learning_rate=0.01)),
    "reset never": (Model(units=3, head="linear"), Train(epochs=2, reset="never", learning_rate=0.01)),
}


@pytest.mark.parametrize("shared", [True, False], ids=["shared data", "a data set per seed"])
@pytest.mark.parametrize("case", CASES)
def test_lanes_train_every_seed_as_the_vmapped_program_does(monkeypatch, case, shared):
    model, train = CASES[case]
    if shared:
        tr, te = data(0)
    else:
        pairs = [data(k) for k in range(len(SEEDS))]
        tr, te = (Batches(*(np.stack(f) for f in zip(*(p[i] for p in pairs)))) for i in (0, 1))
    assert engine.uses_lanes(model.replace(features=2, outputs=2), train)
    lanes, vmapped = both(monkeypatch, tr, model, train, SEEDS, te)
    for name in vmapped.metrics:  # float32 sums in another order: a few units in the last place
        np.testing.assert_allclose(lanes.metrics[name], vmapped.metrics[name], rtol=2e-5, atol=1e-6, err_msg=name)
    for a, b in zip(jax.tree.leaves(lanes.params), jax.tree.leaves(vmapped.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(lanes.params["dense"]["kernel"][0], lanes.params["dense"]["kernel"][1])


def test_a_seed_gets_the_same_bits_alone_and_among_many():
    """Padding a device's seeds to whole vector registers makes a seed's numbers independent
    of how many seeds share its program (here 1 against 40: 16 lanes against 2 x 32)."""
    tr, te = data(0)
    model, train = CASES["stateful"]
    many = fit(tr, model, train, list(range(40)), te)
    alone = fit(tr, model, train, [37], te)
    for name in alone.metrics:
        np.testing.assert_array_equal(many.metrics[name][:, 37], alone.metrics[name][:, 0], err_msg=name)
    for a, b in zip(jax.tree.leaves(many.params_of(37)), jax.tree.leaves(alone.params_of(37)), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "model, train",
    [
        (Model(units=3, features=1, outputs=1), Train(mode="rtrl")),
        (Model(units=3, features=1, outputs=1), Train(mode="uoro")),
        (Model(units=4, features=1, outputs=1), Train()),
        (Model(cell="gru", units=6, features=1, outputs=1), Train()),
        (Model(units=3, features=30, outputs=1), Train()),
    ],
    ids=["rtrl", "uoro", "LSTM(4): its 16 gates fill a register", "GRU(6): 18 gates", "30 features x 12 gates"],
)
def test_the_lanes_are_not_used_where_they_cannot_serve(model, train):
    assert not engine.uses_lanes(model, train) and runtime.lane_width(model, train) == 1


def test_vector_lanes_false_runs_the_seed_first_program(monkeypatch):
    """For timing one run (claim 14): `vector_lanes=False` is exactly the vmapped program."""
    tr, te = data(0)
    model, train = CASES["stateful"]
    _, vmapped = both(monkeypatch, tr, model, train, SEEDS, te)

    def lanes_not_wanted(*args, **kwargs):
        raise AssertionError("the lanes ran")

    monkeypatch.setattr(engine, "run_epoch_lanes", lanes_not_wanted)
    plain = fit(tr, model, train, SEEDS, te, vector_lanes=False)
    runtime.clear_cache()
    for name in vmapped.metrics:
        np.testing.assert_array_equal(plain.metrics[name], vmapped.metrics[name], err_msg=name)


def test_vector_lanes_that_is_not_a_bool_is_one_sentence():
    from statecarry.errors import ConfigError

    tr, te = data(0)
    with pytest.raises(ConfigError, match="vector_lanes must be True or False, got 'no'"):
        fit(tr, *CASES["stateful"], SEEDS, te, vector_lanes="no")


@pytest.mark.parametrize("n, m", [(3, 12), (8, 32), (9, 32), (16, 64), (1, 257)])
def test_a_product_is_written_out_up_to_small_product_and_a_dot_past_it(n, m):
    """cells.matvec: multiply-and-sum for n x m <= runtime.SMALL_PRODUCT (fused into the loop),
    XLA's dot past it (measured faster there); the same product either way, to rounding."""
    from statecarry.core import cells

    rng = np.random.default_rng(n * m)
    v, w = rng.standard_normal(n).astype(np.float32), rng.standard_normal((n, m)).astype(np.float32)
    jaxpr = str(jax.make_jaxpr(cells.matvec)(v, w))
    assert ("dot_general" in jaxpr) == (n * m > runtime.SMALL_PRODUCT)
    np.testing.assert_allclose(cells.matvec(v, w), v.astype(np.float64) @ w, rtol=1e-5, atol=1e-5)
    lanes = np.stack([w, 2 * w], axis=-1)  # with a lane axis: always written out, one per lane
    assert "dot_general" not in str(jax.make_jaxpr(cells.matvec)(v, lanes))
    np.testing.assert_allclose(cells.matvec(v, lanes)[..., 1], 2 * (v.astype(np.float64) @ w), rtol=1e-5, atol=1e-5)


def test_when_one_lane_group_does_not_fit_fit_runs_a_seed_at_a_time_without_the_lanes(monkeypatch):
    """One seed in the lanes is 16 seeds' data; `run prev-batch --time-steps 100000` was killed
    by the kernel (the plan said 6 seeds fit, the lanes padded them to 16). With room for 4
    seeds and none for 16, fit takes the seed-first program: the lanes never run, and the
    numbers are those of `vector_lanes=False`."""
    from statecarry.core import memory

    monkeypatch.setattr(runtime, "_PROGRAM_DIR", None)  # a stored program would skip the spy
    tr, te = data(0)
    model, train = CASES["stateful"]
    plain = fit(tr, model, train, SEEDS, te, vector_lanes=False)
    needs = []
    original_plan = memory.plan
    monkeypatch.setattr(memory, "plan", lambda need, *a, **k: needs.append(need) or original_plan(need, *a, **k))
    fit(tr, model, train, SEEDS, te)  # records what one seed needs
    room = needs[0].total(4, runtime.LANE_WIDTH)  # 4 seeds at once, not 16
    monkeypatch.setattr(memory, "budget", lambda: (room, "the test's budget"))

    def lanes_not_wanted(*args, **kwargs):
        raise AssertionError("the lanes ran")

    monkeypatch.setattr(engine, "run_epoch_lanes", lanes_not_wanted)
    runtime.clear_cache()
    fallen = fit(tr, model, train, SEEDS, te)
    for name in plain.metrics:
        np.testing.assert_array_equal(fallen.metrics[name], plain.metrics[name], err_msg=name)


def test_the_lanes_take_whole_lane_groups_within_the_plan_and_a_small_chunk_size_keeps_them(monkeypatch):
    """Room for 20 seeds at once: a chunk of 16 (it was rounded up to 32, past the plan); and a
    chunk_size below 16 with room to spare stays in the lanes (the fallback took it out)."""
    from statecarry.core import memory

    monkeypatch.setattr(runtime, "_PROGRAM_DIR", None)
    tr, te = data(0)
    model, train = CASES["stateful"]
    seen = []
    original_lanes = engine.run_epoch_lanes
    monkeypatch.setattr(engine, "run_epoch_lanes",
                        lambda carry, *a, **k: seen.append(carry.params["dense"]["bias"].shape[0]) or original_lanes(carry, *a, **k))  # fmt: skip
    runtime.clear_cache()
    fit(tr, model, train, SEEDS, te, chunk_size=4)
    assert seen == [runtime.LANE_WIDTH]  # traced once, for one lane group
    needs = []
    original_plan = memory.plan
    monkeypatch.setattr(memory, "plan", lambda need, *a, **k: needs.append(need) or original_plan(need, *a, **k))
    seeds = list(range(40))
    fit(tr, model, train, seeds, te)
    monkeypatch.setattr(memory, "budget", lambda: (needs[-1].total(20, 48), "the test's budget"))
    seen.clear()
    runtime.clear_cache()
    fit(tr, model, train, seeds, te)
    assert seen == [runtime.LANE_WIDTH]
