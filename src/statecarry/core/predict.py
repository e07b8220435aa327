"""Inference at any batch size: batched `predict`, a step-at-a-time `Predictor`, and `rollout`
(a recursive forecast that feeds each prediction back as the next input).

Keras builds a stateful model for one batch size and refuses to predict with another, because
the state lives inside the layer. Here the state is a value: it goes in and comes back out,
so a model trained with batch_size 4 serves 1 stream or 1000, and several independent states
can be in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from ..data.inputs import whole_size
from ..data.layout import Batches
from ..errors import DataError
from . import arguments, cells, checks, engine, heads
from .cells import Params, State
from .runtime import dot_options, program_cache
from .spec import GATES, Model, Train

STATEFUL = Train(mode="stateful")


def model_of(params: Params, model: Model | None = None) -> Model:
    """`model` with features and outputs from `params` (a sigmoid LSTM stack if None), checked
    against the parameters' shapes."""
    if not isinstance(params, dict):
        raise DataError(
            f"params must be one seed's parameters (a dict), got {type(params).__name__}; "
            "use Fit.params_of(seed) or the params load() returns."
        )
    if model is not None and not isinstance(model, Model):
        raise DataError(f"model must be a statecarry Model, got {type(model).__name__}.")
    cell = model.cell if model is not None else ("gru" if "gru" in params else "lstm")
    kernel = np.shape(params.get(cell, {}).get("kernel", ()))
    if len(kernel) == 3:
        raise DataError(
            f"these params have a leading seed axis ({kernel[0]} seeds), as Fit.params does; "
            "pick one seed with Fit.params_of(seed)."
        )
    names = [k for k in params if k == cell or k.startswith(f"{cell}_")]
    try:
        kernel = np.shape(params[cell]["kernel"])
        units = np.shape(params[cell]["recurrent_kernel"])[0]
        outputs = np.shape(params["dense"]["kernel"])[-1]
    except (KeyError, TypeError, IndexError):
        raise DataError(
            f"params must hold '{cell}' and 'dense' layers with Keras' names, as fit or load "
            "give them."
        ) from None
    guess = Model(cell=cell, units=int(units), layers=len(names), head="sigmoid")
    base = model or guess
    resolved = base.replace(features=int(kernel[0]), outputs=int(outputs))
    if (resolved.units, resolved.layers) != (guess.units, guess.layers) or kernel[1] != (
        GATES[cell] * resolved.units
    ):
        raise DataError(
            f"the params are {guess.layers} {cell} layer(s) of {guess.units} units, but the model "
            f"says {base.layers} of {base.units}; pass the model the params were trained with."
        )
    for name in ("features", "outputs"):
        given = getattr(base, name)
        if given is not None and given != getattr(resolved, name):
            raise DataError(
                f"the model says {name} {given} but the params have {getattr(resolved, name)}."
            )
    arguments.params_fit(params, resolved)
    return resolved


