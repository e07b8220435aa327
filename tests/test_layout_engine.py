"""The engine honours per-step resets and weights in every mode.

Oracle: every sequence run on its own from a zero state, its loss and gradient computed
directly (no packing, no engine). Packed batches put several sequences in a row with a reset
at each start, padded batches one sequence per row with weight-0 padding after it; the engine
must give the same per-batch loss and gradient as that oracle in both, so packed == padded ==
alone.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry.core import cells, engine, modes, rtrl
from statecarry.core.spec import Model, Train
from statecarry.data.layout import Batches, pack, packed_positions

U = 3
EPS = 1e-7
MODEL = Model(cell="lstm", units=U, layers=1, head="sigmoid", features=1, outputs=1)

# B=2, T=5: greedy packing puts every one of these inside a single batch (checked below).
WITHIN = [2, 3, 3, 2, 1, 4, 4, 1]
# B=2, T=3: these run across batch boundaries (up to 3 batches each: horizon 3 covers them).
ACROSS = [7, 3, 9, 2, 5]

# Jitted once for the module, so tests that share a config share its compiled program.
GRADS = {
    mode: jax.jit(fn, static_argnames=("model", "train"))
    for mode, fn in (
        ("stateless", modes.truncated_grad),
        ("stateful", modes.truncated_grad),
        ("horizon", modes.horizon_grad),
        ("rtrl", rtrl.rtrl_grad),
    )
}

EVALUATE = jax.jit(engine.evaluate, static_argnames=("model", "train"))


def train_for(mode, loss, horizon=2):
    if mode == "horizon":
        return Train(mode="stateful", horizon=horizon, loss=loss)
    return Train(mode=mode, loss=loss)


def random_params(seed=0):
    params = cells.init(jax.random.key(seed), MODEL)
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: a + 0.3 * rng.standard_normal(a.shape).astype(np.float32), params)


def make_sequences(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, (n, 1)).astype(np.float32) for n in lengths]


# -- the oracle -------------------------------------------------------------------------------


def packed_steps(seqs, batch_size, time_steps):
    """The batch each step of each sequence lands in when packed: (sequences, longest)."""
    _, starts = packed_positions([len(s) for s in seqs], batch_size)
    longest = max(len(s) for s in seqs)
    return (starts[:, None] + np.arange(longest)) // time_steps


def padded_steps(seqs, batch_size):
    """Padded, one sequence per row: sequence n lies wholly in batch n // batch_size."""
    longest = max(len(s) for s in seqs)
    return np.repeat((np.arange(len(seqs)) // batch_size)[:, None], longest, axis=1)


def oracle_batch_losses(params, seqs, labels, step_batch, n_batches, loss):
    """Per-batch mean loss, each sequence run alone from zeros, targets read from the source;
    `step_batch[n, t]` is the batch step t of sequence n belongs to in the layout.

    All sequences go through one forward pass as separate rows (padded at their ends, which
    cannot reach back into earlier steps), each from a zero state and with no reset.
    """
    longest = max(len(s) for s in seqs)
    x = np.zeros((len(seqs), longest, 1), np.float32)
    target = np.zeros((len(seqs), longest, 1), np.float32)
    weight = np.zeros((len(seqs), longest), np.float32)
    batch = np.asarray(step_batch, np.int64)
    for n, seq in enumerate(seqs):
        if len(seq) == 0:
            continue
        x[n, : len(seq)] = seq
        if labels is None:  # next value at every step but the last
            target[n, : len(seq) - 1], weight[n, : len(seq) - 1] = seq[1:], 1.0
        else:  # the label at the last step
            target[n, len(seq) - 1], weight[n, len(seq) - 1] = labels[n], 1.0
    zeros = cells.zeros_state(MODEL, len(seqs))
    _, pred = cells.forward(params, MODEL, zeros, jnp.asarray(x), jnp.zeros((len(seqs), longest), bool))
    if loss == "mse":
        step_loss = jnp.mean((pred - target) ** 2, axis=-1)
    else:
        p = jnp.clip(pred, EPS, 1 - EPS)
        step_loss = -jnp.mean(target * jnp.log(p) + (1 - target) * jnp.log(1 - p), axis=-1)
    on = weight > 0
    totals = jnp.zeros(n_batches).at[batch[on]].add(step_loss[on])
    counts = np.bincount(batch[on], minlength=n_batches).astype(np.float32)
    return totals / jnp.maximum(counts, 1.0)


def oracle(params, seqs, labels, batch_size, time_steps, n_batches, loss, step_batch=None):
    """Per-batch losses and per-batch gradients (leading axis n_batches); packed unless
    `step_batch` says where each step lies."""
    if step_batch is None:
        step_batch = packed_steps(seqs, batch_size, time_steps)

    def f(p):
        return oracle_batch_losses(p, seqs, labels, step_batch, n_batches, loss)

    # one compiled program per case: eager per-sequence scans under jacrev are very slow
    return jax.jit(lambda p: (f(p), jax.jacrev(f)(p)))(params)


# -- the engine, one batch at a time at fixed parameters --------------------------------------


def engine_batches(params, batches, train, grad_fn):
    batches = jax.tree.map(jnp.asarray, batches)
    batches = engine.with_mode_resets(batches, train, start_of_pass=True)
    _, batch_size, time_steps = batches.reset.shape
    state = cells.zeros_state(MODEL, batch_size)
    extra = modes.init_extra(train, MODEL, params, batch_size, time_steps)
    losses, grads = [], []
    for k in range(batches.x.shape[0]):
        batch = jax.tree.map(lambda a, k=k: a[k], batches)
        g, state, extra, stats = grad_fn(params, state, extra, batch, model=MODEL, train=train)
        losses.append(stats["loss"] / jnp.maximum(stats["weight"], 1.0))
        grads.append(g)
    return jnp.stack(losses), jax.tree.map(lambda *g: jnp.stack(g), *grads)


def assert_trees_close(a, b, **tol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tol)


def trees_close(a, b, atol):
    return all(np.allclose(x, y, atol=atol) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def layout(lengths, batch_size, time_steps, labelled, seed=0):
    seqs = make_sequences(lengths, seed)
    labels = (
        np.random.default_rng(seed + 1).integers(0, 2, len(seqs)).astype(np.float32)
        if labelled
        else None
    )
    return seqs, labels, pack(seqs, batch_size, time_steps, labels=labels)


def test_the_within_layout_really_keeps_each_sequence_inside_one_batch():
    rows, starts = packed_positions(WITHIN, 2)
    ends = starts + np.array(WITHIN) - 1
    assert (starts // 5 == ends // 5).all()
    assert len(set(rows)) == 2 and (np.bincount(rows) > 1).all()  # several sequences per row


@pytest.mark.parametrize(
    "mode, labelled, loss",
    [
        ("stateless", True, "bce"),
        ("stateful", False, "mse"),
        ("horizon", True, "bce"),
        ("rtrl", False, "mse"),
    ],
)
def test_packed_rows_with_resets_match_sequences_run_alone(mode, labelled, loss):
    """Sequences inside one batch each: every mode gives each batch's loss and gradient, and
    `evaluate` the epoch's loss, exactly as if each sequence had been run alone from zeros."""
    params = random_params()
    seqs, labels, batches = layout(WITHIN, 2, 5, labelled)
    train = train_for(mode, loss)
    losses, grads = engine_batches(params, batches, train, GRADS[mode])
    want_losses, want_grads = oracle(params, seqs, labels, 2, 5, batches.n_batches, loss)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5, atol=1e-6)
    assert_trees_close(grads, want_grads, rtol=1e-4, atol=1e-6)

    stats, _ = EVALUATE(params, jax.tree.map(jnp.asarray, batches), MODEL, train)
    weights = batches.weight.sum(axis=(1, 2))
    np.testing.assert_allclose(stats["loss"], np.sum(np.asarray(want_losses) * weights), rtol=1e-5)
    assert stats["weight"] == (len(seqs) if labelled else sum(len(s) - 1 for s in seqs))


def padded(seqs, labels, batch_size, longest):
    """One sequence per row from a zero state (a reset at step 0), zeros and weight 0 after
    it up to `longest` steps: the padded layout, built here from its definition."""
    n = len(seqs)
    x = np.zeros((n, longest, 1), np.float32)
    y = np.zeros((n, longest, 1), np.float32)
    weight = np.zeros((n, longest), np.float32)
    reset = np.zeros((n, longest), bool)
    reset[:, 0] = True
    for i, seq in enumerate(seqs):
        x[i, : len(seq)] = seq
        if labels is None:
            y[i, : len(seq) - 1], weight[i, : len(seq) - 1] = seq[1:], 1.0
        else:
            y[i, len(seq) - 1], weight[i, len(seq) - 1] = labels[i], 1.0

    def batched(a):
        return a.reshape((n // batch_size, batch_size) + a.shape[1:])

    return Batches(batched(x), batched(y), batched(reset), batched(weight), batched(reset & False))


@pytest.mark.parametrize(
    "mode, labelled, loss",
    [
        ("stateless", True, "bce"),
        ("stateful", False, "mse"),
        ("horizon", True, "bce"),
        ("rtrl", False, "mse"),
    ],
)
def test_padded_rows_match_sequences_run_alone_and_the_packed_layout(mode, labelled, loss):
    """The same sequences padded one per row: each batch's loss and gradient are the oracle's
    for that grouping, and the epoch's summed loss equals the packed layout's."""
    params = random_params()
    seqs, labels, packed = layout(WITHIN, 2, 5, labelled)
    batches = padded(seqs, labels, 2, 5)  # 5 steps, as the packed batches: one program each
    train = train_for(mode, loss)
    losses, grads = engine_batches(params, batches, train, GRADS[mode])
    want_losses, want_grads = oracle(
        params, seqs, labels, 2, 5, batches.n_batches, loss, step_batch=padded_steps(seqs, 2)
    )
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5, atol=1e-6)
    assert_trees_close(grads, want_grads, rtol=1e-4, atol=1e-6)

    by_layout = [EVALUATE(params, jax.tree.map(jnp.asarray, b), MODEL, train)[0] for b in (packed, batches)]
    weights = batches.weight.sum(axis=(1, 2))
    np.testing.assert_allclose(by_layout[1]["loss"], np.sum(np.asarray(want_losses) * weights), rtol=1e-5)
    np.testing.assert_allclose(by_layout[0]["loss"], by_layout[1]["loss"], rtol=1e-5)
    assert by_layout[0]["weight"] == by_layout[1]["weight"]


def test_ignoring_the_mid_row_resets_would_be_caught():
    """The oracle comparison can fail: drop every reset but the first of each row."""
    params = random_params()
    seqs, labels, batches = layout(WITHIN, 2, 5, labelled=False)
    reset = np.zeros_like(batches.reset)
    reset[0, :, 0] = True
    train = train_for("stateful", "mse")
    losses, _ = engine_batches(params, batches._replace(reset=reset), train, GRADS["stateful"])
    want, _ = oracle(params, seqs, labels, 2, 5, batches.n_batches, "mse")
    assert np.abs(np.asarray(losses) - np.asarray(want)).max() > 1e-4


def test_sequences_across_batches_rtrl_and_a_long_enough_horizon_match_the_oracle():
    """Sequences spanning up to 3 batches: rtrl and horizon 3 reach back to each sequence's
    start (and no further, thanks to the resets); horizon 1 stops at the batch boundary."""
    params, loss = random_params(2), "bce"
    seqs, labels, batches = layout(ACROSS, 2, 3, labelled=True, seed=2)
    want_losses, want_grads = oracle(params, seqs, labels, 2, 3, batches.n_batches, loss)
    for mode, horizon in (("rtrl", 1), ("horizon", 3)):
        train = train_for(mode, loss, horizon=horizon)
        losses, grads = engine_batches(params, batches, train, GRADS[mode])
        np.testing.assert_allclose(losses, want_losses, rtol=1e-5, atol=1e-6)
        assert_trees_close(grads, want_grads, rtol=1e-4, atol=1e-6)
    # horizon 1: same losses (the forward state is exact), a truncated gradient
    train = train_for("stateful", loss)
    losses, grads = engine_batches(params, batches, train, GRADS["stateful"])
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5, atol=1e-6)
    assert not trees_close(grads, want_grads, atol=1e-5)


@pytest.mark.parametrize("mode", ["stateless", "stateful", "horizon", "rtrl"])
def test_weight_zero_steps_change_nothing(mode):
    """Altering the target at every weight-0 step, and the inputs of the padded tail, leaves
    each batch's loss and gradient unchanged."""
    params = random_params(3)
    _, _, batches = layout(ACROSS, 2, 3, labelled=True, seed=3)
    train = train_for(mode, "bce", horizon=3)
    rng = np.random.default_rng(0)
    off = batches.weight == 0
    y = np.where(off[..., None], rng.uniform(0, 1, batches.y.shape), batches.y).astype(np.float32)
    rows, starts = packed_positions(ACROSS, 2)
    ends = [max(s + n for r, s, n in zip(rows, starts, ACROSS) if r == row) for row in (0, 1)]
    steps = np.arange(batches.n_batches * 3).reshape(batches.n_batches, 1, 3)
    padded = steps >= np.array(ends)[:, None]  # (n_batches, batch, time): each row's tail
    assert padded.sum() == 2 * batches.n_batches * 3 - sum(ACROSS) > 0
    assert (batches.weight[padded] == 0).all() and not batches.reset[padded].any()
    x = np.where(padded[..., None], 5.0, batches.x).astype(np.float32)
    altered = batches._replace(y=y, x=x)
    assert (altered.y != batches.y).any()
    losses, grads = engine_batches(params, batches, train, GRADS[mode])
    losses2, grads2 = engine_batches(params, altered, train, GRADS[mode])
    np.testing.assert_array_equal(losses, losses2)
    assert_trees_close(grads, grads2, rtol=0, atol=0)
