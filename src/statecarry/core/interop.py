"""Keras interop: a `Model` and its params <-> a Keras 3 `Sequential` of the same network.

Our params carry Keras' own names, shapes and gate orders (LSTM i, f, c, o; GRU z, r, h with
`reset_after=True`, bias (2, 3u)), so both directions are a plain copy of the arrays
`get_weights()` returns; what is checked is that the Keras model really is one of ours
(recurrent layers of one kind with tanh/sigmoid, then one Dense) and that every shape agrees.
Keras is an optional dependency, imported only inside the functions.

One difference in meaning, not in weights: a softmax head's `cells.forward` output is logits,
while Keras' `Dense(activation="softmax")` outputs probabilities, i.e. `heads.prediction` of ours.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jax
import numpy as np

from ..data.inputs import whole_size
from ..errors import ConfigError, InteropError
from . import cells
from .spec import Model

RECURRENT_NAMES = ("kernel", "recurrent_kernel", "bias")
DENSE_NAMES = ("kernel", "bias")
ACTIVATIONS = {"activation": "tanh", "recurrent_activation": "sigmoid"}


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


def expected_shapes(model: Model) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape, keyed "layer/name" in Keras' weight order, bottom layer first,
    as `cells.init` makes them (no arrays are drawn: the shapes are traced)."""
    tree = jax.eval_shape(functools.partial(cells.init, model=model), jax.random.key(0))
    return {
        f"{layer}/{name}": tree[layer][name].shape
        for layer in model.layer_names + ("dense",)
        for name in (DENSE_NAMES if layer == "dense" else RECURRENT_NAMES)
    }


def check_params(params: Any, model: Model) -> Model:
    """The model with features/outputs read from `params` where unset; an InteropError names
    the first array that is missing or does not fit."""
    first, names = model.layer_names[0], model.layer_names + ("dense",)
    try:
        arrays = {
            f"{layer}/{k}": np.shape(params[layer][k])
            for layer in names
            for k in (DENSE_NAMES if layer == "dense" else RECURRENT_NAMES)
        }
    except (KeyError, TypeError, IndexError):
        raise InteropError(
            f"params must hold {', '.join(names)} with Keras' weight names, as "
            "statecarry.core.cells.init(key, model) makes them for this model."
        ) from None
    if model.features is None and len(arrays[f"{first}/kernel"]) == 2:
        model = _model(model.replace, features=arrays[f"{first}/kernel"][0])
    if model.outputs is None and len(arrays["dense/bias"]) == 1:
        model = _model(model.replace, outputs=arrays["dense/bias"][0])
    if not model.resolved:
        raise InteropError(
            f"{first}/kernel and dense/bias have shapes {arrays[f'{first}/kernel']} and "
            f"{arrays['dense/bias']}; they must be (features, gates * units) and (outputs,)."
        )
    for name, want in expected_shapes(model).items():
        if arrays[name] != want:
            raise InteropError(
                f"{name} has shape {arrays[name]} but a {model.layers}-layer "
                f"{model.cell.upper()}({model.units}) on {model.features} feature(s) with "
                f"{model.outputs} output(s) needs {want}; pass one seed's params "
                "that fit the model."
            )
    return model


