"""Model files: one safetensors file per trained model, readable without statecarry.

Every parameter is a float32 tensor named "layer/name" with Keras' names ("lstm/kernel",
"gru_1/bias", "dense/bias"), and the header's metadata (strings only, as safetensors wants)
says what the tensors are:

    format            "statecarry"
    format_version    "1", or "2" for a model on token ids (`Model.inputs`), which a
                      statecarry before 2 cannot build; bumped whenever an older statecarry
                      could misread a newer file
    model             JSON of `Model.to_dict()`, features and outputs filled in
    statecarry_version  the version that wrote it, for the reader's information

safetensors rather than pickle or `.npz`: loading a file never runs code, and any language
with a safetensors reader can read the weights.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from ..errors import CheckpointError, ConfigError
from . import arguments
from .interop import expected_shapes
from .spec import Model

FORMAT = "statecarry"
FORMAT_VERSION = 2  # the newest this statecarry reads and writes (2: models on token ids)


def _version() -> str:
    try:
        return importlib.metadata.version("statecarry")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _describe(model: Model) -> str:
    return (
        f"a {model.layers}-layer {model.cell.upper()}({model.units}) with a {model.head} head "
        f"on {model.features} feature(s) and {model.outputs} output(s)"
    )


def _tensors(model: Model, params: Any) -> dict[str, np.ndarray]:
    """Our params as "layer/name" -> float32 array, every name and shape checked."""
    expected = expected_shapes(model)
    try:
        tensors = {
            f"{layer}/{name}": np.asarray(array, np.float32)
            for layer, arrays in params.items()
            for name, array in arrays.items()
        }
    except (AttributeError, TypeError, ValueError):
        raise CheckpointError(
            "params must be {layer: {name: array}}, as statecarry.core.cells.init makes them."
        ) from None
    for name in sorted(expected.keys() - tensors.keys()):
        raise CheckpointError(
            f"params have no {name!r}, which {_describe(model)} needs; save the params that "
            "were trained with this model."
        )
    for name in sorted(tensors.keys() - expected.keys()):
        raise CheckpointError(
            f"params hold {name!r}, which {_describe(model)} does not have; save the params "
            "that were trained with this model."
        )
    for name, want in expected.items():
        if tensors[name].shape != want:
            raise CheckpointError(
                f"{name} has shape {tensors[name].shape} but {_describe(model)} needs {want}; "
                "save one seed's params (Fit.params_of(seed)) with the model they were trained as."
            )
    return tensors


def save(path: str | os.PathLike, model: Model, params: Any, extra: dict | None = None) -> None:
    """Write `model` and `params` to one safetensors file at `path`, replacing any file there.

    `extra` (any JSON-able dict, e.g. a table's scaling and column names) is kept in the
    file's metadata; `read_extra` gives it back.

    The write is atomic: the file goes to a temporary name in the same folder and is renamed
    over `path` only when complete, so a crash midway leaves the old file as it was.
    """
    path = Path(arguments.path_of(path, "save")).expanduser()
    arguments.model_arg(model, "save(path, model, params)")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give a file name, e.g. {path / 'model.safetensors'}.")
    if not model.resolved:
        raise CheckpointError(
            f"the model's features ({model.features}) and outputs ({model.outputs}) are not "
            "known yet; save the model that fit returned, which has them filled in."
        )
    tensors = _tensors(model, params)
    metadata = {
        "format": FORMAT,
        "format_version": "2" if model.tokens else "1",  # a values model reads everywhere
        "model": json.dumps(model.to_dict(), sort_keys=True),
        "statecarry_version": _version(),
    } | ({"extra": json.dumps(extra, sort_keys=True)} if extra is not None else {})
    path = Path(path)
    if not path.parent.is_dir():
        raise CheckpointError(
            f"the folder {path.parent} does not exist; create it first, or save elsewhere."
        )
    # A unique name in the same folder: os.replace is atomic only within one filesystem.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        safetensors.numpy.save_file(tensors, temporary, metadata=metadata)
        os.chmod(temporary, 0o666 & ~_umask())  # safetensors creates 0600; a model is as readable as any output
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them the file
        os.replace(temporary, path)
    except (safetensors.SafetensorError, OSError) as e:
        why = getattr(e, "strerror", None) or e
        raise CheckpointError(
            f"could not write {path} ({why}); check that its folder is writable and has room."
        ) from None
    finally:
        temporary.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path: str | os.PathLike) -> tuple[Model, dict[str, dict[str, np.ndarray]]]:
    """The `Model` and params (float32 numpy arrays) saved at `path` by `save`."""
    path = Path(arguments.path_of(path, "load")).expanduser()
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give the path of the file save wrote.")
    if not path.is_file():
        raise CheckpointError(f"there is no file at {path}; check the path.")
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
            model = _model(path, metadata)
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not iterable)
    except safetensors.SafetensorError:  # its header does not parse: another kind of file
        raise CheckpointError(
            f"{path} is not a safetensors file; give the path of a model statecarry saved."
        ) from None
    except OSError as e:
        raise CheckpointError(f"could not read {path} ({e.strerror or e}); check its permissions.") from None
    expected = expected_shapes(model)
    for name in sorted(expected.keys() - tensors.keys()):
        raise CheckpointError(
            f"{path} has no tensor {name!r}, which {_describe(model)} needs; the file is "
            "incomplete, so save the model again."
        )
    for name in sorted(tensors.keys() - expected.keys()):
        raise CheckpointError(
            f"{path} holds a tensor {name!r} that {_describe(model)} does not have; the file "
            "is inconsistent, so save the model again."
        )
    params: dict[str, dict[str, np.ndarray]] = {}
    for name, want in expected.items():
        if tensors[name].shape != want:
            raise CheckpointError(
                f"{path} holds {name} with shape {tensors[name].shape} but {_describe(model)} "
                f"needs {want}; the file is inconsistent, so save the model again."
            )
        layer, weight = name.split("/")
        params.setdefault(layer, {})[weight] = np.asarray(tensors[name], np.float32)
    return model, params


def read_extra(path: str | os.PathLike) -> dict | None:
    """The `extra` dict `save` was given, or None if it was given none."""
    path = Path(path).expanduser()
    load(path)  # one sentence for a missing, foreign or broken file
    with safetensors.safe_open(path, framework="numpy") as f:
        text = (f.metadata() or {}).get("extra")
    return None if text is None else json.loads(text)


def _model(path: Path, metadata: dict[str, str]) -> Model:
    """The `Model` a file's metadata describes, or a CheckpointError saying why not."""
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a statecarry model (it has no statecarry "
            "metadata); read it with safetensors directly."
        )
    version = metadata.get("format_version", "")
    if not version.isdigit():
        raise CheckpointError(
            f"{path} has an unreadable format_version {version!r}; save the model again."
        )
    if int(version) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer statecarry (format {version}); upgrade statecarry."
        )
    try:
        fields = json.loads(metadata.get("model", ""))
        model = Model(**fields)
    except (ValueError, TypeError) as e:  # ConfigError is a ValueError
        why = str(e).rstrip(".") if isinstance(e, ConfigError) else "its model is unreadable"
        raise CheckpointError(
            f"{path} holds a model this statecarry cannot build ({why}); upgrade statecarry, "
            "or save the model again."
        ) from None
    if not model.resolved:
        raise CheckpointError(
            f"{path} does not say the model's features and outputs; save the model again."
        )
    return model
