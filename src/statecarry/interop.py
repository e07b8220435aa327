"""Keras interop: our params <-> a Keras 3 `Sequential([LSTM, Dense(sigmoid)])`, no reshaping.

The params pytree uses Keras' own names, shapes and gate order (i, f, c, o), so both directions
are a plain copy of the five arrays `get_weights()` returns; what is checked is that the model
really is the blog's model (LSTM with tanh/sigmoid, then Dense with sigmoid) and that every
shape agrees. Keras is an optional dependency, imported only here, inside the functions.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import InteropError

LSTM_NAMES = ("kernel", "recurrent_kernel", "bias")
DENSE_NAMES = ("kernel", "bias")


def _keras() -> Any:
    # We are a JAX library: default Keras to its JAX backend unless the user chose another.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError as e:
        raise InteropError(
            f"Keras is not available ({e}); install it with pip install 'statecarry[test]' or "
            "pip install keras, and run with KERAS_BACKEND=jax."
        ) from None
    return keras


def _shapes(params: Any) -> tuple[int, int, int]:
    """(features, units, outputs) from our params, or an InteropError naming the bad array."""
    try:
        arrays = {f"lstm/{k}": np.shape(params["lstm"][k]) for k in LSTM_NAMES}
        arrays |= {f"dense/{k}": np.shape(params["dense"][k]) for k in DENSE_NAMES}
    except (KeyError, TypeError, IndexError):
        raise InteropError(
            "params must be {'lstm': {kernel, recurrent_kernel, bias}, 'dense': {kernel, bias}}, "
            "as statecarry.model.init makes them."
        ) from None
    kernel = arrays["lstm/kernel"]
    if len(kernel) != 2 or kernel[1] % 4:
        raise InteropError(f"lstm/kernel must be (features, 4 * units), got {kernel}.")
    features, units = kernel[0], kernel[1] // 4
    outputs = arrays["dense/kernel"][-1] if len(arrays["dense/kernel"]) == 2 else -1
    want = {
        "lstm/kernel": (features, 4 * units),
        "lstm/recurrent_kernel": (units, 4 * units),
        "lstm/bias": (4 * units,),
        "dense/kernel": (units, outputs),
        "dense/bias": (outputs,),
    }
    for name, shape in want.items():
        if arrays[name] != shape:
            raise InteropError(
                f"{name} has shape {arrays[name]} but an LSTM({units}) on {features} feature(s) "
                f"with {max(outputs, 1)} output(s) needs {shape}."
            )
    return features, units, outputs


def to_keras(
    params: Any,
    batch_size: int | None,
    time_steps: int | None = None,
    stateful: bool = True,
    return_sequences: bool = False,
) -> Any:
    """A Keras 3 `Sequential([Input, LSTM(units), Dense(outputs, sigmoid)])` with our weights.

    A stateful Keras model needs a fixed `batch_size` and predicts only at that size (use
    `statecarry.Predictor` for any other). `time_steps=None` accepts windows of any length.
    `return_sequences=True` gives a prediction at every step, as our `model.forward` does;
    the default gives the last step's, as the blog's model does.
    """
    features, units, outputs = _shapes(params)
    keras = _keras()
    model = keras.Sequential(
        [
            keras.Input(batch_shape=(batch_size, time_steps, features)),
            keras.layers.LSTM(units, stateful=stateful, return_sequences=return_sequences),
            keras.layers.Dense(outputs, activation="sigmoid"),
        ]
    )
    model.layers[0].set_weights([np.asarray(params["lstm"][k], np.float32) for k in LSTM_NAMES])
    model.layers[1].set_weights([np.asarray(params["dense"][k], np.float32) for k in DENSE_NAMES])
    return model


def _activation(layer: Any, name: str) -> str:
    value = layer.get_config().get(name)
    return (
        value
        if isinstance(value, str)
        else getattr(getattr(layer, name, None), "__name__", str(value))
    )


def _check_layer(layer: Any, kind: str, activations: dict[str, str]) -> None:
    for attribute, want in activations.items():
        got = _activation(layer, attribute)
        if got != want:
            raise InteropError(
                f"the {kind} layer {layer.name!r} has {attribute}={got!r}, but statecarry's model "
                f"uses {want!r}; rebuild it with {attribute}={want!r}."
            )
    if not layer.get_config().get("use_bias", True):
        raise InteropError(
            f"the {kind} layer {layer.name!r} has no bias; rebuild it with use_bias=True."
        )


def from_keras(model: Any, like: Any = None) -> dict[str, dict[str, np.ndarray]]:
    """Our params pytree from a Keras `LSTM` + `Dense(sigmoid)` model, as float32 arrays.

    With `like` (params from `statecarry.model.init`, say), every shape must match it too.
    Raises InteropError for any other architecture or activation, a model that is not built,
    or shapes that do not agree.
    """
    keras = _keras()
    layers = [
        layer
        for layer in getattr(model, "layers", [])
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    kinds = [type(layer).__name__ for layer in layers]
    if len(layers) != 2 or not (
        isinstance(layers[0], keras.layers.LSTM) and isinstance(layers[1], keras.layers.Dense)
    ):
        raise InteropError(
            f"from_keras reads a model of exactly LSTM then Dense, got [{', '.join(kinds)}]; "
            "build keras.Sequential([keras.Input(...), keras.layers.LSTM(units), "
            "keras.layers.Dense(outputs, activation='sigmoid')])."
        )
    lstm, dense = layers
    _check_layer(lstm, "LSTM", {"activation": "tanh", "recurrent_activation": "sigmoid"})
    _check_layer(dense, "Dense", {"activation": "sigmoid"})
    if lstm.get_config().get("go_backwards"):
        raise InteropError(
            f"the LSTM layer {lstm.name!r} reads backwards; rebuild it with go_backwards=False."
        )
    lstm_weights, dense_weights = lstm.get_weights(), dense.get_weights()
    if len(lstm_weights) != 3 or len(dense_weights) != 2:
        raise InteropError(
            "the model has no weights yet; build it first (give keras.Input a shape, or call it "
            "on a batch)."
        )
    params = {
        "lstm": {k: np.asarray(w, np.float32) for k, w in zip(LSTM_NAMES, lstm_weights)},
        "dense": {k: np.asarray(w, np.float32) for k, w in zip(DENSE_NAMES, dense_weights)},
    }
    shapes = _shapes(params)
    if like is not None:
        expected = _shapes(like)
        if shapes != expected:
            names = ("features", "units", "outputs")
            differ = [
                f"{n} {a} (expected {b})" for n, a, b in zip(names, shapes, expected) if a != b
            ]
            raise InteropError(
                f"the Keras model has {', '.join(differ)}; build it with the same sizes as the "
                "params it should replace."
            )
    return params
