"""Train on a prepared table, predict a table with a saved model, and compare the modes.

`compare` answers the question the seeds' readers could not answer for their own data: on
the same data and seeds, does carrying state (horizon 1, horizon K, RTRL) beat a stateless
model that sees windows of `time_steps` steps? Paired over seeds, with 95% intervals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from .. import stats
from ..core import memory
from ..core.fit import Fit, fit
from ..core.spec import Model, Train
from ..data.steps import pack_steps, unpack_steps, windows_of
from ..data.tables import Sequences
from ..errors import ConfigError, DataError, TooLargeForMemory
from .owndata import Prepared, Setup, decode, prepare, windowed_test

VERDICTS = ("carrying state helps", "carrying state does not help", "cannot tell on this data")


def test_metric(head: str) -> tuple[str, bool]:
    """The metric that picks the best seed and the verdict, and whether higher is better."""
    return ("test_rmse", False) if head == "linear" else ("test_acc", True)


def train_table(prep: Prepared, model: Model, train: Train, seeds: Sequence[int], **callbacks) -> Fit:
    """`fit` on the prepared batches; the windows layout trains stateless."""
    if prep.setup.layout == "windows":
        train = train.replace(mode="stateless", horizon=1)
    # a softmax over every label of the table, those no weighted step shows included
    model = model.replace(head=prep.head, outputs=len(prep.labels) if prep.head == "softmax" else model.outputs)
    test = prep.test
    if train.mode == "stateless" and test is not None and prep.setup.layout == "streams":
        test = windowed_test(prep)  # scored as predict and evaluate run a stateless model
    return fit(prep.train, model, train, list(seeds), test=test, **callbacks)


def in_units(metrics: dict[str, np.ndarray], prep: Prepared) -> dict[str, np.ndarray]:
    """RMSE and MAE in the target's own units (one real target), the rest as they are."""
    if prep.head != "linear" or len(prep.columns.targets) != 1:
        return dict(metrics)
    std = float(prep.scaling["y_std"][0])
    return {k: np.asarray(v, np.float64) * std if k.endswith(("_rmse", "_mae")) else v
            for k, v in metrics.items()}  # float64: a float32 metric times a deviation near 1e300 overflows


def finite_seeds(fit_: Fit) -> list[int]:
    """The seeds that did not diverge: finite loss every epoch and finite parameters."""
    return [s for s in fit_.seeds if s not in fit_.diverged and all_finite(fit_.params_of(s))]


