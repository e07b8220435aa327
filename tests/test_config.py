"""Bad input: every mistake of the issue is a ConfigError whose one sentence names the value."""

import math
import re

import pytest

from statecarry.errors import ConfigError, StatecarryError
from statecarry.experiments.config import Config


def error_of(**fields) -> str:
    with pytest.raises(ConfigError) as info:
        Config(**fields)
    message = str(info.value)
    assert isinstance(info.value, StatecarryError)
    assert "\n" not in message and message.rstrip().endswith((".", "?")), message
    return message


def test_defaults_are_the_blogs_experiment():
    c = Config()
    assert (c.task, c.n_train, c.n_test, c.time_steps, c.batch_size, c.units) == (
        "first-step", 1024, 256, 5, 4, 3,
    )
    assert (c.learning_rate, c.beta1, c.beta2, c.adam_eps, c.loss) == (1e-3, 0.9, 0.999, 1e-7, "mse")
    assert (c.horizon, c.reset, c.carry, c.shuffle, c.features) == (1, "epoch", "hc", False, 1)


def test_unknown_task_is_named_with_the_choices_and_a_close_match():
    message = error_of(task="first-stp")
    assert "'first-stp'" in message
    for task in ("first-step", "prev-batch", "prev-sample", "random-labels"):
        assert task in message
    assert "Did you mean 'first-step'?" in message


@pytest.mark.parametrize(
    "field,value",
    [
        ("n_train", 0), ("n_test", -4), ("batch_size", 0), ("time_steps", 0), ("units", -1),
        ("epochs", 0), ("horizon", 0), ("n_train", 2.5), ("units", True),
    ],
)
def test_non_positive_or_fractional_sizes_are_refused_by_name(field, value):
    message = error_of(**{field: value})
    assert field.replace("_", "-") in message
    assert repr(value) in message


@pytest.mark.parametrize(
    "field,n,batch_size,suggested",
    [
        ("n_train", 1022, 4, ("1020", "1024")),
        ("n_test", 250, 4, ("248", "252")),
        ("n_train", 2, 4, ("4",)),
        ("n_test", 100, 8, ("96", "104")),
    ],
)
def test_a_size_the_batch_does_not_divide_suggests_the_nearest_valid_sizes(field, n, batch_size, suggested):
    message = error_of(**{field: n, "batch_size": batch_size})
    assert f"{n}" in message and f"batch-size {batch_size}" in message
    assert "whole batches" in message
    for size in suggested:
        assert re.search(rf"\b{size}\b", message), (size, message)
        Config(**{field: int(size), "batch_size": batch_size})  # the suggestion is itself valid


@pytest.mark.parametrize("batch_size", [3, 5, 7])
@pytest.mark.parametrize("task", ["first-step", "prev-batch"])
def test_suggested_sizes_are_valid_for_the_task_as_well(task, batch_size):
    """A suggestion must not lead straight into the next error (these tasks need even sizes)."""
    n = 1000 + 1 if 1001 % batch_size else 1000 + 2
    with pytest.raises(ConfigError) as info:
        Config(task=task, n_train=n, batch_size=batch_size)
    for size in re.findall(r"\b(\d+)\b(?= or |, or)", str(info.value)):
        Config(task=task, n_train=int(size), n_test=batch_size * 2, batch_size=batch_size)


def test_odd_sizes_for_the_balanced_tasks_are_refused():
    message = error_of(task="first-step", n_train=9, batch_size=1)
    assert "n-train" in message and "9" in message and "even" in message


def test_prev_sample_needs_batch_size_one():
    message = error_of(task="prev-sample", batch_size=4)
    assert "prev-sample" in message and "batch-size 1" in message and "got 4" in message
    Config(task="prev-sample", batch_size=1)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1e-3])
def test_a_learning_rate_that_is_not_a_finite_non_negative_number_is_refused(value):
    message = error_of(learning_rate=value)
    assert "learning_rate" in message and repr(value) in message


def test_adam_betas_must_be_below_one():
    message = error_of(beta2=1.0)
    assert "1.0" in message and "below 1" in message


def test_horizon_longer_than_an_epoch_is_refused_with_the_longest_allowed():
    message = error_of(horizon=300)  # 1024 / 4 = 256 batches
    assert "300" in message and "256" in message
    Config(horizon=256)


def test_horizon_needs_stateful_mode():
    message = error_of(horizon=2, mode="stateless")
    assert "horizon 2" in message and "stateless" in message and "mode stateful" in message


@pytest.mark.parametrize("field,value", [("mode", "statefull"), ("reset", "batch"), ("carry", "h"), ("loss", "mae")])
def test_unknown_choices_are_named(field, value):
    message = error_of(**{field: value})
    assert repr(value) in message and field in message


def test_replace_rejects_an_unknown_key_by_name():
    with pytest.raises(ConfigError) as info:
        Config().replace(unit=8)
    assert "'unit'" in str(info.value) and "units" in str(info.value)


def test_replace_validates_the_new_values():
    with pytest.raises(ConfigError, match="n-train"):
        Config().replace(n_train=0)
    assert Config().replace(units=8).units == 8


def test_config_is_hashable_and_equal_by_value():
    """jit takes the config as a static argument: equal configs must hash equally."""
    assert hash(Config(units=3)) == hash(Config().replace(units=3))
    assert Config(units=3) != Config(units=4)


def test_marker_adds_a_feature():
    assert Config(marker=True).features == 2
