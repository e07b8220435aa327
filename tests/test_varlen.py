"""Variable-length sequences: padded and packed layouts feed the LSTM the same sequences,
the horizon that covers a packed sequence, `fit` against the plain engine loop, and the
claim's verdict rule."""

import dataclasses
import json

import numpy as np
import pytest

from statecarry.data import padding
from statecarry.data.check import check_layout
from statecarry.data.layout import pack
from statecarry.errors import ConfigError, DataError
from statecarry.experiments import varlen
from statecarry.experiments.config import Config
from statecarry.experiments.tasks import variable_length_sequences

TINY = varlen.Setup(n_train=8, n_test=8, min_length=2, max_length=7, batch_size=4, time_steps=3,
                    units=3, epochs=2)


def data(n=8, seed=0):
    return variable_length_sequences(n, 2, 7, np.random.default_rng(seed))


def test_sequences_have_their_lengths_and_the_label_at_the_first_step():
    seqs, labels = data(40)
    assert all(2 <= len(s) <= 7 for s in seqs)
    np.testing.assert_array_equal([s[0, 0] for s in seqs], labels[:, 0])
    assert labels.sum() == 20  # exactly half the labels are 1, as in the blog's generator


def test_padded_layout_puts_one_sequence_per_row_with_its_label_at_its_end():
    seqs, labels = data()
    batches = padding.pad(seqs, labels, 4, 7)
    assert batches.x.shape == (2, 4, 7, 1)
    for n, seq in enumerate(seqs):
        b, r, last = n // 4, n % 4, len(seq) - 1
        np.testing.assert_array_equal(batches.x[b, r, : len(seq)], seq)
        assert not batches.x[b, r, len(seq) :].any()
        assert batches.reset[b, r].tolist() == [True] + [False] * 6
        assert batches.weight[b, r].tolist() == [float(t == last) for t in range(7)]
        assert batches.y[b, r, last, 0] == labels[n, 0]
    unmasked = padding.pad(seqs, labels, 4, 7, mask=False)
    assert (unmasked.weight[..., -1] == 1).all() and unmasked.weight.sum() == len(seqs)


def test_padding_fraction_counts_empty_slots():
    """Sequences of ones make every real step visible: the padding is the zero slots."""
    seqs, labels = data()
    ones = [np.ones_like(s) for s in seqs]
    lengths = [len(s) for s in seqs]
    for batches in (padding.pad(ones, labels, 4, 7), pack(ones, 4, 3, labels=labels)):
        zero_slots = np.mean(batches.x[..., 0] == 0)
        assert padding.padding_fraction(batches, lengths) == pytest.approx(zero_slots)
    assert padding.padding_fraction(padding.pad(ones, labels, 4, 7), lengths) == pytest.approx(
        np.mean([(7 - n) / 7 for n in lengths])
    )


@pytest.mark.parametrize("max_length, time_steps", [(7, 3), (20, 20), (40, 20), (5, 1), (9, 4)])
def test_covering_horizon_is_the_most_windows_a_sequence_can_span(max_length, time_steps):
    most = max(
        (start + length - 1) // time_steps - start // time_steps + 1
        for length in range(1, max_length + 1)
        for start in range(3 * time_steps)
    )
    assert padding.covering_horizon(max_length, time_steps) == most


def test_padded_packed_and_alone_give_the_same_predictions():
    """At fixed parameters, every sequence's prediction at its last step is the same whether
    it is padded (one per row, masked), packed with resets, or run alone from a zero state."""
    import jax
    import jax.numpy as jnp

    from statecarry.core import cells
    from statecarry.core.predict import predict
    from statecarry.core.spec import Model, Train

    seqs, labels = data(11, seed=3)
    lengths = [len(s) for s in seqs]
    model = Model(cell="lstm", units=3, head="sigmoid", features=1, outputs=1)
    params = cells.init(jax.random.key(1), model)
    alone = []
    for seq in seqs:
        zeros = cells.zeros_state(model, 1)
        one = jax.tree.map(lambda a: a[0], zeros)  # a single stream's state
        _, h = cells.run_stream(params, model, one, jnp.asarray(seq), jnp.zeros(len(seq), bool))
        alone.append(np.asarray(cells.head(params["dense"], h[-1], model.head)))
    alone = np.stack(alone)

    padded = padding.pad(seqs, labels, 1, 7)
    pred, _ = predict(params, padded, model, train=Train(mode="stateless"))
    rows, pos = padding.label_steps("padded", lengths, 1, 7)
    np.testing.assert_allclose(padding.per_sequence(pred, rows, pos), alone, atol=1e-6)

    packed = pack(seqs, 3, 3, labels=labels)
    check_layout(packed, seqs, labels=labels)
    pred, _ = predict(params, packed, model, train=Train(mode="stateful"))
    rows, pos = padding.label_steps("packed", lengths, 3, 3)
    np.testing.assert_allclose(padding.per_sequence(pred, rows, pos), alone, atol=1e-6)
    # without the resets, state leaks from one sequence into the next and predictions change
    no_resets = packed._replace(reset=np.zeros_like(packed.reset))
    leaky, _ = predict(params, no_resets, model, train=Train(mode="stateful"))
    assert not np.allclose(padding.per_sequence(leaky, rows, pos), alone, atol=1e-4)


