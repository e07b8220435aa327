"""How much memory a run needs, estimated before anything is allocated, and how many seeds to
keep resident at once (no JAX here: it is arithmetic on shapes).

One function, `estimate`, answers for every mode, cell, size and seed count. A run needs

    fixed (XLA's compiler and runtime) + shared data
    + seeds at once x (parameters and Adam, carried state, activations, data, the mode's own)
    + every seed x what `fit` hands back (parameters, last state).

Seeds stream through in waves (`plan`): a wave's carry and data are released when its epochs
are done, so only the seeds at once must fit, not all of them. Each mode adds its own parts
through `MODE_PARTS` (a mode not listed there adds nothing). The constants are calibrated
against measured peak RSS (`benchmarks/memory.py`, tests/test_memory.py: within 2x).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..budget import LIMIT_SETTING, USABLE, available_bytes, budget, parse_bytes, size  # noqa: F401
from ..errors import TooLargeForMemory
from .runtime import has_dots
from .spec import GATES, Model, Train

F32 = 4
FIXED_BYTES = 128 * 2**20  # XLA's compiler and runtime for one small program: ~106 MiB measured
# Each extra batch a horizon re-runs is more program for XLA to compile: LSTM(64), batch 32,
# horizon 8 peaked 97 MiB above horizon 1 (benchmarks/memory.py, after the 1 MB loop limit).
PROGRAM_BYTES_PER_BATCH = 16 * 2**20
DATA_COPIES = 2  # a chunk's data exists twice while it is stacked and copied to the device
MAKING_COPIES = 3  # making one seed's data (the blog's tasks: float64, then float32 layouts)
ADAM_COPIES = 6  # params, Adam's m and v, and the step's grads, updates and new params
SENSITIVITY_COPIES = 6  # RTRL sensitivities alive at once inside a step (old, new, tangents)
ONLINE_COPIES = 8  # UORO/SnAp-1 carries alive at once in a step (derived, not yet calibrated)
MAX_RESIDENT_SEEDS = 4096  # more seeds stream through in waves at the same throughput

ModeParts = Callable[[Model, Train, int, int], dict[str, int]]
MODE_PARTS: dict[str, ModeParts] = {}  # mode -> its own bytes per seed, by name


def mode_parts(mode: str) -> Callable[[ModeParts], ModeParts]:
    """Register a mode's own memory (`(model, train, batch_size, time_steps) -> {part: bytes}`)."""

    def register(fn: ModeParts) -> ModeParts:
        MODE_PARTS[mode] = fn
        return fn

    return register


@mode_parts("stateful")
def _horizon_window(model: Model, train: Train, batch_size: int, time_steps: int) -> dict[str, int]:
    """Horizon K keeps the K-1 batches before the current one and the state at each start."""
    if train.horizon <= 1:
        return {}
    k = train.horizon - 1
    per_batch = batch_size * (time_steps * ((model.input_width or 1) * F32 + 1) + model.state_size() * F32)
    return {"horizon window": k * per_batch}


@mode_parts("rtrl")
def _rtrl_sensitivities(model: Model, train: Train, batch_size: int, time_steps: int) -> dict[str, int]:
    """Every stream carries (state floats) x (recurrent params) of sensitivity, a step holds a
    few copies; and each stream's JVP over every parameter direction materialises a params x
    params tangent (measured: LSTM(64), batch 4 needed 4.7 GB per seed, all but 0.2 of it this)."""
    p = model.recurrent_params()
    return {"RTRL sensitivities": F32 * batch_size * (model.state_size() * p * SENSITIVITY_COPIES + p * p)}


@mode_parts("uoro")
def _uoro_factors(model: Model, train: Train, batch_size: int, time_steps: int) -> dict[str, int]:
    """UORO's rank-one factors: state + params floats per stream, a few copies in a step."""
    per_stream = model.state_size() + model.recurrent_params()
    return {"UORO factors": F32 * batch_size * per_stream * ONLINE_COPIES}


