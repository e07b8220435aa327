"""Reading a user's table and preparing it: columns, order, split, scaling, head, layouts.

Oracles: pandas/NumPy computations written here independently (sorting, the training part's
mean and deviation), and running each sequence alone for the packed layout.
"""

import numpy as np
import pandas as pd
import pytest

import statecarry as sc
from statecarry.data import tables
from statecarry.data.steps import pack_steps, unpack_steps, windows_of
from statecarry.errors import DataError
from statecarry.experiments import owndata


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nixtla_columns_are_recognised_and_rows_sorted_by_id_then_time(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"unique_id": np.repeat(["b", "a", "c"], [5, 3, 4]),
                          "ds": np.r_[np.arange(5), np.arange(3), np.arange(4)],
                          "y": rng.normal(size=12), "temp": rng.normal(size=12)})  # fmt: skip
    shuffled = frame.sample(frac=1, random_state=1)
    shuffled.to_parquet(tmp_path / "t.parquet")
    columns, seqs = tables.load_table(tmp_path / "t.parquet")
    assert (columns.id, columns.time, columns.targets, columns.features) == ("unique_id", "ds", ("y",), ("temp",))
    expected = frame.sort_values(["unique_id", "ds"])
    assert seqs.ids == ["a", "b", "c"]
    np.testing.assert_array_equal(np.concatenate(seqs.y)[:, 0], expected["y"].to_numpy())
    np.testing.assert_array_equal(np.concatenate(seqs.x)[:, 0], expected["temp"].to_numpy())


def test_only_the_target_numeric_means_forecasting_it_one_step_ahead(tmp_path):
    path = write(tmp_path, "ds,y\n" + "".join(f"{t},{np.sin(t)}\n" for t in range(60)))
    columns, seqs = tables.load_table(path)
    prep = owndata.prepare(seqs, columns, owndata.Setup(time_steps=4, batch_size=2))
    assert columns.features == ("y",) and prep.ahead == 1
    # the target at step t is the input at step t + 1
    x, y, w = owndata.encode(seqs.x[0], seqs.y[0], prep)
    np.testing.assert_allclose(y[:-1], x[1:], rtol=1e-6)
    assert w[-1] == 0 and w[:-1].all()


@pytest.mark.parametrize("text, message", [
    ("1,2\n3,4\n", "looks headerless"),
    ("a,b\n1,2\n\n3,4\n", "blank line at line 3"),
    ("a,b\n1,2\n3,x\n", "'b' of t.csv has a value that is not a number on line 3: 'x'"),
    ("a,b,c\n1,2,\n3,4,\n", "'c' of t.csv has no values"),
    ("a,b\n1,2\n3,\n", "'b' of t.csv has 1 missing value(s), the first on line 3"),
    ("ds,y\n1,2\n1,3\n2,4\n", "has the time 1 twice (lines 2 and 3)"),
    ("ds,y\n" + "".join(f"{t},{t}\n" for t in [*range(20), 25]), "jumps from time 19 to 25 (line 22)"),
    ("a,b\n1,2\n", "say which column to predict with --target"),
    ("a;b\n1;2\n", "t.csv reads as one column, 'a;b': its fields are separated by semicolons, and a .csv is"),
    ("ds,y\n" + "".join(f"{20240100 + d},{d}\n" for d in [*range(1, 21), 25]), "jumps from time 20240120 to 20240125"),
    ("ds,y\n" + "".join(f"2024-01-{d:02d},{d}\n" for d in [1, 2, 2, 3]), "has the time 2024-01-02 twice (lines 3 and 4)"),
    ("a\tb\n1\t2\n", "its fields are separated by tabs, and a .csv is read comma-separated (a .tsv tab-sep"),
    ("ds,y\n" + "".join(f"2024-01-{d:02d},{d}\n" for d in [*range(1, 21), 22]),
     "jumps from time 2024-01-20 to 2024-01-22 (line 22) where the other rows are 1 day apart"),
    ("ds,y\n" + "".join(f"2024-01-01 {h:02d}:30,{h}\n" for h in [*range(20), 21]),
     "jumps from time 2024-01-01 19:30:00 to 2024-01-01 21:30:00 (line 22) where the other rows are 01:00:00 apart"),
])  # fmt: skip
def test_each_bad_table_is_one_sentence(tmp_path, text, message):
    targets = ("b",) if text.startswith("a,b") and "predict" not in message else ()
    with pytest.raises(DataError) as e:
        tables.load_table(write(tmp_path, text), targets)
    assert message in str(e.value) and str(e.value).count(". ") <= 1


def test_a_one_column_table_may_name_its_column_with_a_semicolon(tmp_path):
    _, seqs = tables.load_table(write(tmp_path, "sales; units\n" + "".join(f"{v}\n" for v in range(12))), ("sales; units",))
    np.testing.assert_array_equal(seqs.y[0][:, 0], np.arange(12))


