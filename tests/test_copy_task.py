"""The copy task across batches: its layout against a construction by hand, its checks, and the
multi-bit sigmoid head it needs (bit accuracy = the fraction of bits right)."""

import jax.numpy as jnp
import numpy as np
import pytest

from statecarry.core import heads
from statecarry.errors import ConfigError
from statecarry.experiments.blog import seed_batches
from statecarry.experiments.config import Config

COPY = Config(task="copy", pattern=3, distance=2, batch_size=4, time_steps=6, n_train=64, n_test=32)


def by_hand(x_batched: np.ndarray, pattern: int, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """What every row must recall, read off the batched inputs alone: row r of batch k recalls
    the ±1 pattern at the start of row r of batch k - distance, as 0/1 bits (unknown before)."""
    n_batches, rows = x_batched.shape[:2]
    want = np.full((n_batches, rows, pattern), np.nan)
    for k in range(distance, n_batches):
        for r in range(rows):
            shown = x_batched[k - distance, r, :pattern, 0]
            want[k, r] = [1.0 if v == 1 else 0.0 for v in shown]
    known = np.zeros((n_batches, rows), dtype=bool)
    known[distance:] = True
    return want, known


@pytest.mark.parametrize("config", [COPY, COPY.replace(distance=1, pattern=1), COPY.replace(marker=True, pattern=6)])
def test_copy_targets_are_the_collocated_pattern_distance_batches_back(config):
    for batches in seed_batches(config, seed=7):
        want, known = by_hand(batches.x, config.pattern, config.distance)
        p = config.pattern
        # inputs: the pattern as ±1, then blanks; the marker (if any) is the last feature
        assert set(np.unique(batches.x[:, :, :p, 0])) <= {-1.0, 1.0}
        assert (batches.x[:, :, p:, 0] == 0).all()
        # one target per sample, at its last step, with `pattern` outputs
        assert batches.y.shape[-1] == p
        assert (batches.weight[:, :, -1] == 1).all() and (batches.weight[:, :, :-1] == 0).all()
        np.testing.assert_array_equal(batches.known[:, :, -1], known)
        last = batches.y[:, :, -1]
        np.testing.assert_array_equal(last[known], want[known])
        assert set(np.unique(last)) <= {0.0, 1.0}


def test_copy_data_repeats_for_a_seed_and_differs_across_seeds():
    a, b, c = (seed_batches(COPY, s)[0] for s in (3, 3, 4))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_copy_model_has_one_sigmoid_output_per_bit():
    spec = COPY.model_spec()
    assert (spec.outputs, spec.head) == (3, "sigmoid")
    assert Config(task="prev-batch").model_spec().outputs == 1


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"task": "copy", "pattern": 6, "time_steps": 5}, "use --pattern from 1 to 5"),
        ({"task": "first-step", "pattern": 2}, "pattern 2 is the copy task's"),
        ({"task": "copy", "pattern": 0}, "pattern"),
        ({"task": "first-step", "distance": 2}, "distance 2 is prev-batch's and copy's"),
    ],
)
def test_copy_settings_that_do_not_apply_are_one_sentence(changes, words):
    with pytest.raises(ConfigError, match=words):
        Config(**changes)


def test_bit_accuracy_is_the_fraction_of_bits_right():
    class Batch:  # one batch, 2 rows, 1 step, 3 bits
        y = jnp.array([[[1.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]]])
        weight = jnp.ones((2, 1))
        known = jnp.array([[True], [False]])

    out = jnp.array([[[0.9, 0.2, 0.4]], [[0.1, 0.7, 0.6]]])  # row 0: 2 of 3 right; row 1: 2 of 3
    s = heads.batch_stats(out, Batch, "sigmoid", "bce")
    assert float(s["correct"]) == pytest.approx(4 / 3)
    assert float(s["known_correct"]) == pytest.approx(2 / 3)
    # BCE: the mean over bits of each step's binary cross-entropy, summed over the rows
    p, y = np.asarray(out).reshape(2, 3), np.asarray(Batch.y).reshape(2, 3)
    want = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1).sum()
    assert float(s["loss"]) == pytest.approx(want, rel=1e-5)


def test_the_run_table_of_copy_shows_the_determined_accuracy_and_solves_on_it():
    """The README defines copy's accuracy on the samples whose target is determined; the run
    table showed only the all-sample accuracy and counted "solved" on it."""
    import json

    from click.testing import CliRunner

    from statecarry import stats
    from statecarry.cli import cli

    args = ["run", "copy", "--seeds", "3", "--epochs", "2", "-q", "--no-store"]
    history = json.loads(CliRunner().invoke(cli, args + ["--json"]).stdout)
    text = CliRunner().invoke(cli, args).stdout.splitlines()
    assert "determined acc" in text[1]
    last = next(line for line in text if line.startswith("1 "))
    known = np.array(history["epochs"][-1]["test_known_acc"])
    assert str(stats.mean_ci(known, bounds=stats.ACCURACY)) in last
    solved = stats.solved_fraction(known)
    assert last.rstrip().endswith(f"{solved.mean:.0%} {solved.bracket('.0%')}")