def to_keras(
    params: Any,
    model: Model,
    batch_size: int | None = None,
    time_steps: int | None = None,
    stateful: bool = True,
    return_sequences: bool = False,
) -> Any:
    """A Keras 3 `Sequential([Input, LSTM|GRU × layers, Dense(outputs, head)])` with our weights.

    A model on tokens (`Model.inputs="tokens"`) reads ids of shape (batch, time) through an
    `Embedding`: a frozen identity (the one-hot rows statecarry never builds) before the first
    kernel, or, for more tokens than the kernel has columns, the kernel itself as the table
    and an identity kernel after it.
    A stateful Keras model needs a fixed `batch_size` and predicts only at that size.
    `time_steps=None` accepts windows of any length. `return_sequences=True` gives a
    prediction at every step, as `cells.forward` does; the default gives the last step's.
    Layers below the top always return sequences (the next layer reads every step).
    """
    if not isinstance(model, Model):
        raise InteropError(
            f"to_keras takes the statecarry Model the params were trained as, got "
            f"{type(model).__name__}; pass Fit.model or the model load returned."
        )
    model = check_params(params, model)
    for name, value in (("batch_size", batch_size), ("time_steps", time_steps)):
        if value is not None:
            whole_size(value, name, InteropError)
    if stateful and batch_size is None:
        raise InteropError(
            "a stateful Keras model needs a fixed batch size; pass batch_size=..., or "
            "stateful=False."
        )
    keras = _keras()
    kind = keras.layers.LSTM if model.cell == "lstm" else keras.layers.GRU
    extra = {} if model.cell == "lstm" else {"reset_after": True}
    top = model.layers - 1
    recurrent = [
        kind(
            model.units,
            stateful=stateful,
            return_sequences=return_sequences if i == top else True,
            name=name,
            **extra,
        )
        for i, name in enumerate(model.layer_names)
    ]
    dense = keras.layers.Dense(model.outputs, activation=model.head, name="dense")
    weights = {layer: {k: np.asarray(v, np.float32) for k, v in params[layer].items()} for layer in params}
    if model.tokens:  # ids (batch, time) -> rows of a table, then the first layer's kernel
        table, weights[model.layer_names[0]]["kernel"] = _token_table(weights[model.layer_names[0]]["kernel"])
        embedding = keras.layers.Embedding(*table.shape, trainable=table.shape[0] > table.shape[1], name="tokens")
        inputs = [keras.Input(batch_shape=(batch_size, time_steps), dtype="int32"), embedding]
    else:
        inputs = [keras.Input(batch_shape=(batch_size, time_steps, model.features))]
    keras_model = keras.Sequential([*inputs, *recurrent, dense])
    if model.tokens:
        embedding.set_weights([table])
    for layer in (*recurrent, dense):
        names = DENSE_NAMES if layer is dense else RECURRENT_NAMES
        layer.set_weights([weights[layer.name][k] for k in names])
    return keras_model


