"""The loss as data: Trains that differ in their loss run side by side in one program, which
computes every loss the head allows and keeps each lane's. The oracle is each Train's own `fit`,
whose program has its loss as a constant."""

import numpy as np
import pytest

from statecarry.core import engine, runtime
from statecarry.core.fit import fit
from statecarry.core.spec import Model, Train
from statecarry.data.layout import from_series
from statecarry.errors import ConfigError

SEEDS = [0, 1, 2]


def data():
    s = ((np.sin(np.arange(80.0) / 3.0) + 1) / 2).astype(np.float32)  # targets in [0, 1]
    return from_series(s[:56], 2, 4), from_series(s[56:], 2, 4)


@pytest.mark.parametrize(
    "model, base",
    [
        (Model(units=3, head="sigmoid"), Train(epochs=2, learning_rate=0.02)),  # seeds in the lanes
        (Model(units=3, head="sigmoid"), Train(mode="rtrl", epochs=2, learning_rate=0.02)),  # vmap
    ],
    ids=["lanes", "rtrl"],
)
def test_trains_with_different_losses_share_one_program_each_with_its_own_numbers(model, base):
    train, test = data()
    specs = [base.replace(loss="bce"), base.replace(loss="mse", learning_rate=0.01)]
    runtime.clear_cache()
    before = engine.TRACES.get("run_epoch_seeds", 0)
    fits = fit(train, model, specs, SEEDS, test)
    assert engine.TRACES["run_epoch_seeds"] == before + 1  # one program for both losses
    for spec, many in zip(specs, fits, strict=True):
        alone = fit(train, model, spec, SEEDS, test)
        for name in alone.metrics:  # the same run, to float32 rounding (the sums' fusion differs)
            np.testing.assert_allclose(many.metrics[name], alone.metrics[name], rtol=1e-5, atol=1e-7, err_msg=name)
    bce, mse = (f.metrics["train_loss"][0] for f in fits)
    assert np.all(bce > 2 * mse)  # binary cross-entropy, not a copy of the squared error


def test_a_loss_that_does_not_fit_the_head_is_one_sentence():
    train, test = data()
    with pytest.raises(ConfigError, match="does not fit a linear head"):
        fit(train, Model(units=3, head="linear"), [Train(), Train(loss="bce")], SEEDS, test)


def test_trains_that_differ_in_more_than_data_are_still_refused():
    train, test = data()
    with pytest.raises(ConfigError, match="may differ only in learning_rate, beta1, beta2, adam_eps and loss"):
        fit(train, Model(units=3), [Train(loss="bce"), Train(loss="mse", horizon=2)], SEEDS, test)
