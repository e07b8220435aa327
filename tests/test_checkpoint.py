"""Model files: exact round trips, readable by plain safetensors, atomic writes, and one
readable error for every way a file can be wrong."""

import json
import os

import jax
import numpy as np
import pytest
import safetensors
import safetensors.numpy

from statecarry.core import cells, checkpoint
from statecarry.core.spec import Model
from statecarry.errors import CheckpointError

OUTPUTS = {"sigmoid": 1, "linear": 2, "softmax": 3}


def model_of(cell="lstm", layers=1, head="sigmoid"):
    return Model(cell, 3, layers, head, 2, OUTPUTS[head])


def random_params(model, seed=0):
    params = cells.init(jax.random.key(seed), model)
    rng = np.random.default_rng(seed)  # the zero biases too: every value should survive
    return jax.tree.map(
        lambda a: np.asarray(a) + rng.standard_normal(a.shape).astype(np.float32), params
    )


def write_raw(path, tensors=None, **metadata):
    """A safetensors file written without statecarry, with the metadata given."""
    tensors = {"x": np.zeros(2, np.float32)} if tensors is None else tensors
    safetensors.numpy.save_file(tensors, path, metadata=metadata or None)
    return path


def saved_raw(tmp_path, **changes):
    """A one-layer LSTM's file rewritten by hand: metadata or tensors changed."""
    model = model_of()
    path = tmp_path / "model.safetensors"
    checkpoint.save(path, model, random_params(model))
    tensors = safetensors.numpy.load_file(path)
    with safetensors.safe_open(path, framework="numpy") as f:
        metadata = f.metadata()
    tensors = changes.pop("tensors", lambda t: t)(tensors)
    metadata |= changes
    return write_raw(tmp_path / "edited.safetensors", tensors, **metadata)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("head", ["sigmoid", "linear", "softmax"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_round_trip_is_exact(tmp_path, cell, head, layers):
    model = model_of(cell, layers, head)
    params = random_params(model)
    path = tmp_path / "model.safetensors"
    checkpoint.save(path, model, params)
    back_model, back = checkpoint.load(path)
    assert back_model == model
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary file left behind


def test_the_file_is_plain_safetensors(tmp_path):
    model = model_of("gru", 2, "softmax")
    params = random_params(model)
    path = tmp_path / "model.safetensors"
    checkpoint.save(str(path), model, params)
    tensors = safetensors.numpy.load_file(path)
    assert sorted(tensors) == sorted(
        ["gru/kernel", "gru/recurrent_kernel", "gru/bias"]
        + ["gru_1/kernel", "gru_1/recurrent_kernel", "gru_1/bias", "dense/kernel", "dense/bias"]
    )
    assert tensors["gru_1/bias"].shape == (2, 9) and tensors["gru_1/bias"].dtype == np.float32
    np.testing.assert_array_equal(tensors["dense/kernel"], params["dense"]["kernel"])
    with safetensors.safe_open(path, framework="numpy") as f:
        metadata = f.metadata()
    assert metadata["format"] == "statecarry" and metadata["format_version"] == "1"
    assert json.loads(metadata["model"]) == model.to_dict()
    assert metadata["statecarry_version"]


def test_saving_over_a_file_that_fails_midway_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    checkpoint.save(path, model_of(), random_params(model_of()))
    before = path.read_bytes()

    def half_then_fail(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 10)
        raise RuntimeError("disk pulled out")

    monkeypatch.setattr(safetensors.numpy, "save_file", half_then_fail)
    model = model_of("gru", 2)
    with pytest.raises(RuntimeError, match="disk pulled out"):
        checkpoint.save(path, model, random_params(model, 1))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]  # the half-written file is gone


def test_a_failed_write_is_one_sentence_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    checkpoint.save(path, model_of(), random_params(model_of()))
    before = path.read_bytes()

    def disk_full(tensors, filename, metadata=None):
        raise safetensors.SafetensorError("Error while serializing: No space left on device")

    monkeypatch.setattr(safetensors.numpy, "save_file", disk_full)
    with pytest.raises(CheckpointError, match="could not write .*No space left.*has room"):
        checkpoint.save(path, model_of(), random_params(model_of(), 1))
    assert path.read_bytes() == before


def test_saving_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(
        CheckpointError, match=r"the folder .*nowhere does not exist; create it first"
    ):
        checkpoint.save(
            tmp_path / "nowhere" / "m.safetensors", model_of(), random_params(model_of())
        )


def test_a_model_without_features_or_outputs_is_refused(tmp_path):
    model = model_of()
    with pytest.raises(CheckpointError, match=r"features \(None\) and outputs \(1\) are not known"):
        checkpoint.save(tmp_path / "m", model.replace(features=None), random_params(model))
    assert not os.listdir(tmp_path)


def test_params_that_do_not_fit_the_model_are_refused(tmp_path):
    model = model_of("lstm", 2)
    params = random_params(model)
    with pytest.raises(
        CheckpointError,
        match=r"lstm/kernel has shape \(2, 12\) but a 2-layer LSTM\(4\).* needs \(2, 16\)",
    ):
        checkpoint.save(tmp_path / "m", model.replace(units=4), params)
    with pytest.raises(CheckpointError, match="params have no 'lstm_1/bias'"):
        del params["lstm_1"]["bias"]
        checkpoint.save(tmp_path / "m", model, params)
    with pytest.raises(CheckpointError, match="params hold 'lstm_1/bias'"):
        checkpoint.save(tmp_path / "m", model_of("lstm", 1), random_params(model))
    seeds = jax.tree.map(lambda a: np.stack([a, a]), random_params(model))
    with pytest.raises(CheckpointError, match=r"Fit.params_of\(seed\)"):
        checkpoint.save(tmp_path / "m", model, seeds)
    assert not os.listdir(tmp_path)


def test_a_missing_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(
        CheckpointError, match=r"there is no file at .*absent\.safetensors; check the path"
    ):
        checkpoint.load(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="is a folder; give the path of the file save wrote"):
        checkpoint.load(tmp_path)


@pytest.mark.parametrize(
    "content",
    [b"time,value\n1,0.5\n2,0.7\n", bytes(range(256)) * 4, b""],
    ids=["csv", "random", "empty"],
)
def test_a_file_that_is_not_safetensors_is_refused(tmp_path, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"data\.csv is not a safetensors file"):
        checkpoint.load(path)


def test_a_safetensors_file_from_elsewhere_is_refused(tmp_path):
    for i, metadata in enumerate([{}, {"format": "pt"}]):
        path = write_raw(tmp_path / f"other{i}.safetensors", **metadata)
        with pytest.raises(CheckpointError, match="is a safetensors file but not a statecarry"):
            checkpoint.load(path)


def test_a_file_from_a_newer_statecarry_says_upgrade(tmp_path):
    path = saved_raw(tmp_path, format_version="3")
    with pytest.raises(
        CheckpointError, match=r"written by a newer statecarry \(format 3\); upgrade statecarry\.$"
    ):
        checkpoint.load(path)
    with pytest.raises(CheckpointError, match="unreadable format_version 'one'"):
        checkpoint.load(saved_raw(tmp_path, format_version="one"))


def test_a_model_kind_this_version_does_not_know_is_refused(tmp_path):
    rnn = json.dumps(model_of().to_dict() | {"cell": "rnn"})
    with pytest.raises(CheckpointError, match=r"cannot build \(unknown cell 'rnn'.*upgrade"):
        checkpoint.load(saved_raw(tmp_path, model=rnn))
    later = json.dumps(model_of().to_dict() | {"dropout": 0.5})  # a field from the future
    with pytest.raises(CheckpointError, match="its model is unreadable"):
        checkpoint.load(saved_raw(tmp_path, model=later))
    with pytest.raises(CheckpointError, match="its model is unreadable"):
        checkpoint.load(saved_raw(tmp_path, model="{not json"))
    unresolved = json.dumps(model_of().to_dict() | {"outputs": None})
    with pytest.raises(CheckpointError, match="does not say the model's features and outputs"):
        checkpoint.load(saved_raw(tmp_path, model=unresolved))


def test_missing_extra_or_misshapen_tensors_are_refused(tmp_path):
    def drop(tensors):
        return {k: v for k, v in tensors.items() if k != "dense/bias"}

    with pytest.raises(CheckpointError, match="has no tensor 'dense/bias'.*incomplete"):
        checkpoint.load(saved_raw(tmp_path, tensors=drop))
    with pytest.raises(CheckpointError, match="holds a tensor 'lstm_1/bias'"):
        checkpoint.load(saved_raw(tmp_path, tensors=lambda t: t | {"lstm_1/bias": t["lstm/bias"]}))

    def shrink(tensors):
        return tensors | {"lstm/kernel": tensors["lstm/kernel"][:1]}

    with pytest.raises(
        CheckpointError, match=r"holds lstm/kernel with shape \(1, 12\) .* \(2, 12\)"
    ):
        checkpoint.load(saved_raw(tmp_path, tensors=shrink))
