"""A saved model to and from a Keras `.keras` file, checked: the two give the same outputs.

The check runs both on one batch of random inputs at every step (a stateless Keras model
returning sequences, which is what a stateful one computes from a zero state) and reports the
largest difference; more than `TOLERANCE` is refused, so a file that would predict
differently is never written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InteropError
from .checkpoint import load, read_extra, save
from .interop import _keras, check_like, from_keras, keras_ranks, to_keras

TOLERANCE = 1e-5  # float32 round-off of two implementations of the same cell
CHECK_SHAPE = (4, 12)  # (streams, steps) of the random batch the outputs are compared on


def largest_difference(keras_model, params: dict, model) -> float:
    """The largest difference between the two on one random batch from a zero state: at every
    step, or at the last where the Keras model returns only that; of the Keras model's own
    batch size and steps where it fixes them (a stateful model does)."""
    from .predict import predict

    shape = tuple(getattr(keras_model, "input_shape", None) or (None, None))
    rows, steps = (given or default for given, default in zip(shape[:2], CHECK_SHAPE))
    rng = np.random.default_rng(0)
    if model.tokens:
        x = rng.integers(0, model.features, size=(rows, steps, 1)).astype(np.float32)
    else:
        x = rng.normal(size=(rows, steps, model.features)).astype(np.float32)
    ours, _ = predict(params, x[None], model)
    with keras_ranks():
        theirs = np.asarray(keras_model.predict(x[..., 0].astype(np.int32) if model.tokens else x, verbose=0))
    ours = ours[0] if theirs.ndim == 3 else ours[0][:, -1]  # return_sequences=False: the last step
    return float(np.max(np.abs(ours - theirs)))


def export_keras(model_path: str | os.PathLike, out: str | os.PathLike) -> float:
    """Write the model at `model_path` as a Keras file; returns the checked difference."""
    model, params = load(model_path)
    out = Path(out).expanduser()
    if out.suffix != ".keras":
        raise InteropError(f"a Keras file ends in .keras, not {out.name}; give e.g. {out.with_suffix('.keras').name}.")
    with keras_ranks():
        keras_model = to_keras(params, model, stateful=False, return_sequences=True)
    difference = largest_difference(keras_model, params, model)
    if not np.isfinite(difference):
        raise InteropError(f"{Path(model_path).name} gives non-finite outputs (its training diverged), so there is "
                           "nothing to compare; retrain it with a smaller --lr. Nothing written.")  # fmt: skip
    if difference > TOLERANCE:
        raise InteropError(f"the Keras model differs from the saved one by {difference:.2g}; nothing written.")
    keras_model.save(out)
    return difference


def import_keras(keras_path: str | os.PathLike, out: str | os.PathLike, like: str | None = None) -> float:
    """Write the Keras file at `keras_path` as a statecarry model (with `like`'s scaling and
    column names, if given); returns the checked difference. The file is checked before
    Keras is asked for (a wrong path is the first thing to say, installed or not)."""
    keras_path = Path(keras_path).expanduser()
    if not keras_path.is_file():
        raise InteropError(f"there is no file at {keras_path}; check the path.")
    if keras_path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise InteropError(f"{keras_path.name} is not a Keras model file: Keras saves models as .keras (or the "
                           "older .h5); give the file model.save(...) wrote.")  # fmt: skip
    keras = _keras()
    try:
        with keras_ranks():
            keras_model = keras.saving.load_model(keras_path)
    except (ValueError, OSError) as e:
        said = str(e).splitlines()[0]
        if said.startswith("File not found"):  # Keras' words for a file that is there but no zip
            said = "Keras could not open it as the zip file a .keras model is"
        raise InteropError(f"{keras_path.name} is not a Keras model file ({said}).") from None
    model, params = from_keras(keras_model)
    extra = read_extra(like) if like else None
    if like:
        liked = load(like)[0]  # its columns and scaling fit only a model of its sizes
        check_like(model, liked.replace(head=model.head))  # a softmax is Keras' logits + activation
        model = model.replace(head=liked.head)
    difference = largest_difference(keras_model, params, model)
    if not difference <= TOLERANCE:  # NaN too: a non-finite model is never written
        raise InteropError(f"the imported model differs from the Keras one by {difference:.2g}; nothing written.")
    save(out, model, params, extra=extra)
    return difference
