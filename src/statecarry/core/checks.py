"""Data against a model, checked before anything compiles: one sentence per problem (NumPy only).

The model's input width and outputs come from here (`resolve`): features from `x`, outputs from
`y` (or, for a softmax head, the number of classes the labels need).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..data.inputs import whole_size
from ..data.layout import Batches
from ..errors import ConfigError, DataError
from .spec import MAX_TOKENS, Model, Train

INT32 = 2**31
# Params alone look like a model on `features` values; a model on ids needs its Model.
TOKENS_HINT = " (a model on token ids: pass its Model, inputs='tokens')."


def seed_list(seeds: Any) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if not 1 <= seeds <= INT32:
            raise ConfigError(
                f"a seed count must be from 1 to {INT32:,} (seeds are 32-bit integers), got {seeds}."
            )
        seeds = range(int(seeds))
    elif isinstance(seeds, range) and len(seeds) > INT32:
        raise ConfigError(f"{len(seeds):,} seeds are more than the {INT32:,} 32-bit seeds there are.")
    if isinstance(seeds, (str, bytes)):
        raise ConfigError(f"seeds must be whole numbers or a count, got the text {seeds!r}; write seeds=12 "
                          "for the first 12 seeds, or seeds=[12] for seed 12.")  # fmt: skip
    try:
        out = [_whole(s) for s in seeds]
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"seeds must be whole numbers (or a count), got {seeds!r}."
        ) from None
    if not out:
        raise ConfigError("no seeds to run; give at least one seed.")
    if len(set(out)) != len(out):
        twice = next(s for s in out if out.count(s) > 1)
        raise ConfigError(f"seed {twice} is given twice; give each seed once.")
    bad = [s for s in out if not -INT32 <= s < INT32]
    if bad:
        raise ConfigError(f"seed {bad[0]} does not fit in 32 bits; use seeds below 2**31.")
    return out


def _whole(seed: Any) -> int:
    """A seed as an int: 3, np.int64(3) or 3.0, but not 1.5, True or '3'."""
    if isinstance(seed, (str, bytes, bool, np.bool_)) or float(seed) != int(seed):
        raise ValueError(seed)
    return int(seed)


def as_batches(data: Any, what: str) -> Batches:
    if isinstance(data, Batches):
        return data
    if isinstance(data, tuple) and len(data) == len(Batches._fields):
        return Batches(*data)
    raise DataError(
        f"{what} must be statecarry Batches (from from_series, pack or from_samples), got "
        f"{type(data).__name__}."
    )


def split_pair(result: Any, seed: int) -> tuple[Batches, Batches | None]:
    """A data function's result: (train, test) or train alone."""
    if isinstance(result, Batches):
        return result, None
    if isinstance(result, tuple) and len(result) == 2:
        train, test = result
        return as_batches(train, f"the training data of seed {seed}"), (
            None if test is None else as_batches(test, f"the test data of seed {seed}")
        )
    return as_batches(result, f"the data of seed {seed}"), None


def stack(items: list[Batches]) -> Batches:
    shapes = {tuple(np.shape(f) for f in b) for b in items}
    if len(shapes) > 1:
        raise DataError(
            "the seeds' data sets have different shapes; every seed's Batches must have the "
            "same number of batches, rows, steps, features and outputs."
        )
    return Batches(*(np.stack(parts) for parts in zip(*items)))


def _check_fields(b: Batches, what: str) -> None:
    x = np.asarray(b.x)
    if x.ndim not in (4, 5):
        raise DataError(
            f"{what}: x must be (n_batches, batch, time, features), got shape {x.shape}."
        )
    lead = x.shape[:-1]
    y = np.asarray(b.y)
    if y.shape[:-1] != lead:
        raise DataError(
            f"{what}: y must be per step, {lead + ('outputs',)}, got shape {y.shape}."
        )
    for name in ("reset", "weight", "known"):
        if np.shape(getattr(b, name)) != lead:
            raise DataError(f"{what}: {name} must be {lead}, got {np.shape(getattr(b, name))}.")
    for name in ("x", "y", "weight"):
        values = np.asarray(getattr(b, name))
        if not np.isfinite(values).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(values))[0])
            raise DataError(
                f"{what}: {name} has a NaN or infinite value at {where}; fill or drop such "
                "values first."
            )
    if (np.asarray(b.weight) < 0).any():
        where = tuple(int(i) for i in np.argwhere(np.asarray(b.weight) < 0)[0])
        raise DataError(f"{what}: weight has a negative value at {where}; a weight is 0 (no target) or positive.")
    if not (np.asarray(b.weight) > 0).any():
        raise DataError(f"{what} has no step with a target (every weight is 0).")