def _token_table(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Embedding table, first kernel) for ids: the identity and the kernel while the tokens are
    no more than the kernel's columns, else the kernel as the table and the identity after it
    (so the file grows with tokens x columns, never tokens squared); `from_keras` multiplies
    them back, exactly."""
    tokens, columns = kernel.shape
    if tokens <= columns:
        return np.eye(tokens, dtype=np.float32), kernel
    return kernel, np.eye(columns, dtype=np.float32)


NOT_BUILT = "the Keras model has no weights yet; build it first (give keras.Input a shape, or call it on a batch)."


def _activation(layer: Any, name: str) -> str:
    value = layer.get_config().get(name)
    if isinstance(value, str):
        return value
    return getattr(getattr(layer, name, None), "__name__", str(value))


def _check_recurrent(layer: Any, cell: str, top: bool) -> None:
    kind = cell.upper()
    config = layer.get_config()
    for attribute, want in ACTIVATIONS.items():
        got = _activation(layer, attribute)
        if got != want:
            raise InteropError(
                f"the {kind} layer {layer.name!r} has {attribute}={got!r}, but statecarry's "
                f"cells use {want!r}; rebuild it with {attribute}={want!r}."
            )
    problems = {
        "use_bias": (False, "has no bias; rebuild it with use_bias=True"),
        "go_backwards": (True, "reads backwards; rebuild it with go_backwards=False"),
        "reset_after": (False, "has reset_after=False; rebuild it with reset_after=True"),
    }
    for attribute, (bad, sentence) in problems.items():
        if config.get(attribute) is bad:
            raise InteropError(f"the {kind} layer {layer.name!r} {sentence}.")
    if not top and not config.get("return_sequences"):
        raise InteropError(
            f"the {kind} layer {layer.name!r} feeds another layer but returns only its last "
            "step; rebuild it with return_sequences=True."
        )


def _model(make: Any, **fields: Any) -> Model:
    """A `Model`, with its ConfigError (e.g. softmax over one class) as an InteropError."""
    try:
        return make(**fields)
    except ConfigError as e:
        raise InteropError(f"the Keras model has no statecarry equivalent: {e}") from None


def from_keras(keras_model: Any, like: Model | None = None) -> tuple[Model, dict]:
    """The `Model` and params (float32 numpy arrays) of a Keras model of recurrent layers of one
    kind (LSTM, or GRU with reset_after=True) followed by one Dense (sigmoid, linear, softmax).

    With `like`, the Keras model must be that model: same cell, layers, units and head, and the
    same features and outputs where `like` sets them. Raises InteropError for any other
    architecture or activation, a model that is not built, or sizes that do not agree.
    """
    keras = _keras()
    layers = [
        layer
        for layer in getattr(keras_model, "layers", [])
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    kinds = [type(layer).__name__ for layer in layers]
    embedding = _embedding(layers[0]) if layers and isinstance(layers[0], keras.layers.Embedding) else None
    layers = layers[1:] if embedding is not None else layers
    recurrent, dense = layers[:-1], layers[-1] if layers else None
    cell = "gru" if recurrent and isinstance(recurrent[0], keras.layers.GRU) else "lstm"
    kind = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
    if (
        not recurrent
        or not all(type(layer) is kind for layer in recurrent)
        or not isinstance(dense, keras.layers.Dense)
    ):
        raise InteropError(
            f"from_keras reads recurrent layers of one kind (LSTM or GRU, after an optional "
            f"Embedding) then one Dense, got "
            f"[{', '.join(kinds)}]; build keras.Sequential([keras.Input(...), "
            "keras.layers.LSTM(units), keras.layers.Dense(outputs, activation='sigmoid')])."
        )
    for i, layer in enumerate(recurrent):
        _check_recurrent(layer, cell, top=i == len(recurrent) - 1)
    head = _activation(dense, "activation")
    if head not in ("sigmoid", "linear", "softmax"):
        raise InteropError(
            f"the Dense layer {dense.name!r} has activation={head!r}; statecarry's heads are "
            "'sigmoid', 'linear' and 'softmax'."
        )
    if not dense.get_config().get("use_bias", True):
        raise InteropError(
            f"the Dense layer {dense.name!r} has no bias; rebuild it with use_bias=True."
        )
    weights = [layer.get_weights() for layer in layers]
    if any(len(w) != (2 if layer is dense else 3) for w, layer in zip(weights, layers)):
        raise InteropError(NOT_BUILT)
    units = {w[1].shape[0] for w in weights[:-1]}
    if len(units) != 1:
        raise InteropError(
            f"the recurrent layers have different sizes {sorted(units)}; statecarry's layers "
            "all share one units, so rebuild them with the same units."
        )
    model = _model(
        Model,
        cell=cell,
        units=units.pop(),
        layers=len(recurrent),
        head=head,
        features=int(weights[0][0].shape[0] if embedding is None else embedding.shape[0]),
        outputs=int(weights[-1][1].shape[0]),
        inputs="values" if embedding is None else "tokens",
    )
    if embedding is not None:  # ids -> rows of E -> kernel W is ids -> rows of E @ W
        weights[0] = [embedding @ weights[0][0], *weights[0][1:]]
    params = {
        name: {
            k: np.asarray(w, np.float32)
            for k, w in zip(DENSE_NAMES if name == "dense" else RECURRENT_NAMES, ws)
        }
        for name, ws in zip(model.layer_names + ("dense",), weights)
    }
    check_params(params, model)
    if like is not None:
        check_like(model, like)
    return model, params


def _embedding(layer: Any) -> np.ndarray:
    """A first `Embedding` layer's table (tokens, width): a tokens model's first kernel is the
    table times the recurrent layer's kernel, the same function of the ids."""
    if layer.get_config().get("mask_zero"):
        raise InteropError(
            f"the Embedding layer {layer.name!r} has mask_zero=True, which skips steps with id 0; "
            "statecarry reads every step, so rebuild it with mask_zero=False (reset or weight "
            "the padded steps instead)."
        )
    weights = layer.get_weights()
    if len(weights) != 1:
        raise InteropError(NOT_BUILT)
    return np.asarray(weights[0], np.float64)


def check_like(model: Model, like: Model) -> None:
    differ = [
        f"{name} {getattr(model, name)!r} (expected {getattr(like, name)!r})"
        for name in ("cell", "layers", "units", "head", "features", "outputs", "inputs")
        if getattr(like, name) is not None and getattr(model, name) != getattr(like, name)
    ]
    if differ:
        raise InteropError(
            f"the Keras model has {', '.join(differ)}; build it with the same sizes as the "
            "model it should replace."
        )


@contextmanager
def keras_ranks() -> Iterator[None]:
    """Run Keras code under JAX's default rank promotion: Keras' own layers broadcast ranks,
    whatever the user (or a test, with "raise") has set."""
    import jax

    with jax.numpy_rank_promotion("allow"):
        yield
