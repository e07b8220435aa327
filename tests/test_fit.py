"""`fit`, the one many-seed loop: every form of data gives each seed what it gets alone,
chunking changes nothing, metrics fit the head, bad data is refused before anything compiles,
and a diverging seed is named without spoiling the others.

Most tests share one tiny setup (LSTM(3), a linear head, 4 batches of 2 streams x 3 steps),
so its compiled programs are built once for the module.
"""

import jax
import numpy as np
import pytest

from statecarry.core import runtime
from statecarry.core.fit import fit
from statecarry.core.spec import Model, Train
from statecarry.data.layout import Batches, from_series
from statecarry.errors import ConfigError, DataError

B, T = 2, 3
MODEL = Model(cell="lstm", units=3, head="linear")  # features and outputs from the data
TRAIN = Train(epochs=2, learning_rate=0.01)
SEEDS = [0, 1, 2]  # two chunks of two on two devices, the last one padded


def series(k: int, n: int = 52, features: int = 1) -> np.ndarray:
    """Seed k's own series: a sine with its own phase and a little noise."""
    rng = np.random.default_rng(100 + k)
    t = np.arange(n)[:, None] + 3 * k + np.arange(features)[None, :]
    return (np.sin(t / 3.0) + 0.1 * rng.standard_normal((n, features))).astype(np.float32)


def data(k: int) -> tuple[Batches, Batches]:
    """Seed k's (train, test): the first and second part of its series."""
    s = series(k)
    return from_series(s[:26], B, T), from_series(s[26:], B, T)


def stack(items: list[Batches]) -> Batches:
    return Batches(*(np.stack(parts) for parts in zip(*items)))


def alone(seed: int, train: Batches, test: Batches | None, model=MODEL, spec=TRAIN):
    return fit(train, model, spec, [seed], test)


def assert_same_seed(many, k: int, one, exact: bool = False) -> None:
    """Seed position k of `many` has the numbers of the single-seed run `one`."""
    assert set(many.metrics) == set(one.metrics)
    for name in many.metrics:
        got, want = many.metrics[name][:, k], one.metrics[name][:, 0]
        if exact:
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
    seed = many.seeds[k]
    for a, b in zip(jax.tree.leaves(many.params_of(seed)), jax.tree.leaves(one.params_of(seed)), strict=True):
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def shared():
    """One data set for every seed (seed 0's): seeds vary the initialisation only."""
    train, test = data(0)
    return train, test, fit(train, MODEL, TRAIN, SEEDS, test)


# -- the three forms of data -----------------------------------------------------------------


def test_shared_batches_give_each_seed_its_run_alone(shared):
    train, test, many = shared
    assert many.seeds == SEEDS and many.metrics["train_loss"].shape == (TRAIN.epochs, len(SEEDS))
    for k, seed in enumerate(SEEDS):
        assert_same_seed(many, k, alone(seed, train, test))
    # the seeds are independent runs, not copies of one
    assert len(set(many.metrics["train_loss"][-1].tolist())) == len(SEEDS)


def test_batches_with_a_seed_axis_give_each_seed_its_own_data_alone():
    pairs = [data(k) for k in range(len(SEEDS))]
    many = fit(stack([p[0] for p in pairs]), MODEL, TRAIN, SEEDS, stack([p[1] for p in pairs]))
    for k, seed in enumerate(SEEDS):
        assert_same_seed(many, k, alone(seed, *pairs[k]))


def test_a_data_function_gives_each_seed_its_own_data_alone():
    calls = []

    def make(seed):
        calls.append(seed)
        return data(seed)

    many = fit(make, MODEL, TRAIN, SEEDS)
    assert set(calls) == set(SEEDS)
    for k, seed in enumerate(SEEDS):
        assert_same_seed(many, k, alone(seed, *data(seed)))
    # and the seed-axis form: per-seed data, not seed 0's data shared
    train, test = data(0)
    assert not np.allclose(many.metrics["train_loss"][:, 1], alone(1, train, test).metrics["train_loss"][:, 0])


