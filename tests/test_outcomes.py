"""The blog's outcomes over 32 seeds: stateless solves first-step, stateful does clearly worse,
and neither mode can learn prev-batch (its label is in another batch, past the gradient).

The runs are the exact configs `statecarry reproduce` runs (reproduce.BLOG_EXPERIMENTS), so
test_cli's `reproduce --seeds 32` reuses the same compiled programs. Deterministic: fixed seeds.
"""

import numpy as np
import pytest

from statecarry import stats
from statecarry.experiments import blog, reproduce

pytestmark = pytest.mark.slow

SEEDS = list(range(32))


@pytest.fixture(scope="module")
def final_test_acc() -> dict[str, np.ndarray]:
    """Final-epoch test accuracy per seed, one run per experiment for the whole module."""
    out = {}
    for experiment in reproduce.BLOG_EXPERIMENTS:
        assert experiment.config.epochs == 5 and experiment.config.n_train == 1024
        history = blog.run(experiment.config, SEEDS)
        out[experiment.name] = history.final("test_acc")
    return out


def test_first_step_stateless_solves_the_task(final_test_acc):
    acc = final_test_acc["first-step, stateless"]
    assert np.median(acc) >= 0.99, np.sort(acc)


def test_first_step_stateful_is_clearly_worse_than_stateless(final_test_acc):
    stateless = stats.mean_ci(final_test_acc["first-step, stateless"])
    stateful = stats.mean_ci(final_test_acc["first-step, stateful"])
    assert stateless.mean - stateful.mean > 0.2, (stateless, stateful)
    assert stateful.high < stateless.low, (stateless, stateful)  # the CIs do not overlap
    assert stats.solved_fraction(final_test_acc["first-step, stateful"]).mean < 0.25


@pytest.mark.parametrize("name", ["prev-batch, stateless", "prev-batch, stateful"])
def test_prev_batch_stays_at_chance_in_both_modes(final_test_acc, name):
    acc = stats.mean_ci(final_test_acc[name])
    assert abs(acc.mean - 0.5) <= 0.07, acc
    assert stats.solved_fraction(final_test_acc[name]).mean == 0.0