def test_day_first_dates_beside_iso_dates_leave_the_iso_ones_alone(tmp_path):
    days = pd.date_range("2024-01-01", periods=20, freq="D")
    written = [d.strftime("%d/%m/%Y") if i % 2 else d.strftime("%Y-%m-%d") for i, d in enumerate(days)]
    _, seqs = tables.load_table(write(tmp_path, "ds,y\n" + "".join(f"{w},{i}\n" for i, w in enumerate(written))), ("y",))
    np.testing.assert_array_equal(seqs.y[0][:, 0], np.arange(20))  # daily, in file order


@pytest.mark.parametrize("fmt", ["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y"])
def test_dates_written_day_first_are_read_day_first(tmp_path, fmt):
    """A date whose first number passes 12 shows that the column is written day first: every
    date is then read so (10/01 is 10 January), and 40 daily rows load as 40 daily steps in
    file order (read month first, 13/01 would be refused and 02/01 would come after 01/02)."""
    days = pd.date_range("2024-01-01", periods=40, freq="D")
    text = "ds,y\n" + "".join(f"{d.strftime(fmt)},{i}\n" for i, d in enumerate(days))
    _, seqs = tables.load_table(write(tmp_path, text), ("y",))
    np.testing.assert_array_equal(seqs.y[0][:, 0], np.arange(40))


def test_scaling_is_fitted_on_the_training_part_only():
    x = np.arange(100.0)[:, None] ** 1.5
    seqs = tables.Sequences([None], [np.arange(100)], [x], [x * 2])
    cols = tables.Columns(("a",), ("b",))
    prep = owndata.prepare(seqs, cols, owndata.Setup(time_steps=4, test_fraction=0.25))
    assert prep.scaling["x_mean"][0] == pytest.approx(x[:75].mean())
    assert prep.scaling["y_std"][0] == pytest.approx((x[:75] * 2).std())


@pytest.mark.parametrize("y, head, labels", [
    (np.array([[0.0], [1.0], [1.0]]), "sigmoid", None),
    (np.array([[2.0], [5.0], [7.0]]), "softmax", [2.0, 5.0, 7.0]),
    (np.array([[0.5], [1.0], [3.0]]), "linear", None),
])  # fmt: skip
def test_the_head_follows_the_target(y, head, labels):
    assert owndata.choose_head(y, None) == (head, labels)


def test_a_label_only_the_test_part_shows_is_still_a_class():
    """A character model's rare characters may all fall in the held-out tail: the softmax's
    classes are the whole table's labels, so the test part is scored (that class untrained),
    not refused."""
    y = np.r_[np.tile([0.0, 1.0, 2.0], 30), [1.0, 9.0, 0.0, 2.0, 9.0, 1.0, 0.0, 2.0, 1.0, 0.0]][:, None]
    seqs = tables.Sequences([None], [np.arange(len(y))], [np.sin(np.arange(len(y)))[:, None]], [y])
    prep = owndata.prepare(seqs, tables.Columns(("x",), ("y",)), owndata.Setup(time_steps=4, test_fraction=0.1))
    assert 9.0 not in np.unique(y[:90]) and prep.head == "softmax"
    assert prep.labels == [0.0, 1.0, 2.0, 9.0]
    _, ys, _ = owndata.encode(seqs.x[0], y, prep)  # class indices, 9 -> 3, at the same step
    assert prep.ahead == 0
    np.testing.assert_array_equal(ys, np.searchsorted([0, 1, 2, 9], y[:, 0])[:, None])


def test_token_ids_stay_ids_and_a_stream_predicting_itself_gets_a_softmax():
    """`Setup(inputs="tokens")`: no scaling (the engine reads id k as the k-th input), and with
    the target its own feature, the next token's class among every id, rare ones included."""
    ids = np.r_[np.arange(200) % 5, [7]].astype(float)[:, None]
    seqs = tables.Sequences([None], [np.arange(len(ids))], [ids], [ids])
    cols = tables.Columns(("ch",), ("ch",))
    prep = owndata.prepare(seqs, cols, owndata.Setup(time_steps=4, batch_size=2, inputs="tokens"))
    assert prep.scaling == {"x_mean": [0.0], "x_std": [1.0]} and prep.head == "softmax" and prep.ahead == 1
    assert prep.labels == [0.0, 1.0, 2.0, 3.0, 4.0, 7.0]
    assert set(np.unique(prep.train.x)) == {0.0, 1.0, 2.0, 3.0, 4.0}  # the ids themselves
    plain = owndata.prepare(seqs, cols, owndata.Setup(time_steps=4, batch_size=2))
    assert plain.scaling["x_std"][0] != 1.0  # read as numbers: standardised


def test_packed_steps_equal_each_sequence_run_alone():
    rng = np.random.default_rng(3)
    lengths = [7, 3, 11, 5, 2, 9]
    xs = [rng.normal(size=(n, 2)).astype(np.float32) for n in lengths]
    ys = [rng.normal(size=(n, 1)).astype(np.float32) for n in lengths]
    ws = [np.ones(n, np.float32) for n in lengths]
    fit = sc.fit(pack_steps(xs, ys, ws, 3, 4)[0], sc.Model(units=3, head="linear"), sc.Train(epochs=1), seeds=[0])
    params = fit.params_of(0)
    batches, placed = pack_steps(xs, ys, ws, 2, 4)
    packed = unpack_steps(sc.predict(params, batches, fit.model)[0], placed)
    for x, got in zip(xs, packed):
        alone, _ = sc.predict(params, x[None, None], fit.model)
        np.testing.assert_allclose(got, alone[0, 0], atol=1e-6)


