"""The core's gradients across batch boundaries, each against an explicitly unrolled oracle.

The oracle writes the history out batch by batch with plain Python loops over `cells.forward`
and takes `jax.grad` of one batch's loss through it: for horizon K from the stop-gradient
exact state K-1 batches before the current one, for RTRL from the start of the pass (the last
reset before the data's own). Each mode runs with its parameters held fixed, so at every
batch its gradient must equal the oracle's, and the state it carries must equal the plain
forward state.
"""

from __future__ import annotations

from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry.core import cells, engine, memory, modes, rtrl
from statecarry.core.cells import LSTMState
from statecarry.core.runtime import COMPILER_OPTIONS
from statecarry.core.spec import Model, Train
from statecarry.data.layout import from_samples
from statecarry.errors import TooLargeForMemory, TooLargeForRTRL
from statecarry.experiments.config import Config
from statecarry.experiments.tasks import make_samples

N_BATCHES = 4
BATCH_SIZE = 3
TIME_STEPS = 4
FEATURES = 2
UNITS = 3


# -- data and parameters ------------------------------------------------------------------


def perturbed_params(model: Model, seed: int):
    """Keras' initialisation plus noise, so that every bias and path through the cell matters."""
    params = cells.init(jax.random.key(seed), model)
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: a + 0.2 * rng.standard_normal(a.shape).astype(np.float32), params)


def task_setup(task: str, train: Train, seed: int = 0, start_of_pass: bool = True):
    """LSTM(3) on one of the blog's tasks (a `Config` is only the data source here)."""
    config = Config(task=task, n_train=4 * N_BATCHES, n_test=4)
    samples, _ = make_samples(config, seed)
    data = from_samples(samples.x, samples.y, config.batch_size, samples.known)
    model = Model(units=UNITS, features=data.x.shape[-1], outputs=data.y.shape[-1])
    return model, perturbed_params(model, seed), prepared(data, train, start_of_pass)


def random_setup(model: Model, train: Train, seed: int = 0):
    """Random 0/1 inputs and targets that fit the head, with one reset in mid-batch."""
    rng = np.random.default_rng(seed)
    n = N_BATCHES * BATCH_SIZE
    x = rng.integers(0, 2, (n, TIME_STEPS, FEATURES))
    if model.head == "softmax":
        y = rng.integers(0, 3, (n, 1))  # the class index, in y's single column
    elif model.head == "linear":
        y = rng.standard_normal((n, 2))
    else:
        y = rng.integers(0, 2, (n, 2))
    model = model.replace(
        units=UNITS, features=FEATURES, outputs=3 if model.head == "softmax" else 2
    )
    data = prepared(from_samples(x, y, BATCH_SIZE), train)
    # row 1 starts a new sequence at step 2 of batch 2: nothing before it may matter there
    data.reset[2, 1, 2] = True
    return model, perturbed_params(model, seed), data


def prepared(data, train: Train, start_of_pass: bool = True):
    """The first batches with the mode's resets, as host arrays (slicing them compiles nothing)."""
    data = jax.tree.map(lambda a: a[:N_BATCHES], data)
    data = engine.with_mode_resets(data, train, start_of_pass=start_of_pass)
    return jax.tree.map(np.array, data)


def batch(data, k: int):
    return jax.tree.map(lambda a: a[k], data)


# -- the mode under test and its oracle ---------------------------------------------------


@cache
def jitted(fn):
    """One compiled program per mode function, model and train, shared by every test."""
    return jax.jit(fn, static_argnums=(4, 5), compiler_options=COMPILER_OPTIONS)


def run_mode(params, data, model: Model, train: Train):
    """The mode's own gradient at every batch with the parameters held fixed, and the state it
    carries after each batch."""
    train.check(model)
    grad_fn = jitted(modes.grad_fn(train))
    batch_size, time_steps = data.x.shape[1:3]
    state = cells.zeros_state(model, batch_size)
    extra = modes.init_extra(train, model, params, batch_size, time_steps)
    grads, states = [], []
    for k in range(N_BATCHES):
        g, state, extra, _ = grad_fn(params, state, extra, batch(data, k), model, train)
        grads.append(g)
        states.append(state)
    return grads, states


def enter(state, carry: str):
    """What crosses a batch boundary, written out again: all of it, or an LSTM's c alone."""
    if carry == "c":
        return tuple(LSTMState(jnp.zeros_like(s.h), s.c) for s in state)
    return state


# The oracle's pieces are compiled once per model and shared by every history length and mode
# (`jax.grad` through them reuses their compiled derivatives): compiling one program per
# unrolled history would cost most of this file's time.
forward = jax.jit(cells.forward, static_argnums=1)


@partial(jax.jit, static_argnums=(3, 4))
def loss_of(params, state, target, model: Model, train: Train):
    return modes.batch_loss(params, state, target, model, train)[0]


