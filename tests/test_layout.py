"""Layouts: one series (PyTorch's word-language-model layout), packed sequences, the checker."""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from statecarry.data.check import check_layout
from statecarry.data.layout import from_series, pack, packed_positions, to_streams
from statecarry.errors import DataError

FEW = settings(max_examples=60, deadline=None)


# -- the oracle: PyTorch's examples/word_language_model/main.py, line by line in numpy ---------


def torch_batchify(data, bsz):
    # Work out how cleanly we can divide the dataset into bsz parts.
    nbatch = data.shape[0] // bsz
    # Trim off any extra elements that wouldn't cleanly fit (remainders).
    data = data[: nbatch * bsz]
    # Evenly divide the data across the bsz batches: data.view(bsz, -1).t()
    return data.reshape((bsz, nbatch) + data.shape[1:]).swapaxes(0, 1)


def torch_get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i : i + seq_len]
    target = source[i + 1 : i + 1 + seq_len]
    return data, target


def torch_windows(series, bsz, bptt):
    """The (data, target) pairs of one epoch: `for i in range(0, size - 1, bptt)`."""
    source = torch_batchify(series, bsz)
    return [torch_get_batch(source, i, bptt) for i in range(0, source.shape[0] - 1, bptt)]


# -- strategies -------------------------------------------------------------------------------


@st.composite
def series_and_sizes(draw):
    features = draw(st.integers(1, 3))
    length = draw(st.integers(2, 80))
    batch_size = draw(st.integers(1, 6))
    time_steps = draw(st.integers(1, 9))
    assume(length >= batch_size * (time_steps + 1))
    values = draw(
        st.lists(
            st.floats(-1e3, 1e3, width=32), min_size=length * features, max_size=length * features
        )
    )
    series = np.array(values, np.float32).reshape(length, features)
    if features == 1 and draw(st.booleans()):
        series = series[:, 0]
    return series, batch_size, time_steps


@st.composite
def sequence_sets(draw, with_labels=None):
    features = draw(st.integers(1, 2))
    lengths = draw(st.lists(st.integers(0, 12), min_size=1, max_size=12))
    nonempty = sum(1 for n in lengths if n)
    assume(nonempty >= 1)
    batch_size = draw(st.integers(1, nonempty))
    time_steps = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    seqs = [rng.standard_normal((n, features)).astype(np.float32) for n in lengths]
    labelled = draw(st.booleans()) if with_labels is None else with_labels
    labels = rng.integers(0, 2, len(seqs)).astype(np.float32) if labelled else None
    return seqs, batch_size, time_steps, labels


# -- from_series ------------------------------------------------------------------------------


def test_series_layout_is_pytorchs_on_a_small_example():
    series = np.arange(23.0)
    batches = from_series(series, batch_size=3, time_steps=4)
    # batchify: 7 values per stream, 21 kept; stream 1 is 7..13
    np.testing.assert_array_equal(to_streams(batches.x)[1, :6, 0], np.arange(7.0, 13.0))
    # get_batch: windows of 4 then 2 (seq_len = min(4, 7 - 1 - 4)); the short one is padded
    np.testing.assert_array_equal(
        batches.x[1, :, :, 0], [[4, 5, 0, 0], [11, 12, 0, 0], [18, 19, 0, 0]]
    )
    np.testing.assert_array_equal(
        batches.y[1, :, :, 0], [[5, 6, 0, 0], [12, 13, 0, 0], [19, 20, 0, 0]]
    )
    np.testing.assert_array_equal(batches.weight[1], [[1, 1, 0, 0]] * 3)
    assert not batches.reset.any() and not batches.known.any()


@FEW
@given(series_and_sizes(), st.sampled_from(["pad", "drop"]))
def test_series_matches_pytorch_batchify_and_get_batch(case, tail):
    series, batch_size, time_steps = case
    batches = from_series(series, batch_size, time_steps, tail=tail)
    windows = torch_windows(series.reshape(len(series), -1), batch_size, time_steps)
    if tail == "drop":
        windows = [w for w in windows if len(w[0]) == time_steps]
    assert batches.n_batches == len(windows)
    for k, (data, target) in enumerate(windows):
        n = len(data)
        np.testing.assert_array_equal(batches.x[k, :, :n], data.swapaxes(0, 1))
        np.testing.assert_array_equal(batches.y[k, :, :n], target.swapaxes(0, 1))
        assert (batches.weight[k, :, :n] == 1).all()
        # the partial last window: padded with zero inputs, weight 0, no reset
        assert (batches.weight[k, :, n:] == 0).all() and (batches.x[k, :, n:] == 0).all()
    assert not batches.reset.any()
    check_layout(batches, series)


