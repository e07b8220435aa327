"""`statecarry doctor`: every finding on a setup that has the problem and on one that does not."""

import json

import jax
import numpy as np
import pytest
from click.testing import CliRunner

from statecarry import ConfigError, DataError, doctor
from statecarry.cli import cli
from statecarry.doctor import Probe, ProbeFailed, Setup
from statecarry.experiments.config import Config
from statecarry.experiments.tasks import make_samples

# A stateful setup with nothing wrong: whole batches, no shuffle, a reset per epoch.
CLEAN = {"n_train": 1024, "batch_size": 4, "stateful": True, "shuffle": False, "reset": "epoch"}


def codes(setup=None, **changes):
    return [f.code for f in doctor.check_setup(setup or Setup(**(CLEAN | changes)))]


def finding(code, **changes):
    found = [f for f in doctor.check_setup(Setup(**(CLEAN | changes))) if f.code == code]
    assert len(found) == 1, f"expected exactly one {code}"
    return found[0]


def test_the_clean_setup_has_no_findings():
    assert codes() == []


def test_batch_size_that_does_not_divide_the_training_or_validation_set():
    f = finding("batch-size-divides", n_train=1000, batch_size=32)
    assert f.severity == "error" and "8 samples" in f.message and "992 or 1024" in f.fix
    assert codes(n_train=1000, batch_size=25) == []  # 25 divides 1000
    assert "batch-size-divides" in codes(n_validation=250)
    assert "batch-size-divides" not in codes(n_validation=256)
    assert "batch-size-divides" not in codes(n_train=1000, batch_size=32, stateful=False)
    small = finding("batch-size-divides", n_train=100, batch_size=1000)  # no smaller multiple
    assert small.fix.startswith("use 1000 samples, or a batch_size that divides 100")  # was "1000 or 1000"


def test_fit_batch_size_different_from_the_models():
    assert finding("model-batch-size", model_batch_size=8).severity == "error"
    assert codes(model_batch_size=4) == []


def test_shuffling_with_a_stateful_layer():
    assert finding("shuffle-stateful", shuffle=True).severity == "error"
    assert codes(shuffle=True, stateful=False) == []
    assert Setup(n_train=8).shuffle is True  # Keras' fit default, so silence is not "no shuffle"


def test_no_reset_policy():
    assert finding("no-reset", reset=None).severity == "warning"
    assert finding("no-reset", reset="never").severity == "warning"
    assert codes(reset=64) == []  # every 64 batches is a policy
    # --reset epoch without --n-train: it resets (told to "reset at every epoch" it already did),
    # but sequences shorter than an epoch still flow into each other
    assert codes(reset="epoch", n_train=None) == []
    for sequence in (1, 3):
        leak = finding("state-leaks", reset="epoch", n_train=None, batches_per_sequence=sequence)
        assert sequence == 1 or "reset only where an epoch starts" in leak.message
    assert finding("reset-every-batch", reset="batch").severity == "info"


@pytest.mark.parametrize(
    "sequence, reset, expected",
    [
        (1, "epoch", "state-leaks"),  # independent samples, state carried between them
        (1, "batch", "reset-every-batch"),  # stateless in effect: says so, nothing leaks
        (8, "epoch", "state-leaks"),  # sequences of 8 batches, reset only per epoch
        (8, 3, ["state-leaks", "reset-inside-sequence"]),  # off the starts, and cutting inside them
        (8, 8, None),
        (8, 4, "reset-inside-sequence"),  # falls on starts, but also cuts every sequence
        (256, "epoch", None),  # one stream per row through the whole epoch
    ],
)
def test_state_leaking_between_independent_sequences(sequence, reset, expected):
    found = codes(batches_per_sequence=sequence, reset=reset)
    assert found == (expected if isinstance(expected, list) else [expected] if expected else [])
    if expected == "state-leaks":
        assert finding(expected, batches_per_sequence=sequence, reset=reset).severity == "error"


def test_validation_and_evaluate_overwrite_the_training_state():
    f = finding("eval-overwrites-state", validation=True, reset=None)
    assert f.severity == "error" and "next epoch" in f.message  # nothing wipes it before training
    assert (
        finding("eval-overwrites-state", n_validation=256).severity == "warning"
    )  # reset per epoch
    assert (
        finding("eval-overwrites-state", evaluates=True, reset=128).severity == "warning"
    )  # 256 % 128 == 0
    assert (
        finding("eval-overwrites-state", evaluates=True, reset=100, n_train=1000).severity
        == "error"
    )
    assert codes(validation=True, stateful=False, shuffle=True) == []