def oracle(params, data, model: Model, train: Train, reach: int | None):
    """For every batch k: `jax.grad` of its loss through batches first..k, unrolled batch by
    batch from the exact state at the start of batch `first = k - reach + 1` (`reach=None`:
    from the start of the pass); and the plain forward state after every batch."""
    states = [cells.zeros_state(model, data.x.shape[1])]
    for j in range(N_BATCHES):
        states.append(
            forward(params, model, enter(states[-1], train.carry), data.x[j], data.reset[j])[0]
        )
    # `enter` is applied here, so one loss program serves every mode and carry with this loss
    loss_only = Train(loss=train.loss)
    grads = []
    for k in range(N_BATCHES):
        first = 0 if reach is None else max(0, k - reach + 1)

        # `states[first]` is a constant here: the stop-gradient state, no gradient before it
        def loss(params, k=k, first=first):
            s = states[first]
            for j in range(first, k):
                s, _ = forward(params, model, enter(s, train.carry), data.x[j], data.reset[j])
            return loss_of(params, enter(s, train.carry), batch(data, k), model, loss_only)

        grads.append(jax.grad(loss)(params))
    return grads, states[1:]


def mode_oracle(params, data, model: Model, train: Train):
    reach = None if train.mode == "rtrl" else train.horizon
    return oracle(params, data, model, train, reach)


def assert_trees_close(a, b, atol=1e-5, rtol=1e-5):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=rtol)


def tree_distance(a, b) -> float:
    leaves = zip(jax.tree.leaves(a), jax.tree.leaves(b))
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in leaves)


def assert_matches_oracle(params, data, model: Model, train: Train):
    grads, states = run_mode(params, data, model, train)
    expected_grads, expected_states = mode_oracle(params, data, model, train)
    for k in range(N_BATCHES):
        assert_trees_close(grads[k], expected_grads[k])
    assert_trees_close(states, expected_states, atol=1e-6)
    return grads


def assert_reaches_past_the_batch(params, data, model: Model, train: Train, grads):
    """The mode is not simply the truncated (horizon 1) gradient."""
    truncated, _ = oracle(params, data, model, train, reach=1)
    assert tree_distance(grads[-1], truncated[-1]) > 1e-6


def train_id(train: Train) -> str:
    return "rtrl" if train.mode == "rtrl" else f"horizon{train.horizon}"


# -- LSTM(3) on the blog's tasks (the old engine's oracles, on the new core) ---------------


# horizon 7: the window's re-runs are a loop, not unrolled (modes.WINDOW_UNROLL)
@pytest.mark.parametrize(("horizon", "carry"), [(2, "hc"), (3, "c"), (7, "hc")])
def test_horizon_gradient_equals_unrolled_grad_from_stop_gradient_state(horizon, carry):
    train = Train(mode="stateful", horizon=horizon, carry=carry)
    model, params, data = task_setup("prev-batch", train)
    grads = assert_matches_oracle(params, data, model, train)
    assert_reaches_past_the_batch(params, data, model, train, grads)


def test_horizon_carries_the_exact_forward_state():
    train = Train(mode="stateful", horizon=3)
    model, params, data = task_setup("prev-batch", train)
    _, states = run_mode(params, data, model, train)
    _, truncated_states = run_mode(params, data, model, train.replace(horizon=1))
    assert_trees_close(states, truncated_states, atol=1e-6)
    assert_trees_close(states, mode_oracle(params, data, model, train)[1], atol=1e-6)


def test_horizon_is_truncation_when_every_batch_starts_with_a_reset():
    train = Train(mode="stateful", horizon=3)
    model, params, data = task_setup("first-step", train)
    data.reset[:, :, 0] = True
    grads, _ = run_mode(params, data, model, train)
    truncated, _ = run_mode(params, data, model, train.replace(horizon=1))
    assert_trees_close(grads, truncated, atol=1e-6)


@pytest.mark.parametrize("carry", ["hc", "c"])
def test_rtrl_gradient_equals_grad_through_the_whole_history(carry):
    train = Train(mode="rtrl", carry=carry)
    model, params, data = task_setup("prev-batch", train, seed=1)
    grads = assert_matches_oracle(params, data, model, train)
    assert_reaches_past_the_batch(params, data, model, train, grads)


def test_rtrl_honours_a_reset_in_the_middle_of_a_batch():
    train = Train(mode="rtrl")
    model, params, data = task_setup("prev-batch", train, seed=2)
    # row 1 starts a new sequence at step 2 of batch 3: nothing before it may matter
    data.reset[3, 1, 2] = True
    assert_matches_oracle(params, data, model, train)


@pytest.mark.parametrize(
    "train",
    [
        Train(mode="stateful", horizon=2),  # an empty window slot must add no gradient
        Train(mode="stateful", horizon=3, carry="c"),
        Train(mode="rtrl"),
    ],
    ids=train_id,
)
def test_a_pass_without_a_reset_at_its_start_matches_the_oracle(train):
    """`reset="never"`: the first pass starts from zeros with no reset at its first step, so
    the first batches' gradients must not reach into batches that do not exist."""
    model, params, data = task_setup("prev-batch", train, seed=3, start_of_pass=False)
    assert not data.reset[0].any()
    assert_matches_oracle(params, data, model, train)