@mode_parts("snap1")
def _snap1_sensitivities(model: Model, train: Train, batch_size: int, time_steps: int) -> dict[str, int]:
    """SnAp-1: one float per parameter and state component of its unit (2 for an LSTM)."""
    per_unit = 2 if model.cell == "lstm" else 1
    return {"SnAp-1 sensitivities": F32 * batch_size * per_unit * model.recurrent_params() * ONLINE_COPIES}


@dataclass(frozen=True)
class Estimate:
    """Bytes a run needs: `parts` per seed at once, `shared` once, `kept` per seed to the end."""

    parts: dict[str, int]
    shared: dict[str, int]
    kept: int

    @property
    def per_seed(self) -> int:
        return sum(self.parts.values())

    def total(self, at_once: int, seeds: int) -> int:
        return sum(self.shared.values()) + at_once * self.per_seed + seeds * self.kept

    def seeds_at_once(self, budget: int, seeds: int) -> int:
        """How many seeds fit at once in `budget` with `seeds` in all (0: not one)."""
        room = budget - sum(self.shared.values()) - seeds * self.kept
        return max(0, min(seeds, room // max(self.per_seed, 1)))

    def describe(self, at_once: int = 1, seeds: int | None = None) -> str:
        """'1.2 GiB (parameters and Adam 1.0 GiB, data 0.2 GiB, …)', largest part first."""
        seeds = at_once if seeds is None else seeds
        parts = {k: v * at_once for k, v in self.parts.items()} | self.shared
        parts["results kept"] = self.kept * seeds
        shown = sorted(((v, k) for k, v in parts.items() if v), reverse=True)
        return f"{size(self.total(at_once, seeds))} ({', '.join(f'{k} {size(v)}' for v, k in shown)})"


def estimate(
    model: Model,
    train: Train,
    batch_size: int,
    time_steps: int,
    n_batches: int,
    test_batches: int = 0,
    data_bytes: int | None = None,
    shared_data: bool = False,
    epochs: int | None = None,
    making: bool = False,
) -> Estimate:
    """The memory `fit` needs for `model` (features and outputs known) trained with `train` on
    data of these shapes. `data_bytes` is one seed's train + test data (default: the bytes of
    `Batches` with per-step targets); with `shared_data` it is held once for every seed;
    `making`: each seed's data is made during the run (a data function), one seed at a time."""
    features, outputs = model.input_width or 1, model.outputs or 1
    recurrent = model.recurrent_params() if model.features else _recurrent_guess(model)
    params = recurrent + model.units * outputs + outputs
    state = model.state_size()
    if data_bytes is None:
        per_step = F32 * (features + outputs + 1) + 2  # x, y, weight; reset and known are bools
        data_bytes = per_step * batch_size * time_steps * (n_batches + test_batches)
    # Backprop keeps each step's gates and state for every row; horizon K re-runs K batches.
    reach = train.horizon if train.mode == "stateful" else 1
    gates = GATES[model.cell] + 2
    activations = F32 * batch_size * time_steps * model.layers * model.units * gates * reach * 2
    if has_dots(model):  # kernel_grads also keeps each step's dz (two for a GRU) and output
        activations += F32 * batch_size * time_steps * model.layers * model.units * reach * (
            1 + GATES[model.cell] * (2 if model.cell == "gru" else 1))
    parts = {
        "parameters and Adam": F32 * params * ADAM_COPIES,
        "carried state": F32 * batch_size * state * 2,  # training and evaluation
        "activations": activations,
    }
    parts |= MODE_PARTS.get(train.mode, lambda *a: {})(model, train, batch_size, time_steps)
    shared = {"XLA": FIXED_BYTES + PROGRAM_BYTES_PER_BATCH * (reach - 1) * model.layers}
    if making:
        shared["making data"] = data_bytes * MAKING_COPIES
    if shared_data:
        shared["data"] = data_bytes * DATA_COPIES
    else:
        parts["data"] = data_bytes * DATA_COPIES
    metrics = F32 * 6 * (epochs if epochs is not None else train.epochs)
    return Estimate(parts, shared, kept=F32 * (params + batch_size * state) + metrics)


def _recurrent_guess(model: Model) -> int:
    """The recurrent parameters with the input width unknown: as for one input (a tokens model
    needs at least 2 tokens, so it is guessed as a model on one value)."""
    return model.replace(features=1, inputs="values").recurrent_params()


# -- how many seeds at once, or a refusal -----------------------------------------------------


def plan(
    need: Estimate, seeds: int, chunk_size: int, units_that_fit: Callable[[int], int] | None = None
) -> tuple[int, int]:
    """(chunk size, seeds per wave) for `seeds` seeds; a `TooLargeForMemory` sentence when not
    even one seed fits. `units_that_fit(budget)` says what would (for the message)."""
    have, where = budget()
    at_once = need.seeds_at_once(have, seeds)
    if at_once < 1:
        raise TooLargeForMemory(refusal(need, seeds, have, where, units_that_fit))
    chunk = max(1, min(chunk_size, at_once))
    wave = min(seeds, at_once, max(MAX_RESIDENT_SEEDS, chunk))
    return chunk, max(chunk, wave - wave % chunk)


def refusal(need: Estimate, seeds: int, have: int, where: str, units_that_fit=None) -> str:
    """One sentence: the estimate, what fits, and the alternatives."""
    if need.seeds_at_once(have, 1) >= 1:  # one seed fits, but not every seed's results
        fits = max(1, (have - sum(need.shared.values()) - need.per_seed) // max(need.kept, 1))
        return (
            f"{seeds:,} seeds need about {size(need.total(1, seeds))} (each seed's trained "
            f"parameters and state, {size(need.kept)}, are kept to the end), more than {where}; "
            f"at most {fits:,} seeds fit with these sizes; run fewer seeds per call."
        )
    largest = max(need.parts.items(), key=lambda kv: kv[1])[0]
    advice = {
        "data": "give less data per seed (fewer samples or time steps), or share one data set",
        "RTRL sensitivities": "use mode stateful with a horizon K, fewer units or a smaller batch size",
        "horizon window": "use a shorter horizon or a smaller batch size",
        "activations": "use fewer time steps per sample, a smaller batch size or fewer units",
    }.get(largest, "use fewer units or layers")
    units = units_that_fit(have) if units_that_fit else 0
    fits = f"at most {units:,} units fit with these sizes; " if units else ""
    return f"one seed needs about {need.describe()}, more than {where}; {fits}{advice}."


def units_that_fit(make: Callable[[int], Estimate], units: int, have: int) -> int:
    """The most units (up to `units`) whose estimate fits one seed in `have` (0: none)."""
    lo, hi = 0, units
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if make(mid).seeds_at_once(have, 1) >= 1:
            lo = mid
        else:
            hi = mid - 1
    return lo


def plan_for(model: Model, train: Train, seeds: int, chunk_size: int, data, test, shared: bool,
             making: bool = False, width: int = 1) -> tuple[int, int]:  # fmt: skip
    """`plan` for `fit`: the estimate from the first seed's `Batches` (and test `Batches`), for
    the seeds padded to a multiple of `width` (lanes, engine.run_epoch_lanes)."""
    seeds = -(-seeds // width) * width
    per_seed = sum(a.nbytes for b in (data, test) if b is not None for a in b)
    if not shared and data.x.ndim == 5:  # one data set per seed, stacked
        per_seed //= max(len(data.x), 1)
    b, t = data.x.shape[-3], data.x.shape[-2]
    n_test = 0 if test is None else test.x.shape[-4]

    def need(units: int) -> Estimate:
        return estimate(model.replace(units=units), train, b, t, data.x.shape[-4], n_test, per_seed, shared,
                        making=making)  # fmt: skip

    return plan(need(model.units), seeds, chunk_size, lambda have: units_that_fit(need, model.units, have))