def resolve(model: Model, train: Train, data: Batches, test: Batches | None, what: str = "the training data") -> Model:
    """The model with its input width and outputs read from the data, after checking that the
    data fits it and the loss: features, outputs, classes, targets (`what`: the data's name in
    a message)."""
    train.check(model)
    loss = train.loss_for(model)
    pairs = _pairs(data, test, what)
    for b, name in pairs:
        _check_fields(b, name)
    fitting = what == "the training data"
    features = _vocabulary(model, pairs, fitting) if model.tokens else data.x.shape[-1]
    if not model.tokens and test is not None and test.x.shape[-1] != features:
        raise DataError(
            f"the test data has {test.x.shape[-1]} features but the training data {features}."
        )
    if not model.tokens and model.features is not None and model.features != features:
        raise DataError(
            f"the model reads {model.features} feature(s) but {what} has {features}; give "
            "data with the model's features"
            + (" (or a Model without features= to read them)." if fitting
               else TOKENS_HINT if features == 1 else ".")
        )
    if model.head == "softmax":
        outputs = _classes(model, pairs, fitting=fitting)
    else:
        outputs = data.y.shape[-1]
        for b, what in pairs:
            if b.y.shape[-1] != outputs:
                raise DataError(f"{what} has {b.y.shape[-1]} outputs but the training data {outputs}.")
        if model.outputs is not None and model.outputs != outputs:
            raise DataError(
                f"the model has {model.outputs} output(s) but the data's targets have {outputs}."
            )
        if loss == "bce":
            for b, what in pairs:
                y = np.asarray(b.y)[np.asarray(b.weight) > 0]
                if ((y < 0) | (y > 1)).any():
                    raise DataError(
                        f"{what} has targets outside [0, 1] ({float(y.min()):g} to "
                        f"{float(y.max()):g}); bce needs 0/1 targets (or use loss 'mse' / a "
                        "linear head for a real-valued target)."
                    )
    n_batches = data.x.shape[-4]
    if train.horizon > n_batches:
        raise ConfigError(
            f"horizon {train.horizon} is longer than an epoch ({n_batches} batches); use at "
            f"most {n_batches}."
        )
    return model.replace(features=int(features), outputs=int(outputs))


def _pairs(data: Batches, test: Batches | None, what: str) -> list[tuple[Batches, str]]:
    """The data and its name in a message, then the test data if any."""
    return [(data, what)] + ([(test, "the test data")] if test is not None else [])


def token_ids(x: np.ndarray, vocabulary: int | None, what: str, fitting: bool = False) -> int:
    """Token inputs (`Model.inputs="tokens"`): x holds one whole number per step, from 0 to
    `vocabulary` - 1. Returns the largest id (-1 for no steps); one sentence if x does not fit
    (`fitting`: the vocabulary may still be chosen, else it is a trained model's)."""
    x = np.asarray(x)
    if x.shape[-1:] != (1,):
        raise DataError(
            f"{what}: a model on tokens reads one token id per step, but x has {x.shape[-1]} "
            "columns; give the ids (0, 1, 2, …) in one column, not one-hot rows."
        )
    bad = (x < 0) | (x != np.round(x)) | (x >= MAX_TOKENS)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{what} has the token id {float(x[where]):g} at {where}; token ids are whole numbers "
            f"from 0 to {(vocabulary or MAX_TOKENS) - 1:,}."
        )
    top = int(x.max()) if x.size else -1
    if vocabulary is not None and top >= vocabulary:
        where = tuple(int(i) for i in np.argwhere(x >= vocabulary)[0])
        fix = ("give Model(features=...) the vocabulary's size" if fitting
               else "a trained model has a row only for the ids it was trained with")  # fmt: skip
        raise DataError(
            f"{what} has the token id {int(x[where])} at {where}, past the model's {vocabulary:,} "
            f"tokens (0 to {vocabulary - 1:,}); {fix}."
        )
    return top