def all_finite(tree) -> bool:
    """Every number in a (nested dict / list of) arrays is finite."""
    if isinstance(tree, dict):
        return all(all_finite(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return all(all_finite(v) for v in tree)
    return bool(np.isfinite(np.asarray(tree)).all())


def best_seed(fit_: Fit, prep: Prepared) -> int | None:
    """The finite seed with the best final test metric (train loss without a test part);
    None when every seed diverged."""
    name, higher = test_metric(prep.head)
    values = fit_.metrics.get(name, -fit_.metrics["train_loss"] if higher else fit_.metrics["train_loss"])[-1]
    finite = set(finite_seeds(fit_))
    values = np.array([v if s in finite and np.isfinite(v) else np.nan for s, v in zip(fit_.seeds, values)])
    if np.isnan(values).all():
        return None
    return fit_.seeds[int(np.nanargmax(values) if higher else np.nanargmin(values))]


def save_models(fit_: Fit, prep: Prepared, output: str, all_seeds: bool = False) -> tuple[int | None, list[str]]:
    """Save the best finite seed at `output` (and, with `all_seeds`, every finite seed beside
    it as `NAME-seedN.safetensors`), each with what `predict` needs; (best seed, paths
    written). A diverged seed is never saved; when all diverged, nothing is: (None, [])."""
    from pathlib import Path

    from ..core.checkpoint import save

    best = best_seed(fit_, prep)
    if best is None:
        return None, []
    meta = prep.meta() | {"mode": fit_.train.mode, "seed": best}
    save(output, fit_.model, fit_.params_of(best), extra=meta)
    saved = [str(output)]
    for seed in finite_seeds(fit_) if all_seeds else []:
        path = Path(output).with_name(f"{Path(output).stem}-seed{seed}{Path(output).suffix}")
        save(path, fit_.model, fit_.params_of(seed), extra=meta | {"seed": seed})
        saved.append(str(path))
    return best, saved


# -- predictions for a table --------------------------------------------------------------------


def predict_table(
    model: Model, params: dict, meta: dict, seqs: Sequences, batch_size: int,
    states: dict | None = None, keep_states: bool = False,
) -> tuple[list[np.ndarray], dict]:  # fmt: skip
    """Predictions for every step of every sequence, in the target's units, and (with
    `keep_states`) each sequence's state after its last step. A stateful model carries its
    state through each sequence and starts every sequence from zeros (or `states[id]`);
    a stateless one sees the last `time_steps` inputs at each step."""
    from ..core.predict import predict

    if model.tokens:
        _check_token_rows(seqs, meta, model.features)
    scale = meta["scaling"]
    xs = [((x - np.asarray(scale["x_mean"])) / np.asarray(scale["x_std"])).astype(np.float32) for x in seqs.x]
    if meta["mode"] == "stateless":
        out = [_windowed(params, model, x, meta["time_steps"], batch_size) for x in xs]
        return [decode(o, meta) for o in out], {}
    if states or keep_states:  # each sequence alone, so its own state goes in and comes out
        out, after = [], {}
        for key, x in zip(seqs.ids, xs):
            pred, state = predict(params, x[None, None], model, (states or {}).get(state_key(key)))
            out.append(pred[0, 0])
            after[state_key(key)] = state
        return [decode(o, meta) for o in out], after
    ones = [np.ones(len(x), np.float32) for x in xs]
    batches, placed = pack_steps(xs, [x[:, :0] for x in xs], ones, min(batch_size, len(xs)), meta["time_steps"])
    pred, _ = predict(params, batches, model)
    return [decode(o, meta) for o in unpack_steps(pred, placed)], {}


def _check_token_rows(seqs: Sequences, meta: dict, vocabulary: int) -> None:
    """A token model's table: every id one the model has a row for, said with the row's
    place in the table (the engine's own check names an array index)."""
    column = meta["columns"]["features"][0]
    for id_, times, x in zip(seqs.ids, seqs.times, seqs.x):
        bad = np.flatnonzero((x[:, 0] != np.round(x[:, 0])) | (x[:, 0] < 0) | (x[:, 0] >= vocabulary))
        if bad.size:
            if meta["columns"].get("time") is None and id_ is None:  # one series in file order
                where = f"on line {int(times[bad[0]]) + 2}"
            else:
                where = f"at time {times[bad[0]]}" + ("" if id_ is None else f" of id {id_}")
            raise DataError(f"{column} has the token id {x[bad[0], 0]:g} {where}; the model reads ids 0 to "
                            f"{vocabulary - 1:,}, the ones it was trained with.")  # fmt: skip


def state_key(id_) -> str:
    return "" if id_ is None else str(id_)


def _windowed(params: dict, model: Model, x: np.ndarray, time_steps: int, batch_size: int) -> np.ndarray:
    """A stateless model's prediction at every step: the first steps from the opening window
    (what the model sees there), every later step from the window that ends at it."""
    from ..core.predict import predict

    opening = min(time_steps, len(x))
    head, _ = predict(params, x[None, None, :opening], model)
    out = [head[0, 0, : time_steps - 1]]
    if len(x) >= time_steps:
        ones = [np.ones(len(x), np.float32)]
        batches = windows_of([x], [x[:, :0]], ones, batch_size, time_steps)
        pred, _ = predict(params, batches, model)
        n = len(x) - time_steps + 1
        out.append(pred[:, :, -1].reshape(-1, pred.shape[-1])[:n])
    return np.concatenate(out)


# -- compare: stateless windows against carried state ------------------------------------------


@dataclass
class Variant:
    name: str
    setup: Setup
    train: Train


@dataclass
class Compared:
    name: str
    metrics: dict[str, np.ndarray]  # (epochs, seeds), in the target's units
    final: np.ndarray  # the test metric after the last epoch, per seed
    difference: stats.Summary | None  # paired over seeds: better than the baseline when > 0

    def to_json(self) -> dict:
        d = self.difference
        return {"name": self.name, "final": self.final.tolist(),
                "summary": list(stats.mean_ci(self.final)),
                "difference": None if d is None else list(d)}  # fmt: skip


def default_horizon(prep: Prepared, seqs: Sequences) -> int:
    """K batches that cover the longest sequence, or 4 for one series; at most an epoch."""
    k = 4 if len(seqs.x) == 1 else max(2, -(-max(len(x) for x in seqs.x) // prep.setup.time_steps))
    return min(k, prep.train.n_batches)


def variants(prep: Prepared, train: Train, model: Model, seeds: int, horizon: int) -> tuple[list[Variant], list[str]]:
    """The runs of a comparison, and a note for each one left out."""
    base = prep.setup
    k = min(horizon, prep.train.n_batches)
    out = [
        Variant("stateless windows", dataclasses.replace(base, layout="windows"), train.replace(mode="stateless", horizon=1)),
        Variant("stateful, horizon 1", base, train.replace(mode="stateful", horizon=1)),
    ]  # fmt: skip
    notes = []
    if k > 1:
        out.append(Variant(f"stateful, horizon {k}", base, train.replace(mode="stateful", horizon=k)))
    elif horizon == 1 < prep.train.n_batches:
        notes.append("horizon K left out: --horizon 1 is the stateful, horizon 1 run.")
    else:
        same = " and rtrl gives horizon 1's numbers (no batch boundary to cut)" if train.reset == "epoch" else ""
        notes.append(f"horizon K left out: an epoch is one batch long, so K = 1{same}; a smaller "
                     "--batch-size or --time-steps makes more batches.")  # fmt: skip
    rtrl = train.replace(mode="rtrl", horizon=1)
    try:  # the engine's own estimate; seeds past what fits at once run in waves
        resolved = model.replace(head=prep.head, features=_features(prep, model), outputs=_outputs(prep))
        memory.plan_for(resolved, rtrl, seeds, 1, prep.train, prep.test, shared=True)
        out.append(Variant("rtrl", base, rtrl))
    except TooLargeForMemory as e:  # say why, and compare the rest
        notes.append(f"rtrl left out: {str(e)[0].lower()}{_first_clause(str(e))[1:]}.")
    return out, notes


def _features(prep: Prepared, model: Model) -> int:
    """The model's input width: the features, or for token ids the vocabulary (largest id + 1)."""
    if not model.tokens:
        return prep.train.x.shape[-1]
    return int(max(b.x.max() for b in (prep.train, prep.test) if b is not None)) + 1


def _first_clause(text: str) -> str:
    """`text` up to its first "; " outside parentheses (the memory error's first clause holds
    one in a parenthesis)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and text.startswith("; ", i):
            return text[:i]
    return text


def rtrl_seeds_that_fit(prep: Prepared, model: Model) -> int:
    """How many seeds of `model` on this data RTRL can hold in memory at once."""
    from ..core import rtrl

    resolved = model.replace(head=prep.head, features=_features(prep, model), outputs=_outputs(prep))
    return rtrl.seeds_that_fit(resolved, prep.train.batch_size)


def _outputs(prep: Prepared) -> int:
    return len(prep.labels) if prep.labels is not None else prep.train.y.shape[-1]


def compare(
    seqs: Sequences, columns, setup: Setup, model: Model, train: Train, seeds: Sequence[int],
    horizon: int | None = None, record: Callable | None = None, on_progress=None, prep: Prepared | None = None,
) -> tuple[list[Compared], list[str], str]:  # fmt: skip
    """Every variant on the same data and seeds; (results, notes, verdict). `record(name,
    config)` gives a context for each variant's stored run (with epoch/finish), or None;
    `prep`: `prepare(seqs, columns, setup)` when the caller has it already. Progress names
    each variant's stages after it ("rtrl: train"), so every variant's progress shows."""
    prep = prep or prepare(seqs, columns, setup)
    if prep.test is None:
        raise ConfigError("compare scores the test part; give a --test-fraction above 0.")
    if horizon is not None and horizon > prep.train.n_batches:  # asked for: refused, as train does, not cut
        raise ConfigError(f"--horizon {horizon} is longer than an epoch ({prep.train.n_batches} batches); "
                          f"use at most {prep.train.n_batches}.")  # fmt: skip
    name, higher = test_metric(prep.head)
    found, notes = variants(prep, train, model, len(seeds), horizon or default_horizon(prep, seqs))
    results: list[Compared] = []
    for v in found:
        p = prep if v.setup == setup else prepare(seqs, columns, v.setup)
        # the variant's own run (open while it trains, so it holds its seconds), or none
        with record(v.name, v.train.to_dict() | {"layout": v.setup.layout}) if record else nullcontext() as run:
            on_epoch = None if run is None else _epochs_into(run, p)
            f = train_table(p, model, v.train, seeds, on_progress=_named(on_progress, v.name), on_epoch=on_epoch)
            if run is not None:
                run.finish(timings={"compile_seconds": f.compile_seconds, "run_seconds": f.run_seconds})
        metrics = in_units(f.metrics, p)
        results.append(Compared(v.name, metrics, metrics[name][-1], None))
    base = results[0].final
    for r in results[1:]:
        gain = (r.final - base) if higher else (base - r.final)
        r.difference = stats.mean_ci(gain)
    return results, notes, verdict(results)


def _named(on_progress: Callable | None, name: str) -> Callable | None:
    """`on_progress` with the work's stages named after `name` (compiling stays "compile")."""
    if on_progress is None:
        return None
    return lambda stage, done, total: on_progress(stage if stage == "compile" else f"{name}: {stage}", done, total)


def _epochs_into(run, prep: Prepared) -> Callable:
    """fit's on_epoch, writing each epoch (in the target's units) into `run`."""
    return lambda e, m: run.epoch(e, {k: v.tolist() for k, v in in_units(m, prep).items()})


def verdict(results: list[Compared]) -> str:
    """Helps if some carried-state run beats the baseline (95% interval of the paired gain
    above 0); does not help if every one is worse (interval below 0); else cannot tell."""
    gains = [r.difference for r in results[1:] if r.difference is not None]
    if any(g.low > 0 for g in gains):
        return VERDICTS[0]
    if gains and all(g.high < 0 for g in gains):
        return VERDICTS[1]
    return VERDICTS[2]