# -- GRU, stacked layers, and every head --------------------------------------------------

TRAINS = {
    "horizon1": Train(mode="stateful", horizon=1),
    "horizon2": Train(mode="stateful", horizon=2),
    "horizon3": Train(mode="stateful", horizon=3),
    "rtrl": Train(mode="rtrl"),
}
CASES = {
    "gru1-bce": (Model(cell="gru", head="sigmoid"), "bce", list(TRAINS)),
    "lstm2-mse": (Model(cell="lstm", layers=2, head="sigmoid"), "mse", list(TRAINS)),
    "gru2-bce": (Model(cell="gru", layers=2, head="sigmoid"), "bce", list(TRAINS)),
    "lstm2-linear": (Model(cell="lstm", layers=2, head="linear"), "mse", ["horizon2"]),
    "gru2-softmax": (Model(cell="gru", layers=2, head="softmax"), "cross-entropy", ["rtrl"]),
}


@pytest.mark.parametrize(
    ("case", "mode"), [(case, mode) for case, (_, _, modes_) in CASES.items() for mode in modes_]
)
def test_gradient_equals_its_oracle_for_every_cell_depth_and_head(case, mode):
    model, loss, _ = CASES[case]
    train = TRAINS[mode].replace(loss=loss)
    model, params, data = random_setup(model, train, seed=4)
    grads = assert_matches_oracle(params, data, model, train)
    if mode != "horizon1":
        assert_reaches_past_the_batch(params, data, model, train, grads)


def test_rtrl_on_a_stacked_lstm_carrying_c_alone():
    train = Train(mode="rtrl", carry="c", loss="mse")
    model, params, data = random_setup(Model(layers=2), train, seed=5)
    grads = assert_matches_oracle(params, data, model, train)
    assert_reaches_past_the_batch(params, data, model, train, grads)


# -- RTRL's memory estimate ---------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_recurrent_params_counts_every_layer_of_init(cell, layers):
    model = Model(cell=cell, units=UNITS, layers=layers, features=FEATURES, outputs=2)
    params = cells.init(jax.random.key(0), model)
    actual = sum(a.size for name in model.layer_names for a in jax.tree.leaves(params[name]))
    assert model.recurrent_params() == actual
    # and it is what RTRL takes the sensitivity against
    sens = rtrl.init_sensitivity(params, model, BATCH_SIZE)
    assert all(s.shape[-1] == actual for s in jax.tree.leaves(sens))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rtrl_memory_estimate_grows_with_every_layer(cell):
    def estimate(layers: int) -> int:
        model = Model(cell=cell, units=UNITS, layers=layers, features=FEATURES, outputs=2)
        return rtrl.bytes_per_seed(model, BATCH_SIZE)

    for layers in (1, 2, 3):
        model = Model(cell=cell, units=UNITS, layers=layers, features=FEATURES, outputs=2)
        p, state = model.recurrent_params(), model.state_size()
        assert state == layers * UNITS * (2 if cell == "lstm" else 1)
        # per stream: the sensitivity's working copies and a params x params JVP tangent
        assert estimate(layers) == 4 * BATCH_SIZE * (state * p * memory.SENSITIVITY_COPIES + p * p)
    assert estimate(1) < estimate(2) < estimate(3)


def test_rtrl_refuses_what_does_not_fit_with_the_estimate_and_alternatives():
    model = Model(units=64, layers=2, features=1, outputs=1)
    with pytest.raises(TooLargeForRTRL, match=r"GiB.*2 layer\(s\).*with a horizon"):
        rtrl.seeds_that_fit(model, 4, budget=2**20)
    small = Model(units=UNITS, features=1, outputs=1)
    assert rtrl.seeds_that_fit(small, 4, budget=2**30) > 1
    assert rtrl.seeds_that_fit(small, 4, budget=3 * rtrl.bytes_per_seed(small, 4)) == 3


def test_rtrl_streams_more_seeds_than_fit_at_once_with_the_same_numbers(monkeypatch):
    """Room for about three seeds' sensitivities: four seeds run in waves, as one pass would."""
    from statecarry.core.fit import fit

    train = Train(mode="rtrl", epochs=1)
    model, _, data = task_setup("prev-batch", train)
    whole = fit(data, Model(units=UNITS), train, seeds=range(4), chunk_size=1)
    need = rtrl.bytes_per_seed(model, data.x.shape[1])
    monkeypatch.setenv(memory.LIMIT_SETTING, str(memory.FIXED_BYTES + 3 * need + 2**22))
    waves = fit(data, Model(units=UNITS), train, seeds=range(4), chunk_size=1)
    np.testing.assert_array_equal(waves.metrics["train_loss"], whole.metrics["train_loss"])
    monkeypatch.setenv(memory.LIMIT_SETTING, str(need // 2))
    with pytest.raises(TooLargeForMemory, match=r"RTRL sensitivities.*mode stateful with a horizon K"):
        fit(data, Model(units=UNITS), train, seeds=range(4))