def test_chunks_of_one_seed_give_identical_numbers(shared):
    train, test, many = shared
    one_by_one = fit(train, MODEL, TRAIN, SEEDS, test, chunk_size=1)
    assert one_by_one.seeds == many.seeds and set(one_by_one.metrics) == set(many.metrics)
    for name in many.metrics:
        np.testing.assert_array_equal(one_by_one.metrics[name], many.metrics[name], err_msg=name)
    for a, b in zip(jax.tree.leaves(one_by_one.params), jax.tree.leaves(many.params), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(one_by_one.state), jax.tree.leaves(many.state), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_same_call_twice_gives_identical_numbers(shared):
    train, test, first = shared
    again = fit(train, MODEL, TRAIN, SEEDS, test)
    for name in first.metrics:
        np.testing.assert_array_equal(first.metrics[name], again.metrics[name], err_msg=name)
    for a, b in zip(jax.tree.leaves(first.params), jax.tree.leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)


# -- what comes back ---------------------------------------------------------------------------


def test_metric_names_follow_the_head_and_the_known_steps(shared):
    _, _, linear = shared
    assert sorted(linear.metrics) == sorted(
        f"{part}_{m}" for part in ("train", "test") for m in ("loss", "rmse", "mae")
    )
    assert all(np.isfinite(v).all() for v in linear.metrics.values())

    train = from_series(0.5 + 0.4 * np.sin(np.arange(26) / 3.0), B, T)  # targets in [0, 1]
    sigmoid = Model(units=3, head="sigmoid")
    plain = fit(train, sigmoid, TRAIN, [0])
    assert sorted(plain.metrics) == ["train_acc", "train_loss"]  # no test set, nothing known
    known = train._replace(known=np.zeros_like(train.known))
    known.known[0, 0, 1] = True  # one determined step is enough
    marked = fit(known, sigmoid, TRAIN, [0])
    assert sorted(marked.metrics) == ["train_acc", "train_known_acc", "train_loss"]
    assert marked.metrics["train_known_acc"][0, 0] in (0.0, 1.0)  # one step: right or wrong

    labels = train._replace(y=(train.y > 0.5).astype(np.float32) + (train.y > 0.8))  # classes 0-2
    softmax = fit(labels, Model(units=3, head="softmax"), TRAIN, [0])
    assert softmax.model.outputs == 3
    assert sorted(softmax.metrics) == ["train_acc", "train_loss"]


def test_features_and_outputs_are_read_from_the_data(shared):
    _, _, result = shared
    assert (result.model.features, result.model.outputs) == (1, 1)
    assert MODEL.features is None  # the spec given is not changed
    three = series(0, features=3)
    train = from_series(three, B, T, target=0)
    assert train.x.shape[-1] == 3 and train.y.shape[-1] == 1
    fitted = fit(train, MODEL, TRAIN, [0])
    assert (fitted.model.features, fitted.model.outputs) == (3, 1)
    assert fitted.params_of(0)["lstm"]["kernel"].shape == (3, 4 * MODEL.units)
    assert np.isfinite(fitted.metrics["train_loss"]).all()


def test_params_of_a_seed_not_trained_raises_data_error(shared):
    _, _, result = shared
    assert result.params_of(2)["dense"]["kernel"].shape == (3, 1)
    with pytest.raises(DataError, match="seed 7 was not trained here; the seeds are 0, 1, 2"):
        result.params_of(7)


# -- refused before anything compiles ---------------------------------------------------------


@pytest.fixture
def no_compile(monkeypatch):
    """Fail the test if `fit` gets as far as compiling."""

    def compiled(*args, **kwargs):
        raise AssertionError("fit compiled a program before refusing the data")

    monkeypatch.setattr(runtime, "executable", compiled)


def test_a_model_for_one_feature_refuses_three_before_compiling(no_compile):
    train = from_series(series(0, features=3), B, T, target=0)
    with pytest.raises(DataError, match="reads 1 feature.* the training data has 3"):
        fit(train, MODEL.replace(features=1), TRAIN, [0])


def test_nan_in_the_inputs_raises_data_error(no_compile):
    train, _ = data(0)
    x = train.x.copy()
    x[1, 0, 2, 0] = np.nan
    with pytest.raises(DataError, match=r"x has a NaN or infinite value at \(1, 0, 2, 0\)"):
        fit(train._replace(x=x), MODEL, TRAIN, [0])


def test_a_class_index_past_the_models_outputs_raises_data_error(no_compile):
    train, _ = data(0)
    labels = train._replace(y=np.where(train.weight[..., None] > 0, 1.0, 0.0).astype(np.float32))
    labels.y[2, 1, 0, 0] = 3.0
    with pytest.raises(DataError, match="class index 3, past the model's 3 classes"):
        fit(labels, Model(units=3, head="softmax", outputs=3), TRAIN, [0])


def test_targets_outside_0_1_with_bce_raise_data_error(no_compile):
    train, _ = data(0)
    bad = train._replace(y=np.clip(train.y, 0, 1))
    bad.y[0, 1, 1, 0] = 1.5
    with pytest.raises(DataError, match="targets outside \\[0, 1\\].*bce"):
        fit(bad, Model(units=3, head="sigmoid"), Train(loss="bce"), [0])


def test_a_horizon_longer_than_the_epoch_raises_config_error(no_compile):
    train, _ = data(0)
    assert train.n_batches == 4
    with pytest.raises(ConfigError, match="horizon 5 is longer than an epoch \\(4 batches\\)"):
        fit(train, MODEL, TRAIN.replace(horizon=5), [0])


# -- divergence --------------------------------------------------------------------------------


def test_a_diverging_seed_is_named_with_its_first_epoch_and_the_others_are_kept():
    """Seed 1's targets are huge (finite, but their squared error is not): only it diverges."""
    (a, test_a), (b, test_b) = data(0), data(1)
    huge = b._replace(y=b.y * np.float32(1e30))
    assert np.isfinite(huge.y).all() and np.isfinite(huge.x).all()
    spec = TRAIN.replace(epochs=3)
    result = fit(stack([a, huge]), MODEL, spec, [0, 1], stack([test_a, test_b]))
    assert result.diverged == {1: 0}  # the first epoch, counted from 0 as `metrics` rows are
    assert "seed 1 in epoch 0" in result.divergence_message() and "seed 0" not in result.divergence_message()
    assert not np.isfinite(result.metrics["train_loss"][:, 1]).any()
    for name, values in result.metrics.items():
        assert np.isfinite(values[:, 0]).all(), name
    # seed 0 is exactly what it is alone: a NaN elsewhere in the vmap does not reach it
    assert_same_seed(result, 0, alone(0, a, test_a, spec=spec))
    healthy = fit(a, MODEL, spec, [0, 1], test_a)
    assert healthy.diverged == {} and healthy.divergence_message() is None


def test_every_seeds_data_is_checked_not_only_the_first_seeds():
    (a, test_a), (b, test_b) = data(0), data(1)
    x = b.x.copy()
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fit(stack([a, b._replace(x=x)]), MODEL, TRAIN, [0, 1], stack([test_a, test_b]))


# -- several Trains side by side ---------------------------------------------------------------

RATES = (0.01, 0.003, 0.03)


@pytest.mark.parametrize("form", ["shared", "seed axis"])
def test_trains_side_by_side_give_each_train_and_seed_its_run_alone(form):
    """Learning rates and Adam's betas/epsilon differ per lane in one program: each (train, seed)
    has exactly the numbers of its own `fit` (the oracle), and the lanes are not copies."""
    specs = [TRAIN.replace(learning_rate=lr) for lr in RATES[:2]]
    specs.append(TRAIN.replace(learning_rate=RATES[2], beta1=0.8, beta2=0.99, adam_eps=1e-5))
    if form == "shared":
        train, test = data(0)
        per_seed = {s: (train, test) for s in SEEDS}
    else:
        pairs = [data(k) for k in range(len(SEEDS))]
        train, test = stack([p[0] for p in pairs]), stack([p[1] for p in pairs])
        per_seed = dict(zip(SEEDS, pairs, strict=True))
    fits = fit(train, MODEL, specs, SEEDS, test)
    assert isinstance(fits, list) and [f.train for f in fits] == specs
    for spec, many in zip(specs, fits, strict=True):
        assert many.seeds == SEEDS
        for k, seed in enumerate(SEEDS):
            assert_same_seed(many, k, alone(seed, *per_seed[seed], spec=spec), exact=True)
    finals = {float(f.metrics["train_loss"][-1, 0]) for f in fits}
    assert len(finals) == len(specs)


def test_one_train_in_a_list_gives_a_list_of_one_with_the_single_runs_numbers(shared):
    train, test, many = shared
    (listed,) = fit(train, MODEL, [TRAIN], SEEDS, test)
    for name in many.metrics:
        np.testing.assert_array_equal(listed.metrics[name], many.metrics[name], err_msg=name)


def test_a_diverging_lane_is_named_in_its_own_trains_fit_only():
    """An absurd learning rate diverges its lanes; the sensible train's fit names none."""
    train, test = data(0)
    spec = TRAIN.replace(epochs=3)
    calm, wild = fit(train, MODEL, [spec, spec.replace(learning_rate=1e30)], [0, 1], test)
    assert calm.diverged == {} and set(wild.diverged) == {0, 1}
    assert "a learning rate below 1 (Adam's default is 1e-3)" in wild.divergence_message()


@pytest.mark.parametrize("other", [TRAIN.replace(epochs=3), TRAIN.replace(horizon=2), "lr"])
def test_trains_that_need_different_programs_are_refused_in_one_sentence(other):
    train, test = data(0)
    with pytest.raises(ConfigError, match="side by side may differ only|non-empty list"):
        fit(train, MODEL, [TRAIN, other], SEEDS, test)
