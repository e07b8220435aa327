"""`fit`: the one many-seed training loop.

A training run is the pure function `(data, model, train, seed) -> history`; `fit` runs it for
many seeds at once. Seeds are processed in chunks (bounded memory), each chunk split over the
CPU's XLA host devices; the epoch is compiled once per shape, ahead of time, and reused for
every epoch, chunk and later call in the process (`runtime.clear_cache` forgets them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.layout import Batches
from ..errors import ConfigError, DataError
from . import checks, memory, runtime, ticks
from .divergence import EpochCallback, close_epoch, divergence_message
from .source import Source, cut
from .spec import ONLINE_MODES, Model, Train

DataFn = Callable[[int], Batches | tuple[Batches, Batches | None]]
ProgressCallback = Callable[[str, int, int], None]


@dataclass(repr=False)
class Fit:
    """What `fit` returns. `metrics[name]` is (epochs, seeds), seeds in the order given;
    `params` and `state` (the training state after the last batch) have a leading seed axis."""

    model: Model  # with features and outputs read from the data
    train: Train
    seeds: list[int]
    metrics: dict[str, np.ndarray]
    params: dict
    state: Any
    diverged: dict[int, int] = field(default_factory=dict)  # seed -> first epoch with NaN loss
    compile_seconds: float = 0.0
    run_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def params_of(self, seed: int) -> dict:
        """One seed's parameters (by seed, not by position)."""
        return _pick(self.params, self._index(seed))

    def state_of(self, seed: int) -> Any:
        return _pick(self.state, self._index(seed))

    def _index(self, seed: int) -> int:
        if seed not in self.seeds:
            shown = ", ".join(map(str, self.seeds[:8])) + (" …" if len(self.seeds) > 8 else "")
            raise DataError(f"seed {seed} was not trained here; the seeds are {shown}.")
        return self.seeds.index(seed)

    @property
    def epochs(self) -> int:
        return next(iter(self.metrics.values())).shape[0]

    def __repr__(self) -> str:  # the arrays' values would run to hundreds of lines
        seeds = ", ".join(map(str, self.seeds[:6])) + (", …" if len(self.seeds) > 6 else "")
        return (f"Fit({self.model!r}, {self.train!r}, seeds=[{seeds}] ({len(self.seeds)}), "
                f"epochs={self.epochs}, metrics={sorted(self.metrics)}, diverged={self.diverged})")  # fmt: skip

    def divergence_message(self) -> str | None:
        """One sentence naming where training diverged, or None."""
        if not self.diverged:
            return None
        return divergence_message(self.diverged, len(self.seeds), self.train.learning_rate)


def _pick(tree: Any, k: int) -> Any:
    import jax

    return jax.tree.map(lambda a: np.asarray(a)[k], tree)