@FEW
@given(series_and_sizes(), st.data())
def test_series_target_column_is_that_column_of_the_next_step(case, data):
    series, batch_size, time_steps = case
    series = series.reshape(len(series), -1)
    column = data.draw(st.integers(0, series.shape[1] - 1))
    batches = from_series(series, batch_size, time_steps, target=column)
    windows = torch_windows(series, batch_size, time_steps)
    for k, (x, target) in enumerate(windows):
        np.testing.assert_array_equal(batches.x[k, :, : len(x)], x.swapaxes(0, 1))
        np.testing.assert_array_equal(batches.y[k, :, : len(x), 0], target[..., column].T)
    check_layout(batches, series, target=column)
    if series.shape[1] > 1 and (series[:, column] != series[:, column - 1]).any():
        with pytest.raises(DataError):
            check_layout(batches, series, target=column - 1)


@FEW
@given(series_and_sizes(), st.data())
def test_series_mutations_are_caught(case, data):
    series, batch_size, time_steps = case
    batches = from_series(series, batch_size, time_steps)
    x = batches.x.copy()
    n_batches = batches.n_batches
    if batch_size > 1:  # swap two rows of one batch
        k = data.draw(st.integers(0, n_batches - 1))
        i, j = data.draw(
            st.lists(st.integers(0, batch_size - 1), min_size=2, max_size=2, unique=True)
        )
        assume((x[k, i] != x[k, j]).any())
        x[k, [i, j]] = x[k, [j, i]]
    else:  # swap two batches: the stream no longer continues
        assume(n_batches > 1)
        k, m = data.draw(
            st.lists(st.integers(0, n_batches - 1), min_size=2, max_size=2, unique=True)
        )
        assume((x[k] != x[m]).any())
        x[[k, m]] = x[[m, k]]
    with pytest.raises(DataError, match=r"^row \d+, batch \d+, step \d+: x is"):
        check_layout(batches._replace(x=x), series)
    reset = batches.reset.copy()
    reset[data.draw(st.integers(0, n_batches - 1)), 0, 0] = True
    with pytest.raises(DataError, match="reset"):
        check_layout(batches._replace(reset=reset), series)


@FEW
@given(st.integers(1, 60), st.integers(1, 6), st.integers(1, 8))
def test_series_too_short_for_the_sizes_is_refused_in_one_sentence(length, batch_size, time_steps):
    series = np.linspace(0, 1, length)
    if length >= batch_size * (time_steps + 1):
        check_layout(from_series(series, batch_size, time_steps), series)
    else:
        with pytest.raises(DataError) as e:
            from_series(series, batch_size, time_steps)
        message = str(e.value)
        assert message.count(". ") == 0 and message.endswith(".")
        assert ("at most" in message) or ("at least" in message)


@pytest.mark.parametrize(
    "series, match",
    [
        ([], "empty"),
        ([1.0, float("nan"), 2.0, 3.0], "NaN"),
        ([[1.0, 2.0], [3.0]], "ragged"),
        (["a", "b", "c"], "not numeric"),
        (np.zeros((4, 2, 1)), "shape"),
    ],
)
def test_bad_series_raise_data_error(series, match):
    with pytest.raises(DataError, match=match):
        from_series(series, 1, 1)


def test_bad_sizes_and_targets_raise_data_error():
    series = np.arange(40.0)
    for kwargs, match in [
        ({"batch_size": 0}, "positive"),
        ({"time_steps": 2.5}, "positive"),
        ({"target": 3}, "column 3 does not exist"),
        ({"target": "last"}, "target"),
        ({"tail": "keep"}, "tail"),
    ]:
        args = {"batch_size": 2, "time_steps": 3} | kwargs
        with pytest.raises(DataError, match=match):
            from_series(series, **args)


