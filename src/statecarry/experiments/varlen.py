"""Variable-length sequences: padding to one length vs packing with per-step resets.

The Q&A on stateful LSTMs advises: pad every sequence to one length, one sequence per row,
batch size 1. This module measures that advice against packing (`layout.pack`): sequences
laid end to end in `batch_size` streams, the state zeroed at each sequence's first step, so
nothing is padded except the end of each row. The task: lengths uniform in [5, 20], the label
is the sequence's first step, every later step is 0/1 noise (`tasks.variable_length_sequences`).

Padding with a mask and packing feed each sequence, from a zero state, to the same LSTM and
read the label at its last real step; only the arrangement differs (padding without a mask,
the Q&A's example as written, reads it after the padding instead). What differs is

- the padding fraction: step slots that hold no real input (computed, not estimated);
- updates and sequential steps per epoch, hence time per epoch;
- how far a gradient must reach: a packed sequence may straddle a batch boundary, and with
  horizon 1 (Keras) the gradient from its label cannot reach its first step in the previous
  batch. `covering_horizon` gives the horizon that always reaches it.

Every layout is trained by the public `fit`, and each is one recorded run (`record`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .. import stats
from ..core.fit import fit
from ..core.spec import Model, Train
from ..data.layout import Batches, pack
from ..data.padding import covering_horizon, pad, padding_fraction
from ..errors import ConfigError
from .recorder import EpochCallback, Measured, Record, unrecorded
from .tasks import variable_length_sequences


@dataclass(frozen=True)
class Setup:
    """The experiment's sizes; every layout trains with the same model and optimizer."""

    n_train: int = 512  # sequences
    n_test: int = 256
    min_length: int = 5
    max_length: int = 20
    batch_size: int = 16  # rows for "padded, batch B" and "packed"
    # packed window: gives about as many updates per epoch as padding at the same batch size
    # (35 vs 32 here); a sequence then spans up to 3 windows (`covering_horizon`)
    time_steps: int = 12
    units: int = 8
    epochs: int = 20
    learning_rate: float = 1e-2
    loss: str = "bce"
    data_seed: int = 0  # one data set for every seed: seeds vary the initialisation only


QUICK = Setup(epochs=12)  # `--quick`: most seeds of the masked and packed layouts have converged


# -- layouts ---------------------------------------------------------------------------------


# -- the experiment --------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    name: str
    kind: str  # "padded" or "packed"
    batch_size: int
    mode: str  # "stateless" (padded: reset per sequence) or "stateful" (packed)
    horizon: int = 1
    mask: bool = True


def layouts(setup: Setup) -> list[Layout]:
    """The compared layouts: the Q&A's advice, its example as written, and packing."""
    b, k = setup.batch_size, covering_horizon(setup.max_length, setup.time_steps)
    return [
        Layout("padded, batch 1 (Q&A)", "padded", 1, "stateless"),
        Layout(f"padded, batch {b}", "padded", b, "stateless"),
        Layout(f"padded, batch {b}, no mask", "padded", b, "stateless", mask=False),
        Layout(f"packed, batch {b}, horizon 1", "packed", b, "stateful"),
        Layout(f"packed, batch {b}, horizon {k}", "packed", b, "stateful", horizon=k),
    ]


@dataclass
class LayoutResult:
    layout: Layout
    padding_fraction: float
    updates_per_epoch: int  # optimizer steps
    steps_per_epoch: int  # sequential LSTM steps (n_batches x time_steps)
    test_acc: np.ndarray  # (epochs, seeds)
    train_loss: np.ndarray  # (epochs, seeds)
    epoch_seconds: float  # median wall time of one epoch (train + test pass), all seeds at once
    compile_seconds: float

    def epochs_to(self, accuracy: float = 0.95) -> int | None:
        """The first epoch (counting from 1) whose mean test accuracy reaches `accuracy`."""
        hits = np.flatnonzero(np.nanmean(self.test_acc, axis=1) >= accuracy)
        return int(hits[0]) + 1 if len(hits) else None

    @property
    def final_acc(self) -> np.ndarray:
        """Per-seed test accuracy after the last epoch: what the claim's verdict reads."""
        return self.test_acc[-1]

    def to_json(self) -> dict:
        return {
            "layout": self.layout.name,
            "kind": self.layout.kind,
            "batch_size": self.layout.batch_size,
            "mode": self.layout.mode,
            "horizon": self.layout.horizon,
            "mask": self.layout.mask,
            "padding_fraction": self.padding_fraction,
            "updates_per_epoch": self.updates_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "test_acc": stats.mean_ci(self.final_acc, bounds=stats.ACCURACY)._asdict(),
            "test_acc_per_seed": self.final_acc.tolist(),
            "solved": stats.solved_fraction(self.final_acc)._asdict(),  # the text table's column
            "test_acc_per_epoch": [stats.mean_ci(a).mean for a in self.test_acc],
            "epochs_to_0.95": self.epochs_to(0.95),
            "epoch_seconds": self.epoch_seconds,
            "compile_seconds": self.compile_seconds,
        }