def fit(
    data: Batches | DataFn,
    model: Model,
    train: Train | Sequence[Train],
    seeds: Sequence[int] | int = (0,),
    test: Batches | None = None,
    *,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
    chunk_size: int | None = None,
    vector_lanes: bool = True,
) -> Fit | list[Fit]:
    """Train `model` with `train` for every seed; seeds are independent runs.

    `train` may also be a list of `Train`s that differ only in Adam's data (learning rate,
    betas, epsilon): every (train, seed) pair then runs side by side in one program, as a lane
    like a seed, and a list of `Fit`s comes back, one per `Train`, each with exactly the numbers
    it would have alone (and the time they took together).

    `data` is one of
      - `Batches` shared by every seed (seeds then vary the initialisation and shuffles);
      - `Batches` with a leading seed axis, one data set per seed (`len(seeds)` of them);
      - a function `seed -> (train, test)` (or `seed -> train`), called chunk by chunk so
        memory stays bounded; every seed's data must have the same shapes.
    `test` (not with a function) is evaluated after every epoch on a state of its own.

    `seeds` is a list of seeds (whole numbers, each an independent run) or a count: `seeds=8`
    runs seeds 0 to 7. `chunk_size` caps the seeds run at once (default: as many as memory and
    the cores allow; the numbers do not depend on it).

    `vector_lanes=False` keeps small models on the seed-first `vmap` program, where one seed
    costs one seed's work (the vector lanes pad a device's seeds to 16; for timing one run).

    `on_epoch(epoch, metrics)` is called after each epoch with that epoch's metrics for all
    seeds; `on_progress(stage, done, total)` reports compiling and training (counted in chunks'
    epochs, or for a model with matrix products in batches, from inside the epoch: `ticks`,
    which costs such a fit 1-2% of its time). A seed whose loss
    becomes NaN is named in `Fit.diverged` (and `divergence_message`); the others are kept.
    """
    import jax

    from . import engine, heads

    many = isinstance(train, (list, tuple))
    trains = checks.side_by_side(train) if many else [train]
    if not isinstance(model, Model) or not isinstance(trains[0], Train):
        raise ConfigError(
            f"fit takes (data, model, train): a Model then a Train, got "
            f"{type(model).__name__} and {type(train).__name__}."
        )
    train = trains[0]
    seeds = checks.seed_list(seeds)
    n_seeds, seeds = len(seeds), seeds * len(trains)  # lanes, train after train
    checks.fit_options(chunk_size, on_epoch=on_epoch, on_progress=on_progress)
    if not isinstance(vector_lanes, bool):
        raise ConfigError(f"vector_lanes must be True or False, got {vector_lanes!r}.")
    source = Source(data, test, n_seeds)
    first_train, first_test = source.get(seeds[:1], 0)
    if model.tokens and model.features is None and source.fn is None and not source.shared:
        model = checks.tokens_of_every_seed(model, source.train, source.test)
    model = checks.resolve(model, train, first_train, first_test)
    # Trains with different losses share one program that takes each lane's loss as data
    loss_as_data = len({t.loss_for(model) for t in trains}) > 1
    known = checks.has_known(first_train, first_test)
    batch_size, time_steps = first_train.x.shape[-3], first_train.x.shape[-2]
    devices = runtime.local_devices()
    n_dev = len(devices)
    chunk_size = chunk_size or runtime.SEEDS_PER_DEVICE * n_dev
    # With the seeds in the vector lanes, a device's seeds fill whole vector registers (padded):
    # every seed then runs the same instructions, so it gets the same bits in any company.
    lanes = vector_lanes and engine.uses_lanes(model, train)
    width = runtime.LANE_WIDTH if lanes else 1
    # Estimated before anything is allocated; seeds past what fits at once stream in waves.
    planned = chunk_size
    chunk_size, wave = memory.plan_for(model, train, len(seeds), max(planned, width), first_train, first_test,
                                        source.shared, making=source.fn is not None, width=width)  # fmt: skip
    if lanes and chunk_size < width:  # not even one lane group fits: one seed costs one seed's memory
        lanes, width = False, 1
        chunk_size, wave = memory.plan_for(model, train, len(seeds), planned, first_train, first_test, source.shared,
                                            making=source.fn is not None)  # fmt: skip
    chunk_size -= chunk_size % width  # whole lane groups, never more seeds at once than the plan's
    chunk_size = max(1, min(chunk_size, len(seeds)))
    # Every chunk has the same shape (the last is padded), so one compiled program serves all;
    # a chunk that divides over the devices runs on all cores at once.
    split = whole = None
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    if chunk_size < n_dev * width or n_dev == 1:
        chunk_size = -(-chunk_size // width) * width
    else:
        chunk_size -= chunk_size % (n_dev * width)
        mesh = Mesh(np.array(devices), ("seeds",))
        split, whole = NamedSharding(mesh, PartitionSpec("seeds")), NamedSharding(mesh, PartitionSpec())

    def put(tree, sharding):
        return jax.device_put(tree, sharding) if sharding is not None else jax.device_put(tree)

    def placing(data):
        """Where `data` goes: whole to every device when shared, else split along its seed
        axis (the last one in the lanes layout)."""
        if split is None or data is None:
            return None
        if source.shared:
            return whole
        if not lanes:
            return split
        spec = lambda a: PartitionSpec(*([None] * (a.ndim - 1)), "seeds")  # noqa: E731
        return jax.tree.map(lambda a: NamedSharding(split.mesh, spec(a)), data)

    program = train.structure()  # epochs, the learning rate, ... do not change the program
    if loss_as_data:
        program = dataclasses.replace(program, loss=None)
    chunks = [seeds[i : i + chunk_size] for i in range(0, len(seeds), chunk_size)]
    per_wave = max(1, wave // chunk_size)
    waves = [range(w, min(w + per_wave, len(chunks))) for w in range(0, len(chunks), per_wave)]

    def make(i: int) -> tuple:
        """Chunk i's seeds (padded) and data, checked."""
        nonlocal known
        chunk = chunks[i]
        padded = chunk + [chunk[-1]] * (chunk_size - len(chunk))
        tr, te = source.get(padded, i * chunk_size)
        if i:
            checks.same_shapes(first_train, first_test, tr, te, source.shared)
        if not source.shared:  # every seed's data, not only the first seed's
            checks.resolve(model, train, tr, te)
            known = known or checks.has_known(tr, te)
        return i, padded, tr, te

    t0 = time.perf_counter()
    # Data that resets only before a batch's first step goes in with its resets cut to that step
    # (cells.run_stream zeroes the state once rather than testing it every step), and data with
    # targets at a batch's last step alone (a sequence's label) with them cut to it (the head
    # runs on that step only); the online modes follow every step's sensitivities, resets and
    # losses. Data made seed by seed is known only once made: when one wave holds every chunk,
    # it is made before the program (its data then sits on the host until placed, within
    # memory's DATA_COPIES), else not cut.
    online = train.mode in ONLINE_MODES
    ahead = source.fn is not None and len(waves) == 1 and not online
    made = [make(i) for i in waves[0]] if ahead else None
    pairs = [(tr, te) for _, _, tr, te in made] if ahead else None
    cut_resets = not online and source.resets_first_only(pairs)
    cut_targets = not online and source.targets_last_only(pairs)
    reset_steps = 1 if cut_resets else time_steps
    data_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    init_fn = _compiled_init(model, program, chunk_size, batch_size, time_steps, loss_as_data, reset_steps)
    init_seconds = time.perf_counter() - t0

    def load(items) -> list:
        """Each chunk's carry and data on its devices, made chunk by chunk as `items` yields."""
        states = []
        for i, padded, tr, te in items:
            tr, te = (cut(b, cut_resets, cut_targets) for b in (tr, te))
            if lanes and not source.shared:  # the lanes read a seed's data seed axis last
                tr, te = (None if b is None else Batches(*(np.moveaxis(f, 0, -1).copy() for f in b)) for b in (tr, te))
            carry, keys = put(init_fn(np.asarray(padded).astype(np.int32)), split)
            lane_trains = [trains[min(i * chunk_size + k, len(seeds) - 1) // n_seeds] for k in range(len(padded))]
            carry = _with_lane_data(carry, model, lane_trains, lambda a: put(a, split))
            states.append([carry, put(tr, placing(tr)), put(te, placing(te)), keys])
        return states

    t0 = time.perf_counter()
    states = load(_drain(made) if ahead else map(make, waves[0]))
    data_seconds += time.perf_counter() - t0

    if on_progress:
        on_progress("compile", 0, 1)
    t0 = time.perf_counter()
    carry, tr, te, keys = states[0]
    args = (carry, tr, te, keys, np.int32(0))
    shapes = tuple((a.shape, str(a.dtype)) for a in jax.tree.leaves(args))
    # a big model's epoch may run for minutes: progress from each batch, not only between epochs
    ticking = on_progress is not None and not lanes and runtime.has_dots(model)
    placement = (split is not None, n_dev, source.shared, lanes, str(jax.tree.structure(args)), shapes, ticking)
    epoch_fn, placed = _epoch_program(model, program, source.shared, lanes, split, whole, placing(tr), placing(te), ticking)
    compiled = runtime.executable("epoch", (model, program, placement), epoch_fn, args, model, program, **placed)
    compile_seconds = time.perf_counter() - t0 + init_seconds
    carry = tr = te = keys = args = None  # the first wave's arrays live in `states` only

    names = [f"train_{m}" for m in heads.metric_names(model.head, known)]
    if first_test is not None:
        names += [f"test_{m}" for m in heads.metric_names(model.head, known)]
    out = {m: np.full((train.epochs, len(seeds)), np.nan, np.float32) for m in names}
    diverged: dict[int, int] = {}
    gone = np.zeros(len(seeds), bool)  # seeds whose loss has become NaN or infinite
    t0 = time.perf_counter()
    per = first_train.x.shape[-4] if ticking else 1  # progress in batches (ticks) or in chunk epochs
    total, done = train.epochs * len(chunks) * per, 0
    show = ticks.forward_only(lambda n: on_progress("train", n, total)) if on_progress else None
    # a tick's count may run ahead (XLA may call once per seed): never past the pass under way
    listening = ticks.listening(lambda n: show(min(n, done + per, total)), per) if ticking else contextlib.nullcontext()
    kept = []  # each chunk's (params, state) on the host once its wave is done
    with listening:
        for w, wave in enumerate(waves):
            if w:  # the previous wave's carry and data are released; this one's are made now
                states = load(map(make, wave))
            for epoch in range(train.epochs):
                pending = []  # dispatch every chunk first (XLA runs them in order), then wait once
                for st in states:
                    st[0], sums = compiled(st[0], st[1], st[2], st[3], np.int32(epoch))
                    pending.append(sums)
                for i, (train_sums, test_sums) in zip(wave, pending):
                    lo, n = i * chunk_size, len(chunks[i])
                    for prefix, sums in (("train_", train_sums), ("test_", test_sums)):
                        if not sums:
                            continue
                        host = {k: np.asarray(v)[:n] for k, v in sums.items()}
                        for name, values in heads.metrics(host, model.head, known).items():
                            out[prefix + name][epoch, lo : lo + n] = values
                    done += per
                    if show:
                        show(done)
                if len(waves) == 1:
                    close_epoch(out, epoch, gone, diverged, on_epoch)
            kept += [jax.tree.map(np.array, (st[0].params, st[0].state)) for st in states]
            states = None
    for epoch in range(train.epochs if len(waves) > 1 else 0):  # known for every seed only now
        close_epoch(out, epoch, gone, diverged, on_epoch)
    run_seconds = time.perf_counter() - t0
    params, state = jax.tree.map(lambda *parts: np.concatenate(parts)[: len(seeds)], *kept)
    fits = []
    for t, spec in enumerate(trains):  # lane k is seed k % n_seeds of train k // n_seeds
        lanes = slice(t * n_seeds, (t + 1) * n_seeds)
        fits.append(Fit(
            model,
            spec,
            seeds[lanes],
            {name: values[:, lanes] for name, values in out.items()},
            jax.tree.map(lambda a, lanes=lanes: a[lanes], params),
            jax.tree.map(lambda a, lanes=lanes: a[lanes], state),
            {seeds[k]: e for k, e in diverged.items() if k // n_seeds == t},
            compile_seconds=compile_seconds,
            run_seconds=run_seconds,
            timings={"data_seconds": data_seconds, "init_compile_seconds": init_seconds,
                     "devices": n_dev if split is not None else 1},  # the seeds ran split over
        ))  # fmt: skip
    return fits if many else fits[0]


def _drain(items: list):
    """The list's items, each dropped from it as it is handed out (its memory freed once used)."""
    while items:
        yield items.pop(0)


def _epoch_program(model: Model, train: Train, shared: bool, lanes: bool, split, whole, data, test, ticking: bool):
    """One epoch per (model, train, data sharing, devices, progress), and how to jit it; `data`
    and `test` are where the training and test data are placed."""
    import functools

    from . import engine

    fn = functools.partial(engine.run_epoch_seeds, model=model, train=train, shared=shared, lanes=lanes, ticks=ticking)
    if split is None:
        return fn, {"donate_argnums": (0,)}
    return fn, {
        "in_shardings": (split, data, test, split, whole),
        "out_shardings": (split, split),
        "donate_argnums": (0,),
    }


def _with_lane_data(carry, model: Model, lanes: list[Train], put: Callable):
    """The carry with each lane's Adam hyperparameters (optim.py) and loss (engine.Carry):
    data in the program, not constants of it."""
    from .engine import loss_index
    from .optim import hyper

    values = np.stack([hyper(t.learning_rate, t.beta1, t.beta2, t.adam_eps) for t in lanes])
    opt_state = carry.opt_state._replace(hyper=put(values))
    if carry.loss is None:  # one loss for every lane: a constant of the program
        return carry._replace(opt_state=opt_state)
    loss = np.array([loss_index(model, t) for t in lanes], np.int32)
    return carry._replace(opt_state=opt_state, loss=put(loss))


def _compiled_init(model: Model, train: Train, chunk_size: int, batch_size: int, time_steps: int,
                   loss_as_data: bool = False, reset_steps: int | None = None):  # fmt: skip
    """Seeds -> (initial carry, PRNG keys) as one compiled program: one compile, not two.

    It runs on one device even when the seeds are split (`fit` places its outputs). The
    orthogonal recurrent kernels are QR factorisations, and jaxlib 0.10.2's LAPACK kernel for a
    batch of them waits for helper tasks on XLA:CPU's thread pool from inside that pool: with
    the program split over 2 host devices on 2 cores both pool threads wait and none is left to
    help, a hang for LSTM(8) and up (benchmarks/deadlock.py reproduces it in plain JAX)."""
    import jax

    from . import engine

    def init(seeds):
        keys = jax.vmap(jax.random.key)(seeds)
        return engine.init_carry_seeds(keys, model, train, batch_size, time_steps, loss_as_data, reset_steps), keys

    seeds = jax.ShapeDtypeStruct((chunk_size,), np.dtype(np.int32))
    key = (model, train, chunk_size, batch_size, time_steps, loss_as_data, reset_steps)
    return runtime.executable("init", key, init, (seeds,))