# -- pack -------------------------------------------------------------------------------------


def segments(batches):
    """An independent reading of packed batches: each row split at its resets."""
    x, reset = to_streams(batches.x), to_streams(batches.reset)
    found = []
    for row in range(x.shape[0]):
        starts = list(np.flatnonzero(reset[row])) + [x.shape[1]]
        found.append([(row, a, x[row, a:b]) for a, b in itertools.pairwise(starts)])
    return found


@FEW
@given(sequence_sets())
def test_packed_sequences_round_trip(case):
    seqs, batch_size, time_steps, labels = case
    batches = pack(seqs, batch_size, time_steps, labels=labels)
    check_layout(batches, seqs, labels=labels)
    rows, starts = packed_positions([len(s) for s in seqs], batch_size)
    # every non-empty sequence is one reset-delimited segment, in order along its row
    by_row = segments(batches)
    placed = [n for n in range(len(seqs)) if len(seqs[n])]
    assert sum(len(r) for r in by_row) == len(placed)
    for row in range(batch_size):
        mine = [n for n in placed if rows[n] == row]
        assert len(by_row[row]) == len(mine)
        end = 0
        for n, (_, start, seg) in zip(mine, by_row[row]):
            assert start == end  # it starts where the previous one in its row ended
            np.testing.assert_array_equal(seg[: len(seqs[n])], seqs[n])
            end = start + len(seqs[n])
        # after the last sequence: padding only, weight 0
        assert (to_streams(batches.weight)[row, end:] == 0).all()
        assert (to_streams(batches.x)[row, end:] == 0).all()
    # no batch is all padding
    longest = max(starts[n] + len(seqs[n]) for n in placed)
    assert (batches.n_batches - 1) * time_steps < longest <= batches.n_batches * time_steps
    weights = to_streams(batches.weight)
    if labels is None:  # next value at every step but a sequence's last
        assert weights.sum() == sum(len(seqs[n]) - 1 for n in placed)
    else:  # the label at the last step, and nowhere else
        assert weights.sum() == len(placed)
        y = to_streams(batches.y)
        for n in placed:
            assert y[rows[n], starts[n] + len(seqs[n]) - 1, 0] == labels[n]


@FEW
@given(sequence_sets(), st.data())
def test_packed_mutations_are_caught(case, data):
    seqs, batch_size, time_steps, labels = case
    batches = pack(seqs, batch_size, time_steps, labels=labels)
    reset = batches.reset.copy()
    k, row, t = data.draw(st.sampled_from(list(zip(*np.nonzero(reset)))))
    reset[k, row, t] = False  # drop a reset
    with pytest.raises(DataError, match="reset"):
        check_layout(batches._replace(reset=reset), seqs, labels=labels)
    if batch_size > 1:
        x = batches.x.copy()
        k = data.draw(st.integers(0, batches.n_batches - 1))
        i, j = data.draw(
            st.lists(st.integers(0, batch_size - 1), min_size=2, max_size=2, unique=True)
        )
        assume((x[k, i] != x[k, j]).any())
        x[k, [i, j]] = x[k, [j, i]]  # swap two rows of one batch
        with pytest.raises(DataError, match=r"^row \d+, batch \d+, step \d+: x is"):
            check_layout(batches._replace(x=x), seqs, labels=labels)


