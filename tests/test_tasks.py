"""The blog's tasks: exact label rules, exact balance, reproducible per seed, Keras' batch order."""

import numpy as np
import pytest

from statecarry.data.layout import from_samples
from statecarry.experiments.config import Config
from statecarry.experiments.tasks import make_samples

SMALL = dict(n_train=64, n_test=32)


def samples(task, seed=0, **fields):
    config = Config(task=task, **{**SMALL, **fields})
    return config, make_samples(config, seed)


@pytest.mark.parametrize("task", ["first-step", "prev-batch", "prev-sample"])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_step_zero_is_one_in_exactly_half_the_samples_and_later_steps_are_bits(task, seed):
    batch_size = 1 if task == "prev-sample" else 4
    _, (train, test) = samples(task, seed, batch_size=batch_size)
    for s in (train, test):
        n = len(s.x)
        assert s.x.shape == (n, 5, 1) and s.x.dtype == np.float32
        assert s.y.shape == (n, 1) and s.y.dtype == np.float32
        assert set(np.unique(s.x[:, 0, 0])) == {0.0, 1.0}
        assert s.x[:, 0, 0].sum() == n // 2
        later = s.x[:, 1:, 0]
        assert set(np.unique(later)) == {0.0, 1.0}
        # Later steps are noise, not a copy of step 0 (roughly half ones).
        assert 0.35 < later.mean() < 0.65


def test_first_step_label_is_the_first_step_of_the_same_sample():
    _, (train, test) = samples("first-step", 3)
    for s in (train, test):
        np.testing.assert_array_equal(s.y[:, 0], s.x[:, 0, 0])
        assert s.known.all()


@pytest.mark.parametrize("batch_size", [1, 4, 8])
def test_prev_batch_label_is_the_first_step_of_the_collocated_sample_one_batch_back(batch_size):
    _, (train, test) = samples("prev-batch", 5, batch_size=batch_size)
    for s in (train, test):
        n = len(s.x)
        for i in range(batch_size, n):
            assert s.y[i, 0] == s.x[i - batch_size, 0, 0], i
        np.testing.assert_array_equal(s.known, np.arange(n) >= batch_size)
        assert set(np.unique(s.y[:batch_size])) <= {0.0, 1.0}


def test_prev_batch_first_batch_labels_are_random_not_a_function_of_the_inputs():
    firsts = np.stack([samples("prev-batch", seed)[1][0].y[:4, 0] for seed in range(40)])
    assert set(np.unique(firsts)) == {0.0, 1.0}
    # Not the first step of the same sample or of the last sample: a fair coin of their own.
    assert 0.3 < firsts.mean() < 0.7
    same = [
        np.array_equal(samples("prev-batch", seed)[1][0].y[:4, 0], samples("prev-batch", seed)[1][0].x[:4, 0, 0])
        for seed in range(10)
    ]
    assert not all(same)


def test_prev_sample_label_is_the_first_step_of_the_previous_sample():
    _, (train, test) = samples("prev-sample", 2, batch_size=1)
    for s in (train, test):
        np.testing.assert_array_equal(s.y[1:, 0], s.x[:-1, 0, 0])
        assert not s.known[0] and s.known[1:].all()
        assert s.y[0, 0] in (0.0, 1.0)


def test_random_labels_are_bits_independent_of_uniform_inputs():
    config = Config(task="random-labels", n_train=1024, n_test=256)
    train, test = make_samples(config, 0)
    assert set(np.unique(train.y)) == {0.0, 1.0}
    assert 0.45 < train.y.mean() < 0.55
    assert ((train.x >= 0) & (train.x < 1)).all() and len(np.unique(train.x)) > 1000
    assert not train.known.any() and not test.known.any()
    # The label agrees with the rounded first step about half the time: nothing to learn.
    assert 0.42 < (np.round(train.x[:, 0, 0]) == train.y[:, 0]).mean() < 0.58


@pytest.mark.parametrize("task", ["first-step", "prev-batch", "random-labels"])
def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(task):
    _, (a_train, a_test) = samples(task, 11)
    _, (b_train, b_test) = samples(task, 11)
    _, (c_train, _) = samples(task, 12)
    for a, b in ((a_train, b_train), (a_test, b_test)):
        for field in ("x", "y", "known"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a_train.x, c_train.x)
    assert not np.array_equal(a_train.x[: len(a_test.x)], a_test.x)  # test set is not the train set


def test_data_seed_pins_the_data_whatever_the_run_seed():
    config = Config(task="first-step", data_seed=7, **SMALL)
    pinned = [make_samples(config, seed) for seed in (0, 1, 99)]
    own = make_samples(Config(task="first-step", **SMALL), 7)
    for train, test in pinned:
        np.testing.assert_array_equal(train.x, own[0].x)
        np.testing.assert_array_equal(test.y, own[1].y)