def make_data(setup: Setup) -> tuple[tuple[list, np.ndarray], tuple[list, np.ndarray]]:
    rng = np.random.default_rng(setup.data_seed)
    lengths = (setup.min_length, setup.max_length)
    return (
        variable_length_sequences(setup.n_train, *lengths, rng),
        variable_length_sequences(setup.n_test, *lengths, rng),
    )


def layout_batches(layout: Layout, setup: Setup, sequences: list, labels: np.ndarray) -> Batches:
    if layout.kind == "padded":
        return pad(sequences, labels, layout.batch_size, setup.max_length, mask=layout.mask)
    return pack(sequences, layout.batch_size, setup.time_steps, labels=labels)


def layout_spec(layout: Layout, setup: Setup) -> tuple[Model, Train]:
    """The model and training of a layout: the same LSTM and optimizer for all."""
    model = Model(cell="lstm", units=setup.units, head="sigmoid")
    train = Train(
        mode=layout.mode,
        horizon=layout.horizon,
        epochs=setup.epochs,
        learning_rate=setup.learning_rate,
        loss=setup.loss,
    )
    return model, train


def layout_record(layout: Layout, setup: Setup) -> dict:
    """What identifies a layout's runs in the store (and lets `--resume` reuse them)."""
    steps = setup.time_steps if layout.kind == "packed" else setup.max_length  # padded: to the longest
    return {"experiment": "varlen", "task": layout.name, "layout": layout.name, "kind": layout.kind,
            **setup.__dict__, "batch_size": layout.batch_size, "time_steps": steps, "mode": layout.mode,
            "horizon": layout.horizon, "mask": layout.mask}  # fmt: skip


def _measure(train: Batches, test: Batches, layout: Layout, setup: Setup, seeds: list[int]):
    def compute(on_epoch: EpochCallback | None) -> Measured:
        stamps = [time.perf_counter()]

        def both(epoch: int, metrics: dict) -> None:
            stamps.append(time.perf_counter())
            if on_epoch:
                on_epoch(epoch, metrics)

        model, spec = layout_spec(layout, setup)
        result = fit(train, model, spec, seeds, test, on_epoch=both)
        # the first epoch also waits for the dispatch of the compiled program
        seconds = np.diff(stamps)[1:] if len(stamps) > 2 else np.diff(stamps)
        keep = ("train_loss", "train_acc", "test_loss", "test_acc")
        return Measured(
            {k: result.metrics[k] for k in keep},
            timings={"epoch_seconds": float(np.median(seconds)),
                     "compile_seconds": result.compile_seconds},
        )

    return compute


def compare(
    seeds: Sequence[int],
    setup: Setup = Setup(),
    which: Sequence[Layout] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    record: Record = unrecorded,
) -> list[LayoutResult]:
    """Train every layout (default: all of `layouts(setup)`) on the same data with the same
    seeds, and test each on the same held-out sequences in its own layout. `claim11` calls it
    with the claim's three layouts; `record` stores each layout's run (see `recording.py`)."""
    (train_seqs, train_labels), (test_seqs, test_labels) = make_data(setup)
    lengths = [len(s) for s in train_seqs]
    results = []
    chosen = list(which) if which is not None else layouts(setup)
    for i, layout in enumerate(chosen):
        train = layout_batches(layout, setup, train_seqs, train_labels)
        test = layout_batches(layout, setup, test_seqs, test_labels)
        seeds = [int(s) for s in seeds]
        measured = record("varlen", layout_record(layout, setup), seeds,
                          _measure(train, test, layout, setup, seeds))  # fmt: skip
        results.append(
            LayoutResult(
                layout,
                padding_fraction(train, lengths),
                train.n_batches,
                train.n_batches * train.x.shape[2],
                np.asarray(measured.metrics["test_acc"], np.float32),
                np.asarray(measured.metrics["train_loss"], np.float32),
                float(measured.timings.get("epoch_seconds", np.nan)),
                float(measured.timings.get("compile_seconds", np.nan)),
            )
        )
        if on_progress:
            on_progress("layouts", i + 1, len(chosen))
    return results


CLAIM = "Variable-length sequences must be padded to one length (Q&A, shared/sources/003)."


def claim_layouts(setup: Setup) -> list[Layout]:
    """What claim 11 needs: the Q&A's advice (padded, batch 1), padding at batch B, and
    packing at batch B with the covering horizon."""
    every = layouts(setup)
    return [every[0], every[1], every[-1]]


def claim11(
    seeds: Sequence[int],
    setup: Setup = Setup(),
    on_progress: Callable[[str, int, int], None] | None = None,
    record: Record = unrecorded,
) -> tuple[str, str, list[LayoutResult]]:
    """Claim 11 for the claims table: (verdict, measured sentence, per-layout results).

    Each `LayoutResult.final_acc` holds per-seed final test accuracy; `padding_fraction`,
    `steps_per_epoch` and `epoch_seconds` the costs.
    """
    results = compare(seeds, setup, claim_layouts(setup), on_progress, record)
    verdict, measured = suggest_verdict(results)
    return verdict, measured, results


