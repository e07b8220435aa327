"""A user's table, prepared for the engine: the split, the scaling, the head, the layout.

- **split**: by time (the last `test_fraction` of every sequence is its test part) or by id
  (the last `test_fraction` of the ids are test sequences).
- **scaling**: features (and a real-valued target) standardised with the training part's
  mean and standard deviation only; stored with the model and undone in predictions.
- **head**: a real target gets a linear head and MSE; a 0/1 target a sigmoid and BCE; a
  column of a few whole-number labels a softmax and cross-entropy.
- **ahead**: the target `ahead` steps after the inputs; 0 (a target read from the other
  columns at the same step) unless a target is also an input, which is then forecast 1 step
  ahead.
- **layout**: `streams` (one series cut into `batch_size` contiguous pieces, many sequences
  packed with a reset at each start) or `windows` (every step's last `time_steps` inputs,
  the stateless baseline).

Test metrics count every test sequence's steps from its `time_steps`-th on, so the windows
and the streams are scored on the same steps, each with a full window of context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .. import stats
from ..data.layout import Batches
from ..data.steps import pack_steps, windows_of
from ..data.tables import Columns, Sequences
from ..errors import ConfigError, DataError
from . import scores

FEW_LABELS = 10  # at most this many whole-number values: a column of labels, not a quantity


@dataclass(frozen=True)
class Setup:
    """How a table becomes batches; every default on one screen."""

    layout: Literal["streams", "windows"] = "streams"
    split: Literal["time", "id"] = "time"
    test_fraction: float = 0.2  # of every series' steps (split time) or of the ids (split id)
    batch_size: int = 16  # rows per batch (fewer when the data cannot fill them)
    time_steps: int = 16  # steps per batch; also the windows' length
    ahead: int | None = None  # None: 0, or 1 when a target is also a feature
    head: Literal["linear", "sigmoid", "softmax"] | None = None  # None: from the target
    inputs: Literal["values", "tokens"] = "values"  # tokens: one feature column of ids, unscaled

    def __post_init__(self) -> None:
        if self.layout not in ("streams", "windows"):
            raise ConfigError(f"unknown layout {self.layout!r}; choose streams or windows.")
        if self.split not in ("time", "id"):
            raise ConfigError(f"unknown split {self.split!r}; choose time or id.")
        if not 0 <= self.test_fraction < 1:
            raise ConfigError(f"--test-fraction must be from 0 to below 1, got {self.test_fraction}.")
        for name in ("batch_size", "time_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}.")
        if self.inputs not in ("values", "tokens"):
            raise ConfigError(f"unknown inputs {self.inputs!r}; choose values or tokens.")
        if self.ahead is not None and self.ahead < 0:
            raise ConfigError(f"--ahead must be 0 or more, got {self.ahead}.")


@dataclass
class Prepared:
    """Everything `fit` needs and everything `predict` must repeat (`meta`)."""

    columns: Columns
    setup: Setup
    head: str
    ahead: int
    labels: list | None  # softmax: the label values, in class-index order
    scaling: dict[str, list[float]]  # x_mean, x_std, y_mean, y_std (y_* only for linear)
    train: Batches
    test: Batches | None
    test_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    train_sequences: int = 1  # how many sequences the training part has (one: cut into streams)
    day_first: bool = False  # its dates were read day first: so are predict's and evaluate's
    label_names: list[str] | None = None  # text labels, in class-index order (predict writes them)
    short_tests: tuple[int, int] = (0, 0)  # test parts too short to score a step, of all the test parts

    def meta(self) -> dict:
        """What a saved model carries so that `predict` needs only the model and a table."""
        return {"columns": self.columns.to_json(), "head": self.head, "ahead": self.ahead,
                "labels": self.label_names or self.labels, "scaling": self.scaling, "layout": self.setup.layout,
                "time_steps": self.setup.time_steps, "day_first": self.day_first}  # fmt: skip


def choose_head(y: np.ndarray, head: str | None) -> tuple[str, list | None]:
    """The head a target asks for, and the labels of a softmax (None otherwise)."""
    values = np.unique(y)
    whole = np.all(values == np.round(values))
    if whole and len(values) < 2 and head != "linear":  # labels, all the same: 0/1 or a softmax's
        raise DataError(f"the target has one label only ({values[0]:g}); there is nothing to classify.")
    if head is None:
        if whole and set(values.tolist()) <= {0.0, 1.0}:
            head = "sigmoid"
        elif whole and len(values) <= FEW_LABELS and y.shape[1] == 1:
            head = "softmax"
        else:
            head = "linear"
    if head == "softmax":
        if y.shape[1] != 1:
            raise ConfigError("a softmax head reads one target column of labels; give one --target.")
        if len(values) < 2:  # one value that is not a whole number, with --head softmax
            raise DataError(f"the target has one label only ({values[0]:g}); there is nothing to classify.")
        if not whole:  # a quantity: each distinct value would become a class of its own
            odd = values[values != np.round(values)]
            raise DataError(f"a softmax head makes each value of the target a class, but the target holds "
                            f"{odd[0]:g}, which is not a whole number; use --head linear to predict the value, or "
                            "give class labels (whole numbers or text).")  # fmt: skip
        return head, values.tolist()
    if head == "sigmoid" and not set(values.tolist()) <= {0.0, 1.0}:
        raise DataError(f"a sigmoid head needs 0/1 targets, but the target has values from "
                        f"{values.min():g} to {values.max():g}; use --head linear.")  # fmt: skip
    return head, None


def split(seqs: Sequences, setup: Setup) -> tuple[list[int], list[tuple[int, int]], list[tuple[int, int]]]:
    """(sequence numbers of the test ids, train parts, test parts) as (sequence, first step)."""
    n = len(seqs.x)
    if setup.split == "id":
        n_test = int(round(n * setup.test_fraction))
        if setup.test_fraction > 0 and n < 2:
            raise DataError(f"--split id needs at least 2 ids to hold some out; the table has {n}. "
                            "Use --split time.")  # fmt: skip
        if setup.test_fraction > 0 and (n_test < 1 or n_test >= n):
            keep = 1 if n_test < 1 else n - 1  # the nearest count that splits
            digits = next(d for d in range(4, 18) if int(round(n * float(f"{keep / n:.{d}g}"))) == keep)
            fix = f"--test-fraction {keep / n:.{digits}g} holds out {keep}"
            raise DataError(f"--split id holds out --test-fraction {setup.test_fraction:g} of the {n} ids, which "
                            f"rounds to {'none' if n_test < 1 else 'all of them'}; {fix}.")  # fmt: skip
        test_ids = list(range(n - n_test, n))
        return test_ids, [(k, 0) for k in range(n - n_test)], [(k, 0) for k in test_ids]
    cut = [len(x) - int(round(len(x) * setup.test_fraction)) for x in seqs.x]
    return [], [(k, 0) for k in range(n)], [(k, c) for k, c in enumerate(cut) if c < len(seqs.x[k])]


def prepare(seqs: Sequences, columns: Columns, setup: Setup) -> Prepared:
    """Split, scale, choose the head and lay out the batches."""
    if not columns.targets:
        raise DataError("there is no target column; give --target NAME.")
    test_ids, train_at, test_at = split(seqs, setup)
    cuts = {k: c for k, c in test_at} if setup.split == "time" else {}
    train_x = [seqs.x[k][: cuts.get(k, len(seqs.x[k]))] for k, _ in train_at]
    train_y = [seqs.y[k][: cuts.get(k, len(seqs.y[k]))] for k, _ in train_at]
    if sum(len(x) for x in train_x) < 2:
        raise DataError("the training part has fewer than 2 rows; give more rows or a smaller --test-fraction.")
    if seqs.labels is not None:  # text labels: a softmax over them, whatever their number
        if setup.head not in (None, "softmax"):
            raise ConfigError(f"the target holds text labels, which get a softmax head, not --head {setup.head}.")
        if len(seqs.labels) < 2:
            raise DataError(f"the target has one label only ({seqs.labels[0]!r}); there is nothing to classify.")
    tokens = setup.inputs == "tokens"
    if tokens:
        _check_token_ids(seqs, columns)
    # text labels, or a token stream whose target is its own next token: a softmax
    asked = "softmax" if seqs.labels is not None or (tokens and setup.head is None and set(columns.targets) <= set(columns.features)) else setup.head
    head, labels = choose_head(np.concatenate(train_y), asked)
    if labels is not None:  # a softmax's classes: every label in the table, the test part's too
        labels = np.unique(np.concatenate([np.unique(y) for y in seqs.y])).tolist()
        choose_head(np.asarray(labels)[:, None], "softmax")  # a fraction the test part alone holds
    ahead = setup.ahead if setup.ahead is not None else int(bool(set(columns.targets) & set(columns.features)))
    x_all = np.concatenate(train_x)
    x_mean, x_std = (np.zeros(1), np.ones(1)) if tokens else _moments(x_all)  # ids stay ids
    scaling = {"x_mean": x_mean.tolist(), "x_std": x_std.tolist()}
    if head == "linear":
        y_mean, y_std = _moments(np.concatenate(train_y))
        scaling |= {"y_mean": y_mean.tolist(), "y_std": y_std.tolist()}
    prep = Prepared(columns, setup, head, ahead, labels, scaling, None, None)  # type: ignore[arg-type]
    if seqs.labels is not None:
        prep.label_names = [seqs.labels[int(c)] for c in labels]
    xs, ys, ws = zip(*(encode(x, y, prep) for x, y in zip(train_x, train_y)))
    prep.train = lay_out(list(xs), list(ys), list(ws), setup, train=True)
    prep.train_sequences, prep.day_first = len(xs), seqs.day_first
    parts = [(seqs.x[k][c:], seqs.y[k][c:], seqs.times[k][c:]) for k, c in test_at]
    long_enough = [p for p in parts if len(p[0]) >= setup.time_steps + ahead]
    prep.short_tests = (len(parts) - len(long_enough), len(parts))  # (too short to score, all)
    parts = long_enough
    if parts:
        xs, ys, ws = zip(*(encode(x, y, prep, warmup=setup.time_steps - 1) for x, y, _ in parts))
        prep.test = lay_out(list(xs), list(ys), list(ws), setup, train=False)
        prep.test_parts = parts
    elif setup.test_fraction > 0:
        raise DataError(
            f"no test part is longer than --time-steps {setup.time_steps}"
            f"{f' + --ahead {ahead}' if ahead else ''}, so nothing can be scored; use a larger --test-fraction, "
            "a smaller --time-steps"
            + (", --split id (hold out whole sequences)" if setup.split == "time" and len(seqs.x) > 1 else "")
            + ", or --test-fraction 0 to train on everything."
        )
    return prep


def _check_token_ids(seqs: Sequences, columns: Columns) -> None:
    """`--inputs tokens`: one feature column of whole numbers from 0 (the engine reads id k as
    the k-th input, `Model(inputs="tokens")`)."""
    if len(columns.features) != 1:
        raise ConfigError(f"--inputs tokens reads one feature column of token ids, but the features are "
                          f"{len(columns.features)} ({', '.join(columns.features)}); name the id column with --features.")  # fmt: skip
    ids = np.concatenate([x[:, 0] for x in seqs.x])
    bad = ids[(ids != np.round(ids)) | (ids < 0)]
    if bad.size:
        raise DataError(f"--inputs tokens reads whole-number ids from 0, but {columns.features[0]} holds {bad[0]:g}; "
                        "number the tokens 0, 1, 2, … (or leave out --inputs tokens to read the column as a number).")  # fmt: skip


def _moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and deviation; a column past stats.OVERFLOW_SCALE is divided by its
    largest first (values near 1e300 overflow a sum or a square), the others keep their bits.
    A constant column keeps deviation 1 (it stays as it is, minus its mean)."""
    top = np.abs(a).max(0)
    scale = np.where(top > stats.OVERFLOW_SCALE, top, 1.0)
    mean, std = (a / scale).mean(0) * scale, (a / scale).std(0) * scale
    return mean, np.where(std > 0, std, 1.0)