def test_fit_equals_the_plain_engine_loop_for_each_seed():
    """`fit`'s vmapped, compiled many-seeds loop gives each seed exactly what a plain loop over
    `engine.train_epoch` and `engine.evaluate` gives it (stateful, packed, horizon 2)."""
    import jax
    import jax.numpy as jnp

    from statecarry.core import engine
    from statecarry.core.fit import fit

    seqs, labels = data(8, seed=5)
    layout = varlen.Layout("packed", "packed", 4, "stateful", horizon=2)
    batches = varlen.layout_batches(layout, TINY, seqs, labels)
    model, train = varlen.layout_spec(layout, TINY)
    assert (train.mode, train.horizon, train.epochs) == ("stateful", 2, TINY.epochs)
    result = fit(batches, model, train, seeds=[3, 4], test=batches)
    model = result.model
    assert (model.features, model.outputs) == (1, 1)
    on = jax.tree.map(jnp.asarray, batches)
    train_epoch = jax.jit(engine.train_epoch, static_argnames=("model", "train"))
    evaluate = jax.jit(engine.evaluate, static_argnames=("model", "train"))
    for k, seed in enumerate([3, 4]):
        carry = engine.init_carry(jax.random.key(seed), model, train, 4, batches.x.shape[2])
        for epoch in range(train.epochs):
            carry, s = train_epoch(carry, engine.with_mode_resets(on, train, True), model=model, train=train)
            t, _ = evaluate(carry.params, on, model=model, train=train)
            for name, sums, part in (("train", s, "loss"), ("train", s, "correct"),
                                     ("test", t, "loss"), ("test", t, "correct")):  # fmt: skip
                metric = f"{name}_{'acc' if part == 'correct' else 'loss'}"
                assert result.metrics[metric][epoch, k] == pytest.approx(
                    float(sums[part] / sums["weight"]), rel=1e-5, abs=1e-6
                ), (seed, epoch, metric)
        fitted = result.params_of(seed)
        for a, b in zip(jax.tree.leaves(carry.params), jax.tree.leaves(fitted), strict=True):
            np.testing.assert_allclose(np.asarray(a), b, atol=1e-6)
    # the two seeds are different runs
    assert not np.allclose(result.params_of(3)["dense"]["kernel"], result.params_of(4)["dense"]["kernel"])


def test_layouts_compare_the_qa_advice_with_packing_at_the_covering_horizon():
    names = [(la.kind, la.batch_size, la.mask, la.horizon) for la in varlen.layouts(TINY)]
    assert names == [("padded", 1, True, 1), ("padded", 4, True, 1), ("padded", 4, False, 1),
                     ("packed", 4, True, 1), ("packed", 4, True, 3)]


def test_compare_is_deterministic():
    which = [varlen.layouts(TINY)[1], varlen.layouts(TINY)[-1]]
    first = varlen.compare([0, 1], TINY, which)
    again = varlen.compare([0, 1], TINY, which)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.test_acc, b.test_acc)
        assert a.test_acc.shape == (TINY.epochs, 2)
    assert first[1].padding_fraction < first[0].padding_fraction


def _result(kind, accs, batch_size=16, horizon=1):
    layout = varlen.Layout(kind, kind, batch_size, "stateful", horizon)
    acc = np.asarray(accs, float)[None]
    return varlen.LayoutResult(layout, 0.1, 1, 1, acc, acc, 0.0, 0.0)


def test_verdict_rule_reaches_every_verdict():
    padded = _result("padded", [1.0, 1.0, 0.98, 1.0])

    def verdict(packed_accs, batch_size=16):
        packed = _result("packed", packed_accs, batch_size=batch_size, horizon=2)
        return varlen.suggest_verdict([padded, packed])[0]

    assert verdict([1.0, 0.99, 1.0, 1.0]) == "refuted"
    assert verdict([0.6, 0.62, 0.58, 0.6]) == "confirmed"
    assert verdict([1.0, 0.5, 1.0, 0.6]) == "inconclusive"
    assert verdict([1.0, 1.0, 1.0, 1.0], batch_size=8) == "inconclusive"  # nothing to pair with