def suggest_verdict(results: Sequence[LayoutResult], margin: float = 0.02) -> tuple[str, str]:
    """Claim 11, "variable-length sequences must be padded to one length", from per-seed
    final test accuracy, paired by seed: packing with resets at the covering horizon against
    padding with masking at the same batch size.

    - refuted: the 95% CI of (packed - padded) lies entirely at or above -`margin` (packing
      is as accurate, while padding almost nothing);
    - confirmed: the CI lies entirely below -`margin` (packing is clearly worse);
    - inconclusive otherwise, or with fewer than two seeds.

    Returns (verdict, the numbers in one sentence).
    """
    packed = [r for r in results if r.layout.kind == "packed"]
    if not packed:
        return "inconclusive", "needs a packed layout"
    best_packed = max(packed, key=lambda r: r.layout.horizon)
    padded = [
        r
        for r in results
        if r.layout.kind == "padded" and r.layout.mask
        and r.layout.batch_size == best_packed.layout.batch_size
    ]
    if not padded:
        return "inconclusive", "needs a padded (masked) layout with the packed batch size"
    pad_r = padded[0]
    diff = stats.mean_ci(best_packed.final_acc - pad_r.final_acc)
    numbers = (
        f"{best_packed.layout.name}: {stats.mean_ci(best_packed.final_acc, bounds=stats.ACCURACY)} test acc, "
        f"{best_packed.padding_fraction:.0%} padding; {pad_r.layout.name}: "
        f"{stats.mean_ci(pad_r.final_acc, bounds=stats.ACCURACY)}, {pad_r.padding_fraction:.0%} padding; packed - "
        f"padded {diff.mean:+.3f} {diff.bracket('+.3f')} over {diff.n} seeds"
    )
    if diff.n < 2:
        return "inconclusive", numbers + " (one seed: no CI)"
    if diff.high < -margin:
        return "confirmed", numbers
    if diff.low >= -margin:
        return "refuted", numbers
    return "inconclusive", numbers


def table_rows(results: Sequence[LayoutResult]) -> list[list[str]]:
    rows = []
    for r in results:
        acc = stats.mean_ci(r.final_acc, bounds=stats.ACCURACY)
        reach = r.epochs_to(0.95)
        rows.append(
            [
                r.layout.name,
                str(acc),  # clipped to [0, 1]: shown as [low, high]; one seed: "— (1 seed)"
                "—" if reach is None else str(reach),
                f"{stats.solved_fraction(r.final_acc).mean:.0%}",
                f"{r.padding_fraction:.0%}",
                str(r.updates_per_epoch),
                str(r.steps_per_epoch),
                f"{r.epoch_seconds * 1000:.0f}",
            ]
        )
    return rows


TABLE_HEADER = [
    "layout", "test acc (95% CI)", "epochs to 0.95", f"solved (≥{stats.SOLVED})", "padding",
    "updates/epoch", "steps/epoch", "ms/epoch",
]


def with_setup(setup: Setup, **changes) -> Setup:
    """`setup` with `changes`, checked: sizes positive, lengths in order and not absurd."""
    setup = replace(setup, **changes)
    for name in ("n_train", "n_test", "min_length", "max_length", "batch_size", "time_steps", "units", "epochs"):
        value = getattr(setup, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name.replace('_', '-')} must be a positive whole number, got {value!r}.")
    if setup.min_length > setup.max_length:
        raise ConfigError(
            f"max-length {setup.max_length} is below min-length {setup.min_length}; "
            f"use --max-length {setup.min_length} or more."
        )
    if setup.max_length > MAX_LENGTH:
        raise ConfigError(f"max-length {setup.max_length} is above {MAX_LENGTH}; this experiment is about short sequences.")
    if not (setup.learning_rate > 0 and setup.learning_rate < float("inf")):
        raise ConfigError(f"lr must be a finite number > 0, got {setup.learning_rate!r}.")
    _check_packed_windows(setup)
    return setup


def _check_packed_windows(setup: Setup) -> None:
    """The packed layouts need as many windows per epoch as the covering horizon reaches back
    (train and test alike); say so before the padded layouts have trained, naming the flag."""
    one_step = Layout("packed", "packed", setup.batch_size, "stateful")
    steps = min(layout_batches(one_step, replace(setup, time_steps=1), *part).x.shape[0]
                for part in make_data(setup))  # a row's stream, in steps (the shorter part's)  # fmt: skip

    def enough(t: int) -> bool:
        return -(-steps // t) >= covering_horizon(setup.max_length, t)

    if enough(setup.time_steps):
        return
    fits = next((t for t in range(setup.time_steps - 1, 0, -1) if enough(t)), None)
    hint = f"--time-steps {fits} is the longest that works" if fits else "use a smaller --batch-size"
    raise ConfigError(f"--time-steps {setup.time_steps} leaves a packed epoch {-(-steps // setup.time_steps)} "
                      f"window(s), fewer than the {covering_horizon(setup.max_length, setup.time_steps)} its "
                      f"covering horizon reaches back; {hint}.")  # fmt: skip


MAX_LENGTH = 1000