def test_label_in_an_earlier_batch_while_the_gradient_stops_at_the_boundary():
    f = finding("gradient-stops", label_lag=4)  # prev-batch with batch 4: one batch back
    assert f.severity == "error" and "--horizon 2" in f.fix and "rtrl" in f.fix
    assert "--horizon 3" in finding("gradient-stops", label_lag=8).fix
    reset = finding("gradient-stops", label_lag=4, reset=1)
    assert "reset every 1" in reset.message  # no horizon outlives a reset: that fix comes first
    assert reset.fix.startswith("first stop resetting every 1 batch(es) (a label needs the state of 1 batch(es) back")
    short = finding("gradient-stops", label_lag=12, batch_size=4, n_train=8)  # an epoch of 2 batches, lag 3
    assert short.fix.startswith("first make an epoch longer than 3 batch(es) (more samples)")
    assert codes(label_lag=0) == []


def test_label_in_another_row_or_without_any_state():
    f = finding("label-other-row", label_lag=1)  # prev-sample with batch 4: row n-1
    assert f.severity == "error" and "batch_size=1" in f.fix
    assert finding("label-needs-state", label_lag=4, stateful=False).severity == "error"
    assert codes(label_lag=1, batch_size=1) == ["gradient-stops"]  # same row, one batch back
    # the batch size suggested divides n_train too, or it would lead into batch-size-divides
    assert "batch_size=5 puts it 1 batch(es) back" in finding("label-other-row", label_lag=5, n_train=None).fix
    assert "batch_size=1 puts it 5" in finding("label-other-row", label_lag=5, n_train=1024).fix
    assert "batch_size=5 puts it 1" in finding("label-other-row", label_lag=5, n_train=1000).fix
    assert "batch-size-divides" not in codes(label_lag=5, n_train=1000, batch_size=5)


def test_bad_setups_are_one_sentence_errors():
    with pytest.raises(ConfigError, match="reset"):
        Setup(n_train=8, reset="sometimes")
    with pytest.raises(ConfigError, match="batch-size"):
        Setup(n_train=8, batch_size=0)


# -- labels that depend on earlier samples, found in the data: the real tasks are the oracle ----
@pytest.mark.parametrize(
    "task, batch_size, lag",
    [
        ("prev-batch", 4, 4),
        ("prev-batch", 8, 8),
        ("prev-sample", 1, 1),
        ("first-step", 4, None),
        ("random-labels", 4, None),
    ],
)
def test_detect_label_lag_finds_the_tasks_own_lag(task, batch_size, lag):
    train, _ = make_samples(Config(task=task, batch_size=batch_size), 0)
    found = doctor.detect_label_lag(train.x, train.y, max_lag=16)
    assert (found[0] if found else None) == lag


# -- does this Keras carry state? ------------------------------------------------------------
def probe(call=True, predict=True, fit=True):
    return Probe("3.x", "jax", call, predict, fit)


def test_probe_findings_for_every_outcome():
    assert doctor.probe_findings(probe()) == []  # a backend that carries state everywhere
    f = doctor.probe_findings(probe(fit=False, predict=False))
    assert [x.code for x in f] == ["keras-fit-no-state"] and f[0].severity == "error"
    assert "reset/carry manually or use statecarry" in f[0].fix.replace(
        " (a loop of direct calls with your own optimizer step)", ""
    )
    assert "predict" not in doctor.probe_findings(probe(fit=False))[0].message.split("(")[1]
    assert [x.code for x in doctor.probe_findings(probe(call=False))] == ["keras-call-no-state"]
    assert doctor.probe_findings(None)[0].code == "keras-missing"
    assert doctor.probe_findings(ProbeFailed("no tensorflow"))[0].severity == "warning"


keras = pytest.importorskip("keras")


@pytest.fixture
def allow_ranks():
    """Keras' own layers rely on rank promotion; our code is held to "raise" elsewhere."""
    with jax.numpy_rank_promotion("allow"):
        yield


