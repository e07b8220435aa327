"""The kernels' gradients as products after the loop (`kernel_grads`) against `jax.grad` of the
plain forward pass (`cells.forward`), for every cell, depth, input kind and reset pattern; and
`cells.dot_t`, the product differentiated against a transposed copy, against `@`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statecarry.core import cells, kernel_grads, modes
from statecarry.core.spec import Model, Train
from statecarry.data.layout import Batches

BATCH, STEPS, UNITS = 3, 5, 16  # 16 units: the recurrent product is a dot (runtime.is_dot)


def setup(cell: str, layers: int, tokens: bool, every_step_resets: bool, seed: int = 0, features: int = 7,
          steps: int = STEPS):  # fmt: skip
    model = Model(cell=cell, units=UNITS, layers=layers, features=features, outputs=4,
                  head="softmax", inputs="tokens" if tokens else "values")  # fmt: skip
    rng = np.random.default_rng(seed)
    params = cells.init(jax.random.key(seed), model)
    params = jax.tree.map(lambda a: a + 0.1 * rng.standard_normal(a.shape).astype(np.float32), params)
    if tokens:
        x = rng.integers(0, features, (BATCH, steps, 1)).astype(np.float32)
    else:
        x = rng.standard_normal((BATCH, steps, features)).astype(np.float32)
    if every_step_resets:
        reset = rng.random((BATCH, steps)) < 0.3
        reset[1, steps // 2] = True  # at least one reset in mid-row
    else:
        reset = np.array([[True], [False], [False]])
    state = jax.tree.map(lambda s: s + rng.standard_normal(s.shape).astype(np.float32), cells.zeros_state(model, BATCH))
    return model, params, state, jnp.asarray(x), jnp.asarray(reset)


def total(forward, model):
    """A scalar that reads every output and the state after the batch, with weights of its own."""
    def loss(params, state, x, reset):
        new, out = forward(params, model, state, x, reset)
        weights = jnp.sin(jnp.arange(out.size, dtype=out.dtype)).reshape(out.shape)
        return jnp.sum(out * weights) + sum(jnp.sum(jnp.cos(s)) for s in jax.tree.leaves(new))
    return loss


# (cell, layers, token inputs, resets at every step, features, steps): features 1 and 2 make the
# first kernel a multiply-and-sum rather than a dot (runtime.is_dot), 1 step a loop of one
CASES = [
    ("lstm", 1, False, False, 7, STEPS), ("lstm", 1, True, False, 7, STEPS), ("lstm", 2, False, True, 7, STEPS),
    ("lstm", 2, True, True, 7, STEPS), ("gru", 1, False, True, 7, STEPS), ("gru", 1, True, False, 7, STEPS),
    ("gru", 2, True, True, 7, STEPS), ("gru", 2, False, False, 7, STEPS), ("lstm", 3, False, True, 1, STEPS),
    ("gru", 3, False, False, 2, STEPS), ("lstm", 1, False, False, 7, 1), ("gru", 2, True, True, 7, 1),
]  # fmt: skip


@pytest.mark.parametrize(("cell", "layers", "tokens", "every_step", "features", "steps"), CASES)
def test_gradients_equal_autodiffs_of_the_plain_forward_pass(cell, layers, tokens, every_step, features, steps):
    """Parameters, the state entering the batch and (values only) the inputs."""
    model, params, state, x, reset = setup(cell, layers, tokens, every_step, features=features, steps=steps)
    assert kernel_grads.applies(model, params)
    wrt = (0, 1) if tokens else (0, 1, 2)
    plain = jax.jit(jax.value_and_grad(total(cells.forward, model), argnums=wrt))
    after = jax.jit(jax.value_and_grad(total(kernel_grads.forward, model), argnums=wrt))
    (v_plain, g_plain), (v_after, g_after) = plain(params, state, x, reset), after(params, state, x, reset)
    assert float(v_after) == float(v_plain)  # the forward pass is the same, to the bit
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(g_plain)[0], jax.tree.leaves(g_after)):
        scale = float(jnp.max(jnp.abs(a)))
        assert scale > 0, jax.tree_util.keystr(path)  # every gradient is exercised
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-6 * scale, err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize(("cell", "layers", "tokens", "head_steps"), [("lstm", 2, False, 1), ("gru", 1, True, 2), ("lstm", 1, True, 1)])
def test_the_head_on_the_last_steps_alone(cell, layers, tokens, head_steps):
    """`head_steps` (targets at a batch's last steps only, `source.cut`): the outputs, the state
    and every gradient are those of the whole pass with its other steps' outputs dropped, in
    both the plain pass and this one."""
    model, params, state, x, reset = setup(cell, layers, tokens, False)

    def dropped(params, model, state, x, reset):
        new, out = cells.forward(params, model, state, x, reset)
        return new, out[:, -head_steps:]

    def last(forward):
        return lambda params, model, state, x, reset: forward(params, model, state, x, reset, head_steps)

    wrt = (0, 1)
    oracle = jax.jit(jax.value_and_grad(total(dropped, model), argnums=wrt))(params, state, x, reset)
    for forward in (cells.forward, kernel_grads.forward):
        got = jax.jit(jax.value_and_grad(total(last(forward), model), argnums=wrt))(params, state, x, reset)
        np.testing.assert_allclose(got[0], oracle[0], rtol=1e-6)
        for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(oracle[1])[0], jax.tree.leaves(got[1])):
            scale = float(jnp.max(jnp.abs(a)))
            assert scale > 0, jax.tree_util.keystr(path)
            np.testing.assert_allclose(b, a, rtol=0, atol=2e-6 * scale, err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize("n_seeds", [1, 3])
def test_seeds_vmapped_get_their_own_gradients(n_seeds):
    """Seeds first (`vmap` over parameters and states, fit's layout for big models): each
    seed's gradient is the one it gets alone; one seed takes the kernels' products unbatched
    (`_product_vmap` folds its axis away), several take a batched one."""
    model, params, state, x, reset = setup("lstm", 2, False, True)
    params2 = jax.tree.map(lambda a: jnp.stack([a * (1 - 0.1 * k) + 0.01 * k for k in range(n_seeds)]), params)
    state2 = jax.tree.map(lambda s: jnp.stack([s * (-1) ** k for k in range(n_seeds)]), state)
    grad = jax.grad(total(kernel_grads.forward, model), argnums=(0, 1))
    together = jax.jit(jax.vmap(grad, in_axes=(0, 0, None, None)))(params2, state2, x, reset)
    plain = jax.jit(jax.grad(total(cells.forward, model), argnums=(0, 1)))
    for seed in range(n_seeds):
        pick = lambda a, seed=seed: a[seed]  # noqa: E731
        alone = plain(jax.tree.map(pick, params2), jax.tree.map(pick, state2), x, reset)
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(together)):
            np.testing.assert_allclose(b[seed], a, rtol=0, atol=2e-6 * float(jnp.max(jnp.abs(a))))


def test_a_horizon_through_earlier_batches_equals_plain_autodiff(monkeypatch):
    """Horizon 3 differentiates through two re-run batches (`modes.horizon_grad`): the same
    gradient as with the plain forward pass in the window and the batch."""
    model, params, state, x, reset = setup("gru", 2, True, True)
    train = Train(mode="stateful", horizon=3, loss="cross-entropy")
    rng = np.random.default_rng(1)
    window = modes.Window(
        jnp.asarray(rng.integers(0, 7, (2, BATCH, STEPS, 1)).astype(np.float32)),
        jnp.asarray(rng.random((2, BATCH, STEPS)) < 0.2),
        jax.tree.map(lambda s: jnp.stack([s, s * 0.5]), state),
        jnp.array([True, True]),
    )
    y = rng.integers(0, 4, (BATCH, STEPS, 1)).astype(np.float32)
    ones = jnp.ones((BATCH, STEPS))
    batch = Batches(x, jnp.asarray(y), reset, ones, ones.astype(bool))

    def grads():
        fn = jax.jit(lambda p: modes.horizon_grad(p, state, window, batch, model, train)[0])
        return fn(params)

    after = grads()
    monkeypatch.setattr(kernel_grads, "forward", lambda p, m, s, x, r, k=None: cells.forward(p, m, s, x, r, k))
    plain = grads()
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(plain)[0], jax.tree.leaves(after)):
        scale = float(jnp.max(jnp.abs(a)))
        assert scale > 0, jax.tree_util.keystr(path)
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-6 * scale, err_msg=jax.tree_util.keystr(path))


def test_models_in_lanes_or_without_dots_keep_the_plain_pass():
    small = Model(units=3, features=1, outputs=1)
    assert not kernel_grads.applies(small, cells.init(jax.random.key(0), small))
    big = Model(units=UNITS, features=1, outputs=1)
    lanes = jax.tree.map(lambda a: jnp.stack([a] * 4, axis=-1), cells.init(jax.random.key(0), big))
    assert not kernel_grads.applies(big, lanes)


def test_dot_t_differentiates_like_a_plain_product():
    """Forward and reverse mode, with respect to the vector and the matrix: `dot_t(v, w, wᵀ)`
    is `v @ w`, and the transposed copy gets no gradient of its own."""
    rng = np.random.default_rng(2)
    v, w = (jnp.asarray(rng.standard_normal(s).astype(np.float32)) for s in ((4, 6), (6, 9)))
    dv, dw = (jnp.asarray(rng.standard_normal(a.shape).astype(np.float32)) for a in (v, w))
    f = lambda v, w: jnp.sum(jnp.sin(cells.dot_t(v, w, w.T)))  # noqa: E731
    g = lambda v, w: jnp.sum(jnp.sin(v @ w))  # noqa: E731
    np.testing.assert_allclose(jax.jvp(f, (v, w), (dv, dw))[1], jax.jvp(g, (v, w), (dv, dw))[1], rtol=1e-5)
    for a, b in zip(jax.grad(f, argnums=(0, 1))(v, w), jax.grad(g, argnums=(0, 1))(v, w)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the copy alone differentiated: zero, since dot_t's value does not depend on it
    assert not jnp.any(jax.grad(lambda t: jnp.sum(cells.dot_t(v, w, t)))(w.T))