def _as_x(data: Any, model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (n_batches, batch, time, features) and resets from Batches or a bare array."""
    if isinstance(data, Batches):
        x, reset = np.asarray(data.x, np.float32), np.asarray(data.reset, bool)
        given = x.shape
    else:
        x = arguments.floats(data, "the inputs")
        given = x.shape  # as the caller wrote it, for the messages
        if x.ndim == 3:
            x = x[None]
        reset = np.zeros(x.shape[:3], bool)
    width = model.input_width
    if x.ndim != 4:
        hint = "; one series (time, features) is x[None], one row of one batch" if x.ndim == 2 else ""
        if model.tokens and x.ndim in (1, 2):  # (time,) or (batch, time) ids: say which axis is which
            hint = "; one stream of ids (time,) is x[None, :, None], a (batch, time) array of them x[..., None]"
        raise DataError(
            f"inputs must be (batch, time, {width}) or (n_batches, batch, time, "
            f"{width}) for this model, got shape {given}{hint}."
        )
    if 0 in x.shape[:3]:
        axis = ("batches", "rows", "steps")[x.shape[:3].index(0)]
        raise DataError(f"the inputs have no {axis} (shape {given}); give at least one of each to predict.")
    if not np.isfinite(x).all():
        raise DataError("the inputs contain NaN or infinite values; fill or drop them first.")
    if model.tokens:
        checks.token_ids(x, model.features, "the input data")
    elif x.shape[-1] != model.features:
        raise DataError(
            f"the model reads {model.features} feature(s) but the inputs have {x.shape[-1]} "
            f"(shape {given}); give the features the model was trained on"
            + (checks.TOKENS_HINT if x.shape[-1] == 1 else ".")
        )
    return x, reset


@program_cache
def _predict_fn(model: Model, train: Train, fresh: bool):
    def run(params, x, reset, state):
        batches = Batches(x, x[..., :0], reset, reset.astype(jnp.float32), reset)
        state, out = engine.outputs(params, batches, model, train, None if fresh else state)
        return heads.prediction(out, model.head), state

    return jax.jit(run, compiler_options=dot_options(model))


def predict(
    params: Params,
    batches: Batches | ArrayLike,
    model: Model | None = None,
    state: State | None = None,
    *,
    train: Train | None = None,
) -> tuple[np.ndarray, State]:
    """Predictions at every step and the state after the last batch: `(pred, state)`.

    `pred` is (n_batches, batch, time, outputs): probabilities (sigmoid, softmax) or values
    (linear). The state is carried from batch to batch and zeroed where the data resets it;
    the pass starts from zeros unless `state` is given (e.g. the state a previous call
    returned). `train` applies a mode's resets and carry rule (a stateless model resets
    before every batch); the default carries everything, as a stateful model is used.
    """
    model = model_of(params, model)
    x, reset = _as_x(batches, model)
    if state is not None:
        want = jax.tree.map(np.shape, cells.zeros_state(model, x.shape[1]))
        if jax.tree.map(np.shape, state) != want:
            raise DataError(
                f"the state does not fit {x.shape[1]} rows of this model; pass the state a "
                "previous predict call returned for the same batch size, or none."
            )
    fn = _predict_fn(model, train or STATEFUL, state is None)
    pred, state = fn(params, x, reset, cells.zeros_state(model, 1) if state is None else state)
    return np.asarray(pred), jax.tree.map(np.asarray, state)


@program_cache
def _evaluate_fn(model: Model, train: Train, fresh: bool):
    def run(params, batches, state):
        return engine.evaluate(params, batches, model, train, None if fresh else state)

    return jax.jit(run, compiler_options=dot_options(model))


def evaluate(
    params: Params,
    batches: Batches,
    model: Model | None = None,
    train: Train | None = None,
    state: State | None = None,
) -> tuple[dict[str, float], State]:
    """The head's metrics over `batches` (loss, and accuracy or RMSE/MAE) on a state of its
    own, and the state after the last batch. From zeros unless `state` is given; `train`
    gives the mode's resets, carry rule and loss (default: stateful, the head's loss)."""
    model = model_of(params, model)
    train = train or STATEFUL
    if not isinstance(batches, Batches):
        raise DataError(
            f"evaluate needs Batches (inputs, targets and weights), got {type(batches).__name__}; "
            "use from_series, from_samples or pack, or predict for inputs alone."
        )
    # the targets must fit the head and loss, as fit checks them (a class past the model's or a
    # bce target outside [0, 1] would give NaN or a plausible wrong number); no horizon to check
    checks.resolve(model, train.replace(horizon=1), batches, None, "the data")
    x, _ = _as_x(batches, model)
    fn = _evaluate_fn(model, train, state is None)
    data = jax.tree.map(jnp.asarray, batches)
    sums, state = fn(params, data, cells.zeros_state(model, x.shape[1]) if state is None else state)
    sums = {k: np.asarray(v) for k, v in sums.items()}
    values = heads.metrics(sums, model.head, bool(np.asarray(batches.known).any()))
    return {k: float(v) for k, v in values.items()}, jax.tree.map(np.asarray, state)


@program_cache
def _rollout_fn(model: Model, steps: int, window: int | None, scale: float, shift: float):
    def fresh(params, inputs):
        reset = jnp.zeros(inputs.shape[0], bool)
        zeros = jax.tree.map(lambda s: s[0], cells.zeros_state(model, 1))
        return cells.run_stream(params, model, zeros, inputs, reset)

    def last(params, h):
        return cells.head(params["dense"], h[-1], model.head)

    def run(params, context):
        if window is None:  # stateful: warm the state on the context, then carry it
            state, hs = fresh(params, context)
            first = heads.prediction(last(params, hs), model.head)

            def feed(carry, _):
                state, y = carry
                state, h = cells.stack_step(params, model, state, (y - shift) / scale)
                return (state, heads.prediction(cells.head(params["dense"], h, model.head), model.head)), y

            _, out = jax.lax.scan(feed, (state, first), None, length=steps)
            return out

        def slide(win, _):  # stateless: every prediction from zeros over the last `window`
            y = heads.prediction(last(params, fresh(params, win)[1]), model.head)
            return jnp.concatenate([win[1:], ((y - shift) / scale)[None]]), y

        _, out = jax.lax.scan(slide, context[-window:], None, length=steps)
        return out

    return jax.jit(run, compiler_options=dot_options(model))


def rollout(
    params: Params,
    context: ArrayLike,
    steps: int,
    model: Model | None = None,
    *,
    window: int | None = None,
    scale: float = 1.0,
    shift: float = 0.0,
) -> np.ndarray:
    """A recursive forecast of `steps` values, `(steps, outputs)`, after reading `context`
    ((time, features) or (time,)): each prediction y becomes the next input
    `(y - shift) / scale` (undo a target scaling; identity by default), so the model must
    predict its own inputs (outputs == features).

    `window=None` warms the state on the whole context and carries it (a stateful model);
    `window=w` predicts each value from a fresh state over the last `w` inputs (a stateless,
    windowed model).
    """
    model = model_of(params, model)
    whole_size(steps, "steps", DataError)
    if window is not None:
        whole_size(window, "window", DataError)
    context = arguments.floats(context, "the context")
    if context.ndim == 1:
        context = context[:, None]
    if model.tokens:
        raise DataError(
            "rollout feeds predictions back as inputs, but this model reads token ids and "
            "predicts values or probabilities; step a Predictor and choose each next token yourself."
        )
    if model.outputs != model.features:
        raise DataError(
            f"rollout feeds predictions back as inputs, but the model reads {model.features} "
            f"feature(s) and predicts {model.outputs}."
        )
    if not np.isfinite(context).all():
        raise DataError("the context contains NaN or infinite values; fill or drop them first.")
    if context.ndim != 2 or context.shape[1] != model.features or len(context) < (window or 1):
        raise DataError(
            f"the context must be (time, {model.features}) with at least {window or 1} step(s), "
            f"got shape {context.shape}."
        )
    return np.asarray(_rollout_fn(model, int(steps), window, float(scale), float(shift))(params, context))


@jax.jit
def _reset(state: State, mask) -> State:
    return jax.vmap(cells.reset_where)(state, mask)


class Predictor:
    """One-step predictions from `params` for any number of streams; holds no state.

    Example:
        predictor = Predictor(params, model)
        state = predictor.init_state(batch_size=3)
        for x in steps:  # x: (3, features), one step of three streams
            state, y = predictor.step(state, x)  # y: (3, outputs)
        state = predictor.reset(state, [1])  # stream 1 starts a new sequence
    """

    def __init__(self, params: Params, model: Model | None = None):
        self.model = model_of(params, model)
        self.params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
        self.features, self.units, self.outputs = (
            self.model.input_width, self.model.units, self.model.outputs,
        )
        self._step = jax.jit(
            jax.vmap(self._one, in_axes=(None, 0, 0)), compiler_options=dot_options(self.model)
        )

    def _one(self, params: Params, state: State, x):
        state, h = cells.stack_step(params, self.model, state, x)
        return state, heads.prediction(cells.head(params["dense"], h, self.model.head), self.model.head)

    def init_state(self, batch_size: int) -> State:
        """Zeros for `batch_size` streams, the state before any step."""
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise DataError(f"batch_size must be a positive whole number, got {batch_size!r}.")
        return cells.zeros_state(self.model, int(batch_size))

    def step(self, state: State, x: ArrayLike):
        """One step of every stream: x is (batch, features), or (batch,) when features is 1
        (a model on tokens: (batch,) ids, or (batch, 1)).

        The prediction y[i] is the model's output after stream i has read x[i] (for a model
        trained on next values, the forecast of stream i's next value).
        """
        batch = arguments.state_rows(state, self.model)
        x = arguments.floats(x, "x")
        if x.ndim == 1 and self.features == 1:
            x = x[:, None]
        if self.model.tokens and (x.ndim != 2 or x.shape[1] != 1):
            raise DataError(f"x must be (batch,) token ids: this model reads one id per step, got shape {x.shape}.")
        if x.ndim != 2 or x.shape[1] != self.features:
            raise DataError(
                f"x must be (batch, {self.features}): this model reads {self.features} "
                f"feature(s), got shape {x.shape}"
                + (checks.TOKENS_HINT if x.ndim == 1 or x.shape[-1] == 1 else ".")
            )
        if x.shape[0] != batch:
            raise DataError(
                f"x has {x.shape[0]} row(s) but the state has {batch}; make a state with "
                f"init_state({x.shape[0]}) for another batch size."
            )
        if not np.isfinite(x).all():
            raise DataError("x contains NaN or infinite values; fill or drop them first.")
        if self.model.tokens:
            checks.token_ids(x, self.model.features, "x")
        return self._step(self.params, state, x)

    def reset(self, state: State, rows: ArrayLike) -> State:
        """Zero the state of `rows` (a bool mask over the batch, or row indices): those
        streams start a new sequence at their next step; the others carry on."""
        batch = arguments.state_rows(state, self.model)
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (batch,):
                raise DataError(
                    f"a reset mask must have one entry per row, {batch}, got shape {rows.shape}."
                )
            mask = rows
        else:
            if rows.size and (
                not np.issubdtype(rows.dtype, np.integer)
                or rows.min() < -batch
                or rows.max() >= batch
            ):
                raise DataError(
                    f"reset rows must be indices from 0 to {batch - 1} (or a bool mask), got "
                    f"{rows.tolist()}."
                )
            mask = np.zeros(batch, bool)
            mask[rows.astype(np.int64)] = True
        return _reset(state, jnp.asarray(mask))

    def stream(self, series: Iterable[ArrayLike], state: State | None = None) -> Iterator[np.ndarray]:
        """Feed one stream a value at a time; yield the prediction after each, shape (outputs,).

        `series` is any iterable of values (numbers when features is 1, else (features,)
        vectors), e.g. a 1-D array or a live feed. The stream starts from zeros unless `state`
        (batch size 1) is given, e.g. one warmed up with `step`.
        """
        state = self.init_state(1) if state is None else state
        rows = arguments.state_rows(state, self.model)
        if rows != 1:
            raise DataError(
                f"stream() feeds one stream, but the state has {rows} rows; use "
                "step() for several streams at once."
            )
        if isinstance(series, (str, bytes)):
            raise DataError(f"stream() reads numbers, got the text {series!r:.40}.")
        for value in series:
            state, y = self.step(state, arguments.floats(value, "each value").reshape(1, -1))
            yield np.asarray(y[0])