def encode(x: np.ndarray, y: np.ndarray, prep: Prepared, warmup: int = 0):
    """Scaled inputs, targets `ahead` steps on (scaled, 0/1 or class index) and per-step
    weights (0 for the last `ahead` steps, which have no target, and the first `warmup`)."""
    s = prep.scaling
    xs = (x - np.asarray(s["x_mean"])) / np.asarray(s["x_std"])
    if prep.head == "linear":
        y = (y - np.asarray(s["y_mean"])) / np.asarray(s["y_std"])
    elif prep.head == "softmax":
        y = np.searchsorted(np.asarray(prep.labels), y).astype(np.float64)
    k = prep.ahead
    ys = np.zeros_like(y)
    ys[: len(y) - k] = y[k:]
    w = np.ones(len(x), np.float32)
    w[len(x) - k :] = 0.0
    w[:warmup] = 0.0
    return xs.astype(np.float32), ys.astype(np.float32), w


def decode(out: np.ndarray, prep_or_meta) -> np.ndarray:
    """Predictions in the target's own units (probabilities for sigmoid and softmax)."""
    meta = prep_or_meta.meta() if isinstance(prep_or_meta, Prepared) else prep_or_meta
    if meta["head"] != "linear":
        return out
    s = meta["scaling"]
    return out * np.asarray(s["y_std"]) + np.asarray(s["y_mean"])