def test_bad_input_is_one_sentence():
    seqs, labels = data()
    with pytest.raises(DataError, match="does not divide 8 sequences"):
        padding.pad(seqs, labels, 3, 7)
    with pytest.raises(DataError, match="padding needs every length between 1 and 5"):
        padding.pad(seqs, labels, 4, 5)
    with pytest.raises(ConfigError, match="unknown task 'forecast'"):  # not a sample task
        from statecarry.experiments.tasks import make_samples

        make_samples(Config(task="forecast"), 0)

        make_samples(Config(task="forecast"), 0)


def test_variable_length_task_is_the_qa_padding_without_a_mask():
    """The registered task: the same sequences, zeros after each, the label read at the end."""
    from statecarry.experiments.tasks import make_samples, variable_length_range

    config = Config(task="variable-length", time_steps=16, n_train=32, n_test=8)
    train, _ = make_samples(config, 0)
    rng = np.random.default_rng(0)
    seqs, labels = variable_length_sequences(32, *variable_length_range(16), rng)
    assert variable_length_range(16) == (2, 16)
    for row, seq in zip(train.x, seqs):
        np.testing.assert_array_equal(row[: len(seq)], seq)
        assert not row[len(seq) :].any()
    np.testing.assert_array_equal(train.y, labels)


def test_a_packed_window_too_long_for_the_covering_horizon_names_time_steps_before_training():
    """`varlen --time-steps 500` trained 4 layouts, then said 'horizon 2 is longer than an epoch',
    naming a setting varlen has no flag for. The bound is the largest window that still works."""
    from statecarry.data.padding import covering_horizon

    setup = varlen.Setup()
    with pytest.raises(ConfigError, match=r"^--time-steps 500 leaves a packed epoch 1 window\(s\), fewer than the 2 "
                                          r"its covering horizon reaches back; --time-steps (\d+) is the longest that works\.$") as caught:  # fmt: skip
        varlen.with_setup(setup, time_steps=500)
    bound = int(caught.value.args[0].split("reaches back; --time-steps ")[1].split()[0])
    for t, fits in ((bound, True), (bound + 1, False)):  # the packed batches themselves decide
        packed = varlen.Layout("packed", "packed", setup.batch_size, "stateful")
        windows = min(varlen.layout_batches(packed, dataclasses.replace(setup, time_steps=t), *part).x.shape[0]
                      for part in varlen.make_data(setup))  # fmt: skip
        assert (windows >= covering_horizon(setup.max_length, t)) is fits


def test_a_layout_is_stored_with_its_own_batch_size_and_steps():
    """The store said batch_size=16, time_steps=12 for 'padded, batch 1' (the setup's values
    overrode the layout's); the report could not tell the padded layouts apart."""
    setup = varlen.Setup()
    records = {layout.name: varlen.layout_record(layout, setup) for layout in varlen.layouts(setup)}
    steps = {name: (r["batch_size"], r["time_steps"], r["mask"]) for name, r in records.items()}
    assert steps == {
        "padded, batch 1 (Q&A)": (1, 20, True), "padded, batch 16": (16, 20, True),
        "padded, batch 16, no mask": (16, 20, False), "packed, batch 16, horizon 1": (16, 12, True),
        "packed, batch 16, horizon 3": (16, 12, True),
    }  # fmt: skip
    from statecarry.report.cells import run_label

    assert run_label({"config": records["padded, batch 16, no mask"]}) == "padded, batch 16, no mask"


def test_a_train_run_keeps_its_mode_label_though_its_config_names_a_layout():
    """Only varlen's layouts are labelled by their task; train runs also store a 'layout'."""
    from statecarry.report.cells import run_label

    train = {"task": "sales.csv", "layout": "streams", "mode": "stateful", "horizon": 4}
    assert run_label({"config": train}) == "stateful, horizon 4"


def test_varlen_json_holds_the_run_id_and_the_solved_column_the_text_shows(tmp_path):
    from click.testing import CliRunner

    from statecarry import stats
    from statecarry.cli import cli

    args = ["varlen", "--seeds", "3", "--epochs", "1", "--batch-size", "4", "--time-steps", "6",
            "--max-length", "8", "--units", "2", "-q"]  # fmt: skip
    out = json.loads(CliRunner().invoke(cli, args + ["--json"]).stdout)
    text = CliRunner().invoke(cli, args).stdout
    assert isinstance(out["run_id"], int)
    for layout in out["layouts"]:
        acc = np.array(layout["test_acc_per_seed"])
        wilson = stats.wilson(int((acc >= stats.SOLVED).sum()), len(acc))
        assert layout["solved"] == wilson._asdict()
        row = next(line for line in text.splitlines() if line.startswith(layout["layout"] + " "))
        assert f" {layout['solved']['mean']:.0%} " in row, row
    assert json.loads(CliRunner().invoke(cli, args + ["--json", "--no-store"]).stdout)["run_id"] is None