def test_zero_length_sequences_are_skipped_with_their_labels():
    seqs = [np.ones(3), np.zeros(0), 2 * np.ones(2), np.zeros(0)]
    batches = pack(seqs, 2, 2, labels=[1.0, 0.5, 0.0, 0.5])
    rows, starts = packed_positions([3, 0, 2, 0], 2)
    np.testing.assert_array_equal(rows, [0, -1, 1, -1])
    np.testing.assert_array_equal(starts, [0, -1, 0, -1])
    np.testing.assert_array_equal(to_streams(batches.x)[:, :, 0], [[1, 1, 1, 0], [2, 2, 0, 0]])
    np.testing.assert_array_equal(to_streams(batches.y)[:, :, 0], [[0, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(to_streams(batches.weight), [[0, 0, 1, 0], [0, 1, 0, 0]])
    assert 0.5 not in batches.y
    check_layout(batches, seqs, labels=[1.0, 0.5, 0.0, 0.5])


def test_a_sequence_longer_than_all_others_runs_across_batches_in_one_row():
    long = np.arange(1.0, 12.0)  # 11 steps: longer than the other rows' whole epoch
    seqs = [np.array([-1.0, -2.0]), long, np.array([-3.0])]
    batches = pack(seqs, 2, 3)
    assert batches.n_batches == 4  # ceil(11 / 3): the long row sets the epoch's length
    x, reset = to_streams(batches.x)[:, :, 0], to_streams(batches.reset)
    np.testing.assert_array_equal(x[1, :11], long)
    np.testing.assert_array_equal(np.flatnonzero(reset[1]), [0])  # carried, never reset
    np.testing.assert_array_equal(x[0, :3], [-1, -2, -3])
    np.testing.assert_array_equal(np.flatnonzero(reset[0]), [0, 2])
    assert (to_streams(batches.weight)[0, 3:] == 0).all()
    check_layout(batches, seqs)


@pytest.mark.parametrize(
    "sequences, kwargs, match",
    [
        ([], {}, "no sequences"),
        ([[], []], {}, "every sequence is empty"),
        ([[1.0, 2.0]], {"batch_size": 2}, "at most 1"),
        ([[1.0, 2.0], [[1.0, 2.0], [3.0, 4.0]]], {}, "sequence 1 has 2 features"),
        ([[1.0, float("nan")]], {}, "NaN"),
        ([[1.0], [2.0]], {"labels": [1.0]}, "one per sequence"),
        (np.float32(3.0), {}, "list of arrays"),
    ],
)
def test_bad_sequences_raise_data_error(sequences, kwargs, match):
    args = {"batch_size": 1, "time_steps": 2} | kwargs
    with pytest.raises(DataError, match=match):
        pack(sequences, **args)


def test_check_layout_refuses_batches_of_another_source():
    seqs = [np.arange(4.0), np.arange(3.0)]
    batches = pack(seqs, 2, 2)
    with pytest.raises(DataError, match="sequence 0"):
        check_layout(batches, [np.arange(4.0) + 1, np.arange(3.0)])
    with pytest.raises(DataError, match="pack into"):
        check_layout(batches, [np.arange(9.0), np.arange(3.0)])
    series = np.arange(30.0)
    with pytest.raises(DataError, match="windows"):
        check_layout(from_series(series, 2, 3), series[:20])


def test_a_dataframe_target_by_column_name_and_a_non_numeric_column_named():
    """The CLI's --target takes names; from_series and check_layout take a DataFrame's too."""
    import pandas as pd

    from statecarry import DataError

    t = np.arange(50.0)
    frame = pd.DataFrame({"temp": np.sin(t / 3), "hum": np.cos(t / 3)})
    by_name = from_series(frame, 2, 10, target="hum")
    by_index = from_series(frame.to_numpy(), 2, 10, target=1)
    for a, b in zip(by_name, by_index):
        np.testing.assert_array_equal(a, b)
    check_layout(by_name, frame, target="hum")
    with pytest.raises(DataError, match="target 'rain' is not a column of the series; its columns are temp, hum"):
        from_series(frame, 2, 10, target="rain")
    with pytest.raises(DataError, match="a column index, or a DataFrame's column name, got 'hum'"):
        from_series(frame.to_numpy(), 2, 10, target="hum")
    with pytest.raises(DataError, match=r"column 'when' of the series is not numeric \(datetime64"):
        from_series(frame.assign(when=pd.date_range("2024-01-01", periods=50)), 2, 10)
    with pytest.raises(DataError, match=r"column 'name' of the series is not numeric"):
        from_series(frame.assign(name="x"), 2, 10)
    # numbers held as objects were read before the column check and still are (a review found
    # them refused); a named Series takes its own name as the target
    numbers = frame.astype(object)
    np.testing.assert_array_equal(from_series(numbers, 2, 10, target="hum").y, by_name.y)
    np.testing.assert_array_equal(from_series(frame["hum"], 2, 10, target="hum").y, by_name.y)