def tokens_of_every_seed(model: Model, train: Batches, test: Batches | None) -> Model:
    """A tokens model's vocabulary read from every seed's data at once (data with a seed axis),
    not the first seed's alone; the ids are checked as `resolve` checks them."""
    pairs = _pairs(train, test, "the training data")
    return model.replace(features=_vocabulary(model, pairs, fitting=True))


def _vocabulary(model: Model, pairs: list[tuple[Batches, str]], fitting: bool) -> int:
    """A tokens model's input width: `Model.features`, or the largest id in the data + 1 (at
    least 2: one token is no input at all)."""
    top = max(token_ids(b.x, model.features, what, fitting) for b, what in pairs)
    return model.features if model.features is not None else max(top + 1, 2)


def _classes(model: Model, pairs: list[tuple[Batches, str]], fitting: bool = True) -> int:
    """Softmax targets are class indices in y's one column; the classes come from the labels
    (or `Model.outputs`, which every label must be below; a trained model's, when not `fitting`)."""
    top = -1
    for b, what in pairs:
        if b.y.shape[-1] != 1:
            raise DataError(
                f"{what}: a softmax head reads one class index per step, but y has "
                f"{b.y.shape[-1]} columns; give the class index (0, 1, 2, …), not one-hot rows."
            )
        labels = np.asarray(b.y)[np.asarray(b.weight) > 0][..., 0]
        if (labels < 0).any() or (labels != np.round(labels)).any():
            bad = labels[(labels < 0) | (labels != np.round(labels))][0]
            raise DataError(
                f"{what} has the class label {float(bad):g}; a softmax head needs whole class "
                "indices 0, 1, 2, …"
            )
        if model.outputs is not None and (labels >= model.outputs).any():
            fix = (f"give Model(outputs={int(labels.max()) + 1})" if fitting
                   else "a trained model scores only the classes it was trained with")  # fmt: skip
            raise DataError(
                f"{what} has class index {int(labels.max())}, past the model's {model.outputs} "
                f"classes (0 to {model.outputs - 1}); {fix}."
            )
        top = max(top, int(labels.max()) if labels.size else -1)
    outputs = model.outputs if model.outputs is not None else max(top + 1, 2)
    return outputs


def has_known(data: Batches, test: Batches | None) -> bool:
    """Whether any step's target is marked as determined by the inputs (`Batches.known`)."""
    return bool(np.asarray(data.known).any() or (test is not None and np.asarray(test.known).any()))


def same_shapes(train0: Batches, test0: Batches | None, train: Batches, test: Batches | None, shared: bool) -> None:
    """A later chunk of seeds must have the first chunk's shapes (one compiled program)."""
    if shared:
        return
    for a, b, what in ((train0, train, "training"), (test0, test, "test")):
        if a is None or b is None:
            continue
        if tuple(np.shape(f)[1:] for f in a) != tuple(np.shape(f)[1:] for f in b):
            raise DataError(
                f"a later seed's {what} data has other shapes than the first seed's; every "
                "seed's Batches must have the same shapes."
            )


def fit_options(chunk_size: Any, **callbacks: Any) -> None:
    """`fit`'s keyword arguments: a chunk size in range, callbacks that can be called."""
    if chunk_size is not None:
        whole_size(chunk_size, "chunk_size", ConfigError)
    for name, fn in callbacks.items():
        if fn is not None and not callable(fn):
            raise ConfigError(f"{name} must be a function (or None), got {type(fn).__name__}.")


def side_by_side(trains: Any) -> list:
    """`Train`s that can share one program: the same `structure()` and epochs (only Adam's data
    — learning rate, betas, epsilon — and the loss may differ)."""
    trains = list(trains)
    if not trains or not all(isinstance(t, Train) for t in trains):
        raise ConfigError("fit takes a Train, or a non-empty list of Trains to run side by side.")
    first = trains[0]

    def shape(t: Train) -> Train:  # what a program depends on, but for the loss
        return dataclasses.replace(t.structure(), loss=None)

    for t in trains[1:]:
        if shape(t) != shape(first) or t.epochs != first.epochs:
            raise ConfigError(
                "Trains run side by side may differ only in learning_rate, beta1, beta2, "
                "adam_eps and loss (one program serves them all); fit the others separately."
            )
    return trains