def windowed_test(prep: Prepared) -> Batches:
    """The test part as one window ending at each scored step: how `predict` (and so
    `evaluate`) runs a stateless model, each step seeing the `time_steps` inputs up to it. A
    stateless model trained on streams would otherwise be scored batch by batch from a zero
    state, its early steps in each batch seeing less than `predict` gives them."""
    t = prep.setup.time_steps
    xs, ys, ws = zip(*(encode(x, y, prep, warmup=t - 1) for x, y, _ in prep.test_parts))
    return windows_of(list(xs), list(ys), list(ws), prep.setup.batch_size, t)


def lay_out(xs: list, ys: list, ws: list, setup: Setup, train: bool) -> Batches:
    """Streams (pieces of one series, or packed sequences) or windows, as `Batches`."""
    t = setup.time_steps
    if setup.layout == "windows":
        return windows_of(xs, ys, ws, setup.batch_size, t)
    if len(xs) == 1 and train:  # one series: PyTorch's word-LM layout, batch_size pieces
        rows = max(1, min(setup.batch_size, len(xs[0]) // max(t, 1)))
        cut = len(xs[0]) // rows * rows  # batchify trims the tail
        xs, ys, ws = (np.split(a[0][:cut], rows) for a in (xs, ys, ws))
    return pack_steps(xs, ys, ws, min(setup.batch_size, len(xs)), t)[0]


def persistence_rmse(prep: Prepared) -> dict[str, float] | None:
    """RMSE on the scored test steps of two baselines a model should beat, in the target's
    units: the last value known at the forecast's row (persistence: y[t] for the target y[t+k]
    `ahead` = k rows on, the previous row's for k = 0) and the training mean. One real target
    only (several targets' metrics are in standard deviations, not comparable)."""
    if prep.head != "linear" or not prep.test_parts or len(prep.columns.targets) != 1:
        return None
    k, warm = prep.ahead, prep.setup.time_steps - 1
    last, mean = [], []
    y_mean = np.asarray(prep.scaling["y_mean"])
    first = max(warm + k, 1)  # the first scored target (with a value before it)
    lag = max(k, 1)  # the row the forecast is made at (k rows before its target), or the one before
    for _, y, _ in prep.test_parts:
        truth = y[first:]  # scored inputs start at `warm`; their targets are k steps on
        last.append(truth - y[first - lag : len(y) - lag])
        mean.append(truth - y_mean)
    def rms(errors: list[np.ndarray]) -> float:
        return float(scores.rmse(np.concatenate(errors).ravel(), 0.0))  # no overflow near 1e300

    return {"persistence": rms(last), "training mean": rms(mean)}