def keras_lstm(stateful, batch=4):
    return keras.Sequential(
        [
            keras.Input(batch_shape=(batch, 5, 1)),
            keras.layers.LSTM(3, stateful=stateful),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def test_probe_agrees_with_what_the_layer_does_after_fit(allow_ranks):
    result = doctor.probe_keras()
    # Independent observation, same question: after fit, is a stateful layer's state still zero?
    model = keras_lstm(True, batch=2)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(1).random((8, 5, 1)).astype(np.float32)
    model.fit(x, np.ones((8, 1), np.float32), batch_size=2, epochs=1, shuffle=False, verbose=0)
    still_zero = all(np.abs(np.asarray(v.value)).max() == 0 for v in model.layers[0].states)
    # ...and do direct calls carry it (test_model.py checks this against our own LSTM)?
    a, b = np.asarray(model(x[:2])), np.asarray(model(x[:2]))
    assert result.backend == keras.backend.backend() and result.keras_version == keras.__version__
    assert result.call_carries == (np.abs(a - b).max() > 1e-6)
    assert result.fit_moves_state == (not still_zero)
    found = [f.code for f in doctor.probe_findings(result)]
    assert ("keras-fit-no-state" in found) == (still_zero or not result.predict_carries)


def test_check_reads_the_keras_model_and_the_data(allow_ranks):
    train, _ = make_samples(Config(task="first-step"), 0)
    model = keras_lstm(stateful=True)
    found = doctor.check(model, train.x, train.y, shuffle=True, reset="epoch", probe=False)
    assert [f.code for f in found] == ["shuffle-stateful"]  # batch 4 read from the model
    assert doctor.check(model, train.x, train.y, shuffle=False, reset="epoch", probe=False) == []
    assert [
        f.code
        for f in doctor.check(
            model, train.x, train.y, batch_size=32, shuffle=False, reset="epoch", probe=False
        )
    ] == ["model-batch-size"]
    # Stateless with Keras' defaults (shuffle, batch 32) is fine on first-step.
    assert doctor.check(keras_lstm(False, batch=None), train.x, train.y, probe=False) == []


def test_check_finds_the_prev_batch_dependency_in_the_data(allow_ranks):
    train, _ = make_samples(Config(task="prev-batch"), 0)
    found = doctor.check(
        keras_lstm(True), train.x, train.y, shuffle=False, reset="epoch", probe=False
    )
    assert [f.code for f in found] == ["label-lag-detected", "gradient-stops"]
    assert (
        doctor.check(
            keras_lstm(True),
            train.x,
            train.y,
            shuffle=False,
            reset="epoch",
            label_lag=0,
            probe=False,
        )
        == []
    )
    with pytest.raises(DataError, match="one label per sample"):
        doctor.check(keras_lstm(True), train.x, train.y[:-1], probe=False)


# -- the command line --------------------------------------------------------------------------
def test_cli_exit_codes_and_output():
    runner = CliRunner()
    clean = runner.invoke(
        cli,
        [
            "doctor",
            "--n-train",
            "1024",
            "--batch-size",
            "4",
            "--no-shuffle",
            "--reset",
            "epoch",
            "--no-probe",
        ],
    )
    assert clean.exit_code == 0 and "no problems found" in clean.output
    bad = runner.invoke(
        cli,
        [
            "doctor",
            "--n-train",
            "1000",
            "--batch-size",
            "32",
            "--shuffle",
            "--validation",
            "--no-probe",
        ],
    )
    assert bad.exit_code == 1
    for code in ("batch-size-divides", "shuffle-stateful", "eval-overwrites-state", "no-reset"):
        assert f": {code}\n" in bad.output
    assert bad.output.count("  fix: ") == 4
    warn_only = runner.invoke(
        cli, ["doctor", "--n-train", "1024", "--batch-size", "4", "--no-shuffle", "--no-probe"]
    )
    assert warn_only.exit_code == 0 and "warning: no-reset" in warn_only.output
    as_json = runner.invoke(
        cli,
        [
            "doctor",
            "--n-train",
            "8",
            "--batch-size",
            "4",
            "--label-lag",
            "4",
            "--no-shuffle",
            "--reset",
            "epoch",
            "--no-probe",
            "--json",
        ],
    )
    data = json.loads(as_json.output)
    assert as_json.exit_code == 1 and data["errors"] is True
    assert [f["code"] for f in data["findings"]] == ["gradient-stops"]


def test_cli_bad_flags_exit_2():
    result = CliRunner().invoke(cli, ["doctor", "--reset", "sometimes", "--no-probe"])
    assert result.exit_code == 2 and "--reset" in result.output


def test_the_divisor_suggested_is_the_nearest_one_found_by_listing_every_divisor():
    from statecarry.doctor.rules import _divisor_near

    def by_listing(n: int, b: int) -> int:  # the old answer: every divisor, then the nearest
        return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - b), d))

    for n in range(1, 400):
        for b in (1, 2, 3, 4, 7, 32, 64, 500):
            assert _divisor_near(n, b) == by_listing(n, b), (n, b)


def test_the_divisor_of_a_prime_or_a_23_digit_size_is_found_without_listing():
    from statecarry.doctor.rules import _divisor_near

    assert _divisor_near(1_000_000_007, 32) == 1  # a prime: only 1 and itself
    n = 2**5 * 7**25  # 23 digits, factors known: 28 = 4 * 7 divides it, 29..35 but 32 do not
    assert len(str(n)) == 23 and _divisor_near(n, 31) == 32 and _divisor_near(n, 29) == 28
    assert _divisor_near(n, 30) == 28  # 28 and 32 tie at distance 2: the smaller
    big = 10**12 + 1  # b past the stepping window: a divisor of n in closed form
    assert n % _divisor_near(n, big) == 0


def test_doctor_answers_a_23_digit_training_set_with_its_nearest_divisor():
    n = 2**5 * 7**25 + 4  # 23 digits
    result = CliRunner().invoke(cli, ["doctor", "--n-train", str(n), "--batch-size", "32",
                                      "--no-probe", "--json"])  # fmt: skip
    found = {f["code"]: f for f in json.loads(result.stdout)["findings"]}
    # any divisor nearer 32 than 1 is below 64: listing those is the oracle
    nearest = min((d for d in range(1, 64) if n % d == 0), key=lambda d: (abs(d - 32), d))
    assert nearest == 38 and f"(e.g. {nearest})" in found["batch-size-divides"]["fix"]
