"""The engine honours per-step resets and weights in every mode.

Oracle: every sequence run on its own from a zero state, its loss and gradient computed
directly (no packing, no engine). Packed batches put several sequences in a row with a reset
at each start; the engine must give the same per-batch loss and gradient as that oracle.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry import engine, model, rtrl
from statecarry.config import Config
from statecarry.data.layout import pack, packed_positions

U = 3
EPS = 1e-7

# B=2, T=5: greedy packing puts every one of these inside a single batch (checked below).
WITHIN = [2, 3, 3, 2, 1, 4, 4, 1]
# B=2, T=3: these run across batch boundaries (up to 3 batches each: horizon 3 covers them).
ACROSS = [7, 3, 9, 2, 5]

# Jitted once for the module, so tests that share a config share its compiled program.
GRADS = {
    mode: jax.jit(fn, static_argnames="config")
    for mode, fn in (
        ("stateless", engine.truncated_grad),
        ("stateful", engine.truncated_grad),
        ("horizon", engine.horizon_grad),
        ("rtrl", rtrl.rtrl_grad),
    )
}


def config_for(mode, time_steps, batch_size, loss, horizon=2):
    if mode == "horizon":
        return Config(
            mode="stateful",
            horizon=horizon,
            time_steps=time_steps,
            batch_size=batch_size,
            units=U,
            loss=loss,
        )
    return Config(mode=mode, time_steps=time_steps, batch_size=batch_size, units=U, loss=loss)


def random_params(seed=0):
    params = model.init(jax.random.key(seed), 1, U)
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: a + 0.3 * rng.standard_normal(a.shape).astype(np.float32), params)


def make_sequences(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, (n, 1)).astype(np.float32) for n in lengths]


# -- the oracle -------------------------------------------------------------------------------


def oracle_batch_losses(params, seqs, labels, batch_size, time_steps, n_batches, loss):
    """Per-batch mean loss, each sequence run alone from zeros, targets read from the source.

    All sequences go through one forward pass as separate rows (padded at their ends, which
    cannot reach back into earlier steps), each from a zero state and with no reset.
    """
    _, starts = packed_positions([len(s) for s in seqs], batch_size)
    longest = max(len(s) for s in seqs)
    x = np.zeros((len(seqs), longest, 1), np.float32)
    target = np.zeros((len(seqs), longest, 1), np.float32)
    weight = np.zeros((len(seqs), longest), np.float32)
    batch = np.zeros((len(seqs), longest), np.int64)
    for n, seq in enumerate(seqs):
        if len(seq) == 0:
            continue
        x[n, : len(seq)] = seq
        if labels is None:  # next value at every step but the last
            target[n, : len(seq) - 1], weight[n, : len(seq) - 1] = seq[1:], 1.0
        else:  # the label at the last step
            target[n, len(seq) - 1], weight[n, len(seq) - 1] = labels[n], 1.0
        batch[n] = (starts[n] + np.arange(longest)) // time_steps
    zeros = model.zeros_state(len(seqs), U)
    _, pred = model.forward(params, zeros, jnp.asarray(x), jnp.zeros((len(seqs), longest), bool))
    if loss == "mse":
        step_loss = jnp.mean((pred - target) ** 2, axis=-1)
    else:
        p = jnp.clip(pred, EPS, 1 - EPS)
        step_loss = -jnp.mean(target * jnp.log(p) + (1 - target) * jnp.log(1 - p), axis=-1)
    on = weight > 0
    totals = jnp.zeros(n_batches).at[batch[on]].add(step_loss[on])
    counts = np.bincount(batch[on], minlength=n_batches).astype(np.float32)
    return totals / jnp.maximum(counts, 1.0)


def oracle(params, seqs, labels, batch_size, time_steps, n_batches, loss):
    """Per-batch losses and per-batch gradients (leading axis n_batches)."""

    def f(p):
        return oracle_batch_losses(p, seqs, labels, batch_size, time_steps, n_batches, loss)

    # one compiled program per case: eager per-sequence scans under jacrev are very slow
    return jax.jit(lambda p: (f(p), jax.jacrev(f)(p)))(params)


# -- the engine, one batch at a time at fixed parameters --------------------------------------


def engine_batches(params, batches, config, grad_fn):
    batches = jax.tree.map(jnp.asarray, batches)
    batches = engine.with_mode_resets(batches, config, start_of_pass=True)
    state = model.zeros_state(config.batch_size, U)
    extra = engine.init_extra(config, params, config.batch_size)
    losses, grads = [], []
    for k in range(batches.x.shape[0]):
        batch = jax.tree.map(lambda a, k=k: a[k], batches)
        g, state, extra, stats = grad_fn(params, state, extra, batch, config=config)
        losses.append(stats.loss / jnp.maximum(stats.weight, 1.0))
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
    config = config_for(mode, 5, 2, loss)
    losses, grads = engine_batches(params, batches, config, GRADS[mode])
    want_losses, want_grads = oracle(params, seqs, labels, 2, 5, batches.n_batches, loss)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5, atol=1e-6)
    assert_trees_close(grads, want_grads, rtol=1e-4, atol=1e-6)

    stats, _ = engine.evaluate(params, jax.tree.map(jnp.asarray, batches), config)
    weights = batches.weight.sum(axis=(1, 2))
    np.testing.assert_allclose(stats.loss, np.sum(np.asarray(want_losses) * weights), rtol=1e-5)
    assert stats.weight == (len(seqs) if labelled else sum(len(s) - 1 for s in seqs))


def test_ignoring_the_mid_row_resets_would_be_caught():
    """The oracle comparison can fail: drop every reset but the first of each row."""
    params = random_params()
    seqs, labels, batches = layout(WITHIN, 2, 5, labelled=False)
    reset = np.zeros_like(batches.reset)
    reset[0, :, 0] = True
    config = config_for("stateful", 5, 2, "mse")
    losses, _ = engine_batches(params, batches._replace(reset=reset), config, engine.truncated_grad)
    want, _ = oracle(params, seqs, labels, 2, 5, batches.n_batches, "mse")
    assert np.abs(np.asarray(losses) - np.asarray(want)).max() > 1e-4


def test_sequences_across_batches_rtrl_and_a_long_enough_horizon_match_the_oracle():
    """Sequences spanning up to 3 batches: rtrl and horizon 3 reach back to each sequence's
    start (and no further, thanks to the resets); horizon 1 stops at the batch boundary."""
    params, loss = random_params(2), "bce"
    seqs, labels, batches = layout(ACROSS, 2, 3, labelled=True, seed=2)
    want_losses, want_grads = oracle(params, seqs, labels, 2, 3, batches.n_batches, loss)
    for mode, horizon in (("rtrl", 1), ("horizon", 3)):
        config = config_for(mode, 3, 2, loss, horizon=horizon)
        losses, grads = engine_batches(params, batches, config, GRADS[mode])
        np.testing.assert_allclose(losses, want_losses, rtol=1e-5, atol=1e-6)
        assert_trees_close(grads, want_grads, rtol=1e-4, atol=1e-6)
    # horizon 1: same losses (the forward state is exact), a truncated gradient
    config = config_for("stateful", 3, 2, loss)
    losses, grads = engine_batches(params, batches, config, engine.truncated_grad)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5, atol=1e-6)
    assert not trees_close(grads, want_grads, atol=1e-5)


@pytest.mark.parametrize("mode", ["stateless", "stateful", "horizon", "rtrl"])
def test_weight_zero_steps_change_nothing(mode):
    """Altering the target at every weight-0 step, and the inputs of the padded tail, leaves
    each batch's loss and gradient unchanged."""
    params = random_params(3)
    _, _, batches = layout(ACROSS, 2, 3, labelled=True, seed=3)
    config = config_for(mode, 3, 2, "bce", horizon=3)
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
    losses, grads = engine_batches(params, batches, config, GRADS[mode])
    losses2, grads2 = engine_batches(params, altered, config, GRADS[mode])
    np.testing.assert_array_equal(losses, losses2)
    assert_trees_close(grads, grads2, rtol=0, atol=0)