def test_windows_hold_the_last_time_steps_inputs_and_the_step_target():
    x = [np.arange(10.0)[:, None], 100 + np.arange(6.0)[:, None]]
    y = [v * 2 for v in x]
    w = [np.ones(10), np.ones(6)]
    b = windows_of(x, y, w, 4, 3)
    samples = b.x.reshape(-1, 3)
    targets = b.y.reshape(-1, 3)[:, -1]
    weight = b.weight.reshape(-1, 3)
    assert int(weight[:, -1].sum()) == 8 + 4  # steps 2.. of each sequence
    np.testing.assert_array_equal(samples[0], [0, 1, 2])
    np.testing.assert_array_equal(samples[8], [100, 101, 102])
    np.testing.assert_array_equal(targets[:12], 2 * samples[:12, -1])
    assert b.reset[..., 0].all() and not b.reset[..., 1:].any()


def test_the_verdict_reads_the_paired_intervals():
    from statecarry import stats
    from statecarry.experiments.owndata_run import Compared, verdict

    def results(*gains):
        base = Compared("stateless windows", {}, np.zeros(4), None)
        return [base] + [Compared(f"v{i}", {}, np.zeros(4), stats.mean_ci(g)) for i, g in enumerate(gains)]

    better, worse, unclear = [0.2, 0.3, 0.25, 0.28], [-0.2, -0.3, -0.25, -0.28], [-0.2, 0.3, 0.1, -0.1]
    assert verdict(results(unclear, better)) == "carrying state helps"
    assert verdict(results(worse, worse)) == "carrying state does not help"
    assert verdict(results(worse, unclear)) == "cannot tell on this data"


def test_a_diverged_seed_is_never_the_one_saved(tmp_path):
    """Seed 1's parameters made NaN after training (as a divergence leaves them): the best
    finite seed is saved even when the diverged one had the better score, and --all-seeds
    leaves it out."""
    import dataclasses

    from statecarry.experiments import owndata_run

    x = np.sin(np.arange(120) / 5)
    path = write(tmp_path, "a,y\n" + "".join(f"{a},{b}\n" for a, b in zip(x, np.roll(x, -1))))
    columns, seqs = tables.load_table(path, ("y",), ("a",))
    prep = owndata.prepare(seqs, columns, owndata.Setup(batch_size=2, time_steps=4))
    model, train = sc.Model(units=3), sc.Train(epochs=1, learning_rate=0.01)
    fit_ = owndata_run.train_table(prep, model, train, [0, 1])
    metrics = dict(fit_.metrics)
    metrics["test_rmse"] = np.array([[0.5, 0.1]])  # seed 1 looks best
    params = {k: {n: np.array(a) for n, a in v.items()} for k, v in fit_.params.items()}
    params["lstm"]["kernel"][1] = np.nan
    broken = dataclasses.replace(fit_, metrics=metrics, params=params, diverged={1: 0})
    assert owndata_run.best_seed(broken, prep) == 0
    best, saved = owndata_run.save_models(broken, prep, tmp_path / "m.safetensors", all_seeds=True)
    assert (best, saved) == (0, [str(tmp_path / "m.safetensors"), str(tmp_path / "m-seed0.safetensors")])
    gone = dataclasses.replace(broken, diverged={0: 0, 1: 0})
    assert owndata_run.save_models(gone, prep, tmp_path / "n.safetensors") == (None, [])
    assert not (tmp_path / "n.safetensors").exists()


def test_compare_reports_every_variant_s_progress_under_its_own_name(tmp_path):
    """A progress display keyed by stage would stop after the first variant if all of them
    reported "train"; each variant's stages carry its name, and each runs to its end."""
    from statecarry.experiments import owndata_run

    x = np.sin(np.arange(160) / 5)
    path = write(tmp_path, "a,y\n" + "".join(f"{a},{b}\n" for a, b in zip(x, np.roll(x, -1))))
    columns, seqs = tables.load_table(path, ("y",), ("a",))
    setup = owndata.Setup(batch_size=2, time_steps=4)
    seen = []
    results, _, _ = owndata_run.compare(seqs, columns, setup, sc.Model(units=3), sc.Train(epochs=2), [0, 1],
                                        horizon=2, on_progress=lambda *a: seen.append(a))  # fmt: skip
    names = [r.name for r in results]
    assert names == ["stateless windows", "stateful, horizon 1", "stateful, horizon 2", "rtrl"]
    work = [stage for stage, _, _ in seen if stage != "compile"]
    assert sorted(set(work)) == sorted(f"{n}: train" for n in names)
    for n in names:  # each variant's own count reaches its own total
        assert [(d, t) for s, d, t in seen if s == f"{n}: train"][-1] == (2, 2)