@pytest.mark.parametrize("task", ["first-step", "prev-batch"])
def test_marker_adds_a_feature_that_is_one_exactly_at_step_zero(task):
    _, (plain, _) = samples(task, 4)
    config, (marked, marked_test) = samples(task, 4, marker=True)
    assert config.features == 2
    for s in (marked, marked_test):
        assert s.x.shape[-1] == 2
        expected = np.zeros(s.x.shape[:2], np.float32)
        expected[:, 0] = 1
        np.testing.assert_array_equal(s.x[..., 1], expected)
    np.testing.assert_array_equal(marked.x[..., :1], plain.x)  # the task's own input unchanged
    np.testing.assert_array_equal(marked.y, plain.y)


@pytest.mark.parametrize("batch_size", [1, 4, 8])
def test_from_samples_puts_sample_n_at_batch_n_div_b_row_n_mod_b_with_the_target_last(batch_size):
    config, (train, _) = samples("prev-batch", 9, batch_size=batch_size)
    b = from_samples(train.x, train.y, batch_size, train.known)
    n, t = len(train.x), config.time_steps
    assert b.x.shape == (n // batch_size, batch_size, t, 1)
    assert b.y.shape == (n // batch_size, batch_size, t, 1)
    for i in range(n):
        k, r = divmod(i, batch_size)
        np.testing.assert_array_equal(b.x[k, r], train.x[i])
        assert b.y[k, r, -1, 0] == train.y[i, 0]
        assert (b.y[k, r, :-1] == 0).all()
        np.testing.assert_array_equal(b.weight[k, r], [0] * (t - 1) + [1])
        np.testing.assert_array_equal(b.known[k, r], [False] * (t - 1) + [bool(train.known[i])])
    assert not b.reset.any()  # whether state carries is the engine's mode, not the data's
    assert b.n_batches == n // batch_size and b.batch_size == batch_size


@pytest.mark.parametrize("distance", [2, 5])
def test_prev_batch_at_distance_d_reads_the_collocated_sample_d_batches_back(distance):
    _, (train, _) = samples("prev-batch", 6, batch_size=4, distance=distance)
    lag = 4 * distance
    n = len(train.x)
    batches = from_samples(train.x, train.y, 4, train.known)
    for i in range(lag, n):
        assert train.y[i, 0] == train.x[i - lag, 0, 0], i
        # in the layout: same row, `distance` batches earlier
        b, r = divmod(i, 4)
        assert batches.y[b, r, -1, 0] == batches.x[b - distance, r, 0, 0]
    np.testing.assert_array_equal(train.known, np.arange(n) >= lag)


def test_distance_is_refused_for_a_task_without_one():
    from statecarry.errors import ConfigError

    with pytest.raises(ConfigError, match="first-step has no distance"):
        Config(task="first-step", distance=2)
    with pytest.raises(ConfigError, match="distance"):
        Config(task="prev-batch", distance=0)


@pytest.mark.parametrize("task", ["prev-batch", "copy"])
def test_a_distance_past_the_test_set_is_refused_since_no_test_label_would_be_determined(task):
    """`--distance 300` trained and showed "nan% — (no finite seed)" solved: its test set of 64
    batches has no sample whose label lies 300 batches back inside it."""
    from statecarry import ConfigError

    with pytest.raises(ConfigError, match="distance 300 reaches past the test set's 64 batches.*up to 63"):
        Config(task=task, distance=300)
    with pytest.raises(ConfigError, match="give --n-test at least 12"):
        Config(task=task, distance=2, n_train=8, n_test=4)
    Config(task=task, n_train=4, n_test=4)  # distance 1 on one test batch: the gradient tests' size
    config = Config(task=task, distance=63)
    _, test = make_samples(config, 0)
    assert test.known.any()  # the largest distance allowed still determines some test labels
    # the CLI refuses distance 1 on one test batch too ("— (no finite seed)" was its whole table)
    from click.testing import CliRunner

    from statecarry.cli import cli

    one = CliRunner().invoke(cli, ["run", task, "--n-test", "4", "--seeds", "2", "--no-store"])
    assert one.exit_code == 2 and one.output == ("Error: --distance 1 reaches past the test set's 1 batch, so no "
                                                 "test label is determined by the inputs (nothing could be solved); "
                                                 "give --n-test at least 8.\n")  # fmt: skip
    _, one_batch = make_samples(Config(task=task, n_train=4, n_test=4), 0)
    assert not one_batch.known.any()  # what the refusal says: nothing to score
