"""`predict`'s and `evaluate`'s plumbing: the stored columns found in a new table, predictions
written as a table (id, time, one column per output), each id's state kept between calls
(.npz), and a table with its targets scored as `train` scores its test part."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.spec import Model
from ..data import tables
from ..errors import DataError
from . import scores
from .owndata_run import predict_table, state_key


def columns_for(frame, meta: dict, targets: bool = False) -> tables.Columns:
    """The model's feature, id and time columns (and its targets, to score), each of which the
    table must have."""
    stored = meta["columns"]
    names = [str(c) for c in frame.columns]
    source = frame.attrs.get("source", "the table")
    wanted = [*stored["features"], stored["id"], stored["time"]]
    for name in wanted + (stored["targets"] if targets else []):
        if name is not None and name not in names:
            why = "the model reads" if name in wanted else "evaluate scores the model against"
            raise DataError(f"{source} has no column {name!r}, which {why}; its columns are: {', '.join(names)}.")
    return tables.Columns(tuple(stored["features"]), tuple(stored["targets"]) if targets else (), stored["id"], stored["time"])


def sequences_for(frame, meta: dict, allow_gaps: bool, targets: bool = False) -> tuple[tables.Columns, tables.Sequences]:
    """The model's columns in a new table, and its sequences read as the training table's were
    (dates day first if those were)."""
    columns = columns_for(frame, meta, targets)
    return columns, tables.to_sequences(frame, columns, allow_gaps, meta.get("day_first") or None)


def predicted(target: str, meta: dict) -> str:
    """The prediction's column: `y_prediction` for the row's own target, `y_in_K` for the
    target K steps on (a row's forecast of the row K later)."""
    ahead = meta.get("ahead", 0)
    return f"{target}_in_{ahead}" if ahead else f"{target}_prediction"


def output_names(meta: dict) -> list[str]:
    """The columns of the model's outputs: a linear head's values are the predictions; a
    classifier's are probabilities, `<stem>_p_<label>` (a sigmoid's of label 1), beside which
    `predict_to_file` writes the predicted label as `<target>_prediction`."""
    targets = meta["columns"]["targets"]
    if meta["head"] == "softmax":
        stem = predicted(targets[0], meta).removesuffix("_prediction")
        return [f"{stem}_p_{label if isinstance(label, str) else format(label, '.15g')}" for label in meta["labels"]]
    if meta["head"] == "sigmoid":
        return [predicted(t, meta).removesuffix("_prediction") + "_p_1" for t in targets]
    return [predicted(t, meta) for t in targets]


def predict_to_file(model: Model, params: dict, meta: dict, seqs, columns: tables.Columns, batch_size: int,
                    states: dict | None, keep_states: bool, output: str | Path) -> tuple[int, dict]:  # fmt: skip
    """Predict every row and write id, time and the predictions; (rows written, states)."""
    preds, after = predict_table(model, params, meta, seqs, batch_size, states, keep_states)
    table: dict[str, np.ndarray] = {}
    if columns.id:
        table[columns.id] = np.concatenate([[i] * len(x) for i, x in zip(seqs.ids, seqs.x)])
    if columns.time:
        table[columns.time] = np.concatenate(seqs.times)
    if not columns.id and not columns.time:  # one series in file order: the row (from 0) is its key
        table["row"] = np.concatenate(seqs.times)
    values = np.concatenate(preds)
    for k, name in enumerate(output_names(meta)):
        table[name] = values[:, k]
    if meta["head"] == "softmax":
        labels = np.asarray(meta["labels"])
        if labels.dtype.kind == "f" and np.all((labels == np.round(labels)) & (np.abs(labels) < 2**53)):
            labels = labels.astype(np.int64)  # whole-number labels written as the table had them: 3, not 3.0
        table[predicted(meta["columns"]["targets"][0], meta)] = labels[np.argmax(values, axis=1)]
    if meta["head"] == "sigmoid":  # the label too, as a softmax's: 1 where its probability passes 0.5
        for k, target in enumerate(meta["columns"]["targets"]):
            table[predicted(target, meta)] = (values[:, k] > 0.5).astype(np.int64)
    tables.write_table(table, output)
    return len(values), after


def ids_without_state(ids, states: dict | None) -> int:
    """How many of the table's ids `states` (from --state-in) has no state for."""
    return 0 if states is None else sum(state_key(i) not in states for i in ids)


def write_states(path: str | Path, states: dict) -> None:
    """Each id's state, one array per layer and part (h, c), rows in id order."""
    ids = list(states)
    arrays = {"ids": np.asarray(ids, dtype=str)}
    first = states[ids[0]]
    for layer, part in enumerate(first):
        for field in part._fields:
            arrays[f"{layer}.{field}"] = np.concatenate([np.asarray(getattr(states[i][layer], field)) for i in ids])
    np.savez(Path(path).expanduser(), **arrays)


def read_states(path: str | Path, model: Model) -> dict:
    """The states `write_states` wrote, checked against the model."""
    from ..core.cells import GRUState, LSTMState

    kind = LSTMState if model.cell == "lstm" else GRUState
    try:
        data = np.load(Path(path).expanduser())
        ids = [str(i) for i in data["ids"]]
        parts = [[data[f"{layer}.{f}"] for f in kind._fields] for layer in range(model.layers)]
    except (OSError, KeyError, ValueError):
        raise DataError(f"{path} is not a state file from 'statecarry predict --state-out' for this "
                        "model; give the file an earlier predict wrote.") from None  # fmt: skip
    if any(p.shape != (len(ids), model.units) for layer in parts for p in layer):
        raise DataError(f"the states in {path} do not fit this model ({model.layers} {model.cell} "
                        f"layer(s) of {model.units} units); give states this model wrote.")  # fmt: skip
    return {i: tuple(kind(*(p[n : n + 1] for p in layer)) for layer in parts) for n, i in enumerate(ids)}


def score_table(model: Model, params: dict, meta: dict, seqs, batch_size: int) -> tuple[dict, int, int, list[str]]:
    """The saved model's metrics on a table with its targets, scored as `train` scores its test
    part: in each sequence, the steps from the `time_steps`-th on (a full window of context),
    each prediction against the target `ahead` rows later. RMSE and MAE in each target's own
    units (linear head; `train` gives several targets' in standard deviations), else accuracy
    (and for a softmax the cross-entropy, in nats as `train`'s test loss, over known labels).
    Returns ({target: {metric: value}}, steps scored, sequences scored, warnings)."""
    preds, _ = predict_table(model, params, meta, seqs, batch_size)
    warm, ahead = meta["time_steps"] - 1, meta.get("ahead", 0)
    pairs = [(p[warm : len(p) - ahead], y[warm + ahead :]) for p, y in zip(preds, seqs.y) if len(p) > warm + ahead]
    scored = len(pairs)  # sequences with a step to score
    if not pairs:
        raise DataError(f"no sequence is longer than {warm + ahead} rows, the warm-up and look-ahead the model "
                        f"needs before a step is scored (time_steps {warm + 1}, ahead {ahead}); give longer ones.")  # fmt: skip
    pred, truth = (np.concatenate(a) for a in zip(*pairs))
    targets = meta["columns"]["targets"]
    if meta["head"] == "linear":
        error = pred - truth
        return {t: {"rmse": float(scores.rmse(error[:, k], 0.0)), "mae": float(np.mean(np.abs(error[:, k])))}
                for k, t in enumerate(targets)}, len(pred), scored, []  # fmt: skip
    if meta["head"] == "sigmoid":  # 0/1 labels; anything else (text too) is never predicted
        valid = np.isin(truth, (0.0, 1.0)) & (seqs.labels is None)
        odd = (np.asarray(seqs.labels)[truth[~valid].astype(int)] if seqs.labels is not None
               else [format(v, ".15g") for v in truth[~valid]])  # fmt: skip
        if not valid.any():
            _none_known(odd, "0, 1")
        warnings = [f"{(~valid).sum()} scored step(s) have a label the model was not trained on "
                    f"({', '.join(sorted(set(odd))[:5])}; it predicts 0 or 1), counted as wrong."] if len(odd) else []  # fmt: skip
        return {t: {"acc": float(np.mean(((pred[:, k] > 0.5) == (truth[:, k] > 0.5)) & valid[:, k]))}
                for k, t in enumerate(targets)}, len(pred), scored, warnings  # fmt: skip
    trained = np.asarray([str(label) if isinstance(label, str) else format(label, ".15g") for label in meta["labels"]])
    said = (np.asarray(seqs.labels)[truth[:, 0].astype(int)] if seqs.labels is not None  # text labels: their index
            else np.asarray([format(v, ".15g") for v in truth[:, 0]]))  # fmt: skip
    unseen = sorted(set(said) - set(trained))  # never predicted, so always counted wrong
    if np.isin(said, unseen).all():
        _none_known(said, ", ".join(trained[:5]) + (", ..." if len(trained) > 5 else ""))
    warnings = [f"{np.isin(said, unseen).sum()} scored step(s) have a label the model was not trained on "
                f"({', '.join(unseen[:5])}): counted as wrong in the accuracy, left out of the loss (the model "
                "gives such a label no probability)."] if unseen else []  # fmt: skip
    known = ~np.isin(said, unseen)  # the loss needs the label's probability: known labels only
    index = np.searchsorted(trained, said[known], sorter=np.argsort(trained))
    p_true = pred[known][np.arange(known.sum()), np.argsort(trained)[index]]
    loss = float(np.mean(-np.log(np.maximum(p_true, np.finfo(np.float32).tiny))))  # cross-entropy, nats
    return ({targets[0]: {"loss": loss, "acc": float(np.mean(trained[np.argmax(pred, axis=1)] == said))}},
            len(pred), scored, warnings)  # fmt: skip


def _none_known(said, trained: str) -> None:
    """Every scored label is one the model never saw: the wrong table or target, not a score."""
    seen = sorted({str(v) for v in said})
    raise DataError(f"no scored label is one the model was trained on (the table has {', '.join(seen[:5])}"
                    f"{', ...' if len(seen) > 5 else ''}; the model knows {trained}); check the table and its "
                    "target column.")
