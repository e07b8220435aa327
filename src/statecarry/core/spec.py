"""What to train and how: `Model` and `Train`, two frozen dataclasses with every default on one
screen. Both are hashable, so `jax.jit` takes them as static arguments, and neither imports JAX.

Input features and outputs are read from the data (`Model.fitted_to`), never from flags:
`Model.features`/`outputs` stay None until `fit` (or `load`) fills them in.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..data.sizes import whole_size
from ..errors import ConfigError

CELLS = ("lstm", "gru")
HEADS = ("sigmoid", "linear", "softmax")
INPUTS = ("values", "tokens")
# Token ids travel in float32 arrays with the rest of the data: whole numbers are exact to 2**24.
MAX_TOKENS = 2**24
MODES = ("stateless", "stateful", "rtrl", "uoro", "snap1")
ONLINE_MODES = ("rtrl", "uoro", "snap1")  # carry a sensitivity: reach the whole history
RESETS = ("epoch", "never")
CARRIES = ("hc", "c")
LOSSES = ("mse", "bce", "cross-entropy")
# The losses each head can be trained with, the first being its default.
HEAD_LOSSES = {"sigmoid": ("bce", "mse"), "linear": ("mse",), "softmax": ("cross-entropy",)}
# Train fields that are data in the compiled program, not constants of it (optim.py): Trains
# that differ only in these share one program.
DATA_FIELDS = ("learning_rate", "beta1", "beta2", "adam_eps")
# What Trains run side by side in one program may differ in: Adam's data and the loss. The
# loss becomes data (engine.Carry.loss) only when they do differ in it: computing every loss
# the head allows and keeping the lane's costs a run about 17% of its speed (the blog's run,
# 1,024 seeds) and moves MSE runs by float32 rounding.
SIDE_BY_SIDE_FIELDS = DATA_FIELDS + ("loss",)
# Gates per cell: the kernels are (inputs, gates * units), in Keras' order.
GATES = {"lstm": 4, "gru": 3}
FLOAT32_MAX = 3.4028234663852886e38  # larger is infinite in the engine's float32


@dataclass(frozen=True)
class Model:
    """A stack of recurrent layers and a dense head; every layer's state is carried and reset
    together.

    Parameters carry Keras' names: `lstm`, `lstm_1`, ... (or `gru`, `gru_1`, ...) for the
    layers, bottom first, and `dense` for the head.

    Args:
        cell: "lstm" (Keras' LSTM) or "gru" (Keras' GRU, reset_after=True).
        units: the state's width in each layer.
        layers: recurrent layers stacked, each reading the one below.
        head: "sigmoid" (0/1 targets, BCE), "linear" (real values, MSE) or "softmax" (class
            indices 0, 1, …, cross-entropy).
        features, outputs: the input width and the output width (classes for softmax); None
            reads them from the data at `fit`. `Fit.model` has them filled in.
        inputs: "values" (x holds `features` numbers per step) or "tokens" (x holds one whole
            number per step, a token id from 0 to `features` - 1: the first layer reads it as
            a one-hot vector of width `features` — its kernel's row — without that vector
            being built, which saves the data's memory and the input product's time).
    """

    cell: Literal["lstm", "gru"] = "lstm"  # lstm: Keras' LSTM; gru: Keras' GRU, reset_after=True
    units: int = 32  # per layer
    layers: int = 1
    head: Literal["sigmoid", "linear", "softmax"] = "sigmoid"
    features: int | None = None  # input width, from the data
    outputs: int | None = None  # output width (classes for softmax), from the data
    inputs: Literal["values", "tokens"] = "values"  # tokens: one id per step, read as one-hot

    def __post_init__(self) -> None:
        _choice(self.cell, "cell", CELLS)
        _choice(self.head, "head", HEADS)
        _choice(self.inputs, "inputs", INPUTS)
        _positive(self, "units", "layers")
        for name in ("features", "outputs"):
            if getattr(self, name) is not None:
                _positive(self, name)
        if self.head == "softmax" and self.outputs is not None and self.outputs < 2:
            raise ConfigError(
                f"a softmax head needs at least 2 classes, got outputs={self.outputs}; "
                "use head='sigmoid' for a 0/1 target."
            )
        if self.inputs == "tokens" and self.features is not None and not 2 <= self.features <= MAX_TOKENS:
            raise ConfigError(
                f"a model on tokens reads 2 to {MAX_TOKENS:,} of them (one token is no input; ids "
                f"travel as float32), got features={self.features:,}."
            )

    @property
    def tokens(self) -> bool:
        """Whether x holds one token id per step (inputs="tokens")."""
        return self.inputs == "tokens"

    @property
    def input_width(self) -> int | None:
        """Columns of x per step: 1 for token ids, else `features`."""
        return 1 if self.tokens else self.features

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Keras' layer names, bottom first: lstm, lstm_1, lstm_2, ..."""
        return tuple(self.cell if i == 0 else f"{self.cell}_{i}" for i in range(self.layers))

    @property
    def resolved(self) -> bool:
        return self.features is not None and self.outputs is not None

    def replace(self, **changes: Any) -> Model:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; `inputs` only when it is "tokens", so a file or record of a
        model on values reads in a statecarry that predates the field."""
        fields = dataclasses.asdict(self)
        if not self.tokens:
            del fields["inputs"]
        return fields

    def recurrent_params(self) -> int:
        """Parameters of the recurrent layers (what RTRL's sensitivity is taken against)."""
        if self.features is None:
            raise ConfigError("the model's input width is unknown until it meets data.")
        g, u = GATES[self.cell], self.units
        bias = 2 * g * u if self.cell == "gru" else g * u  # Keras' GRU: input and recurrent bias
        first = g * u * (self.features + u) + bias
        return first + (self.layers - 1) * (g * u * (u + u) + bias)

    def state_size(self) -> int:
        """Floats of carried state per stream: (h, c) per LSTM layer, h per GRU layer."""
        return self.layers * self.units * (2 if self.cell == "lstm" else 1)


@dataclass(frozen=True)
class Train:
    """How to train: where the state is reset, how far a gradient reaches, Adam as Keras has it.

    Modes: `stateless` zeroes the state before every batch; `stateful` carries it, with the
    gradient reaching back `horizon` batches (1 = Keras); `rtrl` carries it with the exact
    gradient through the whole history (forward-mode sensitivities; small models only); `uoro`
    (unbiased rank-one estimate) and `snap1` (sparse one-step pattern) approximate it at
    O(params) memory.

    Args:
        mode: "stateless", "stateful", "rtrl", "uoro" or "snap1" (above).
        horizon: batches one gradient reaches back through (stateful only; 1 = Keras).
        reset: "epoch" zeroes the training state before each epoch, "never" carries it on.
        carry: "hc" carries an LSTM's h and c across batches (Keras); "c" only c.
        shuffle: reshuffle the samples every epoch, as Keras' `fit(shuffle=True)` (it breaks
            the streams a stateful model reads, on purpose).
        epochs: passes over the training data.
        learning_rate, beta1, beta2, adam_eps: Adam exactly as Keras applies it (its
            defaults); data, not constants, so runs that differ only here share one program.
        loss: "mse", "bce" or "cross-entropy"; None takes the head's own.
    """

    mode: Literal["stateless", "stateful", "rtrl", "uoro", "snap1"] = "stateful"
    horizon: int = 1  # batches one gradient reaches back through; 1 = Keras
    reset: Literal["epoch", "never"] = "epoch"  # when the training state is zeroed
    carry: Literal["hc", "c"] = "hc"  # what crosses a batch boundary; Keras carries h and c
    shuffle: bool = False  # reshuffle the samples every epoch (breaks streams on purpose)
    epochs: int = 10
    learning_rate: float = 1e-3  # Keras' Adam default
    beta1: float = 0.9  # Keras' Adam default
    beta2: float = 0.999  # Keras' Adam default
    adam_eps: float = 1e-7  # Keras' default, not optax's 1e-8 (and applied Keras' way)
    loss: Literal["mse", "bce", "cross-entropy"] | None = None  # None: the head's own

    def __post_init__(self) -> None:
        _choice(self.mode, "mode", MODES)
        _choice(self.reset, "reset", RESETS)
        _choice(self.carry, "carry", CARRIES)
        if self.loss is not None:
            _choice(self.loss, "loss", LOSSES)
        _positive(self, "horizon", "epochs")
        for name in ("learning_rate", "beta1", "beta2", "adam_eps"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or not 0 <= value <= FLOAT32_MAX
            ):
                raise ConfigError(
                    f"{name} must be a finite number from 0 to {FLOAT32_MAX:.4g} "
                    f"(the engine computes in float32), got {value!r}."
                )
        if type(self.shuffle).__name__ not in ("bool", "bool_"):  # NumPy's too, without importing it
            raise ConfigError(f"shuffle must be True or False, got {self.shuffle!r}.")
        object.__setattr__(self, "shuffle", bool(self.shuffle))
        if not (self.beta1 < 1 and self.beta2 < 1):
            raise ConfigError(f"Adam betas must be below 1, got {self.beta1} and {self.beta2}.")
        if self.horizon > 1 and self.mode != "stateful":
            raise ConfigError(
                f"horizon {self.horizon} needs mode stateful (got {self.mode}); stateless has "
                "no state to reach back through, and rtrl, uoro and snap1 already reach back "
                "through all of it."
            )

    def loss_for(self, model: Model) -> str:
        """The loss this run minimises: the one asked for, or the head's default."""
        allowed = HEAD_LOSSES[model.head]
        if self.loss is None:
            return allowed[0]
        if self.loss not in allowed:
            raise ConfigError(
                f"loss {self.loss!r} does not fit a {model.head} head; use "
                f"{' or '.join(repr(a) for a in allowed)}."
            )
        return self.loss

    def check(self, model: Model) -> None:
        """Everything that depends on the model too."""
        self.loss_for(model)
        if self.carry == "c" and model.cell != "lstm":
            raise ConfigError(
                f"carry 'c' keeps an LSTM's cell state and drops h; a {model.cell} has only h, "
                "so use carry 'hc'."
            )

    def replace(self, **changes: Any) -> Train:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def structure(self) -> Train:
        """What the compiled program depends on: this Train with the `DATA_FIELDS` (learning
        rate, Adam's betas and epsilon) at their defaults and one epoch."""
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in DATA_FIELDS}
        return dataclasses.replace(self, epochs=1, **defaults)


def _choice(value: object, name: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(options)}.")


def _positive(spec: object, *names: str) -> None:
    for name in names:
        whole_size(getattr(spec, name), name.replace("_", "-"), ConfigError)
