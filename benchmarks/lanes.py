"""Prototype, not used by statecarry: the epoch with the seed axis LAST, in the vector lanes.

`statecarry` vmaps a per-seed epoch over seeds, so every array is (seeds, ..., 3 or 12): the
vector lanes run along the 3 units or 12 gates. Written seed-last instead, every array is
(..., seeds) and one AVX-512 instruction serves 16 seeds. `jax.vmap(..., in_axes=-1)` does not
get there (its batching rules move the seed axis to the front for scan carries, concatenates
and dots: 370 transposes in the program, half the speed), so this file writes the horizon-1
epoch (stateful or stateless, `carry` hc or c, MSE or BCE) by hand, and checks that it gives
the engine's numbers before it times them.

    python benchmarks/lanes.py                  # 1024 seeds, 2 devices, against runner.run
    python benchmarks/lanes.py --seeds 256 --devices 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def lanes_epoch(carry, train, test, config):
    """One epoch for S seeds; every leaf has the seed axis last. Returns (carry, metrics)."""
    import jax
    import jax.numpy as jnp

    from statecarry import engine
    from statecarry.model import LSTMState

    b1, b2, lr, eps = config.beta1, config.beta2, config.learning_rate, config.adam_eps

    def contract(a, w):  # sum_i a[..., i, :] * w[i]: (..., I, S) x (I, G, S) -> (..., G, S)
        lead = (1,) * (a.ndim - 2)
        out = None
        for i in range(w.shape[0]):
            term = a[..., i : i + 1, :] * w[i].reshape(lead + w[i].shape)
            out = term if out is None else out + term
        return out

    def forward(params, state, x, reset):  # x (B, T, F, S), reset (B, T, S)
        lstm, dense = params["lstm"], params["dense"]
        u = lstm["recurrent_kernel"].shape[0]

        def step(hc, inputs):
            h, c = hc
            x_t, reset_t = inputs
            keep = jnp.logical_not(reset_t)[:, None, :]
            h, c = jnp.where(keep, h, 0.0), jnp.where(keep, c, 0.0)
            z = contract(x_t, lstm["kernel"]) + contract(h, lstm["recurrent_kernel"])
            z = z + lstm["bias"][None]
            i, f, g, o = (z[:, k * u : (k + 1) * u] for k in range(4))
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        xs = (jnp.moveaxis(x, 1, 0), jnp.moveaxis(reset, 1, 0))
        (h, c), hs = jax.lax.scan(step, (state.h, state.c), xs)  # hs (T, B, U, S)
        pred = jax.nn.sigmoid(contract(hs, dense["kernel"]) + dense["bias"][None, None])
        return LSTMState(h, c), jnp.moveaxis(pred, 0, 1)  # (B, T, O, S)

    def stats(pred, batch):  # per-seed sums, shape (S,) each
        y = batch.y
        if config.loss == "mse":
            losses = jnp.mean((pred - y) ** 2, axis=2)
        else:
            p = jnp.clip(pred, engine.BCE_EPS, 1 - engine.BCE_EPS)
            losses = -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p), axis=2)
        correct = jnp.mean(((pred > 0.5) == (y > 0.5)).astype(jnp.float32), axis=2)
        return engine.Stats(
            jnp.sum(batch.weight * losses, axis=(0, 1)),
            jnp.sum(batch.weight, axis=(0, 1)),
            jnp.sum(batch.weight * correct, axis=(0, 1)),
            jnp.sum(jnp.where(batch.known, correct, 0.0), axis=(0, 1)),
            jnp.sum(batch.known.astype(jnp.float32), axis=(0, 1)),
        )

    def enter(state):
        return LSTMState(jnp.zeros_like(state.h), state.c) if config.carry == "c" else state

    def resets(batches, start_of_pass):
        reset = batches.reset
        if config.mode == "stateless":
            reset = reset.at[:, :, 0].set(True)
        if start_of_pass:
            reset = reset.at[0, :, 0].set(True)
        return batches._replace(reset=reset)

    def loss(params, state, batch):
        state, pred = forward(params, enter(state), batch.x, batch.reset)
        s = stats(pred, batch)
        return jnp.sum(s.loss / jnp.maximum(s.weight, 1.0)), (state, s)  # sum over seeds

    def train_step(carry, batch):
        params, (count, mu, nu), state = carry
        grads, (state, s) = jax.grad(loss, has_aux=True)(params, state, batch)
        count = count + 1
        t = count.astype(jnp.float32)
        alpha = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)  # (S,): broadcasts along the lanes
        mu = jax.tree.map(lambda m, g: m + (g - m) * (1 - b1), mu, grads)
        nu = jax.tree.map(lambda v, g: v + (g * g - v) * (1 - b2), nu, grads)
        params = jax.tree.map(lambda p, m, v: p + -alpha * m / (jnp.sqrt(v) + eps), params, mu, nu)
        return (params, (count, mu, nu), state), s

    train = resets(train, config.reset == "epoch")
    carry, train_stats = jax.lax.scan(train_step, carry, train)
    test = resets(test, True)
    zeros = jnp.zeros_like(carry[2].h)

    def eval_step(state, batch):
        state, pred = forward(carry[0], enter(state), batch.x, batch.reset)
        return state, stats(pred, batch)

    _, test_stats = jax.lax.scan(eval_step, LSTMState(zeros, zeros), test)
    total = lambda s: jax.tree.map(lambda a: jnp.sum(a, axis=0), s)  # noqa: E731
    return carry, engine.epoch_metrics(total(train_stats), total(test_stats))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=128, help="seeds per compiled call")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--mode", default="stateful")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from statecarry import runner

    runner.use_cpu_cores(args.devices)
    os.environ["XLA_FLAGS"] += " --xla_cpu_prefer_vector_width=512"  # pays with seeds in lanes
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from statecarry.config import Config

    config = Config(task="first-step", mode=args.mode, epochs=5)
    mesh = Mesh(np.array(jax.devices()), ("seeds",))
    def lanes(a):  # split the seed axis, now the last one, over the devices
        return NamedSharding(mesh, PartitionSpec(*([None] * (a.ndim - 1)), "seeds"))

    def last(tree):
        return jax.tree.map(lambda a: jnp.moveaxis(jnp.asarray(a), 0, -1), tree)

    def prepare(seeds):
        train, test = runner._stack_pairs([runner.seed_batches(config, s) for s in seeds])
        init = runner._compiled_init(config.replace(epochs=1), len(seeds), None)
        carry, _ = init(np.asarray(seeds, np.int32))
        carry = (carry.params, (carry.opt_state.count, carry.opt_state.mu, carry.opt_state.nu),
                 carry.state)
        tree = last((carry, train, test))
        return jax.device_put(tree, jax.tree.map(lanes, tree))

    epoch = jax.jit(functools.partial(lanes_epoch, config=config), donate_argnums=(0,))
    chunks = [list(range(i, i + args.chunk)) for i in range(0, args.seeds, args.chunk)]
    states = [list(prepare(c)) for c in chunks]
    t0 = time.perf_counter()
    compiled = epoch.lower(*states[0]).compile()  # XLA's -O3: +20% here, unlike seed-first
    print(f"compile {time.perf_counter() - t0:.2f} s")

    def run_all(states):
        out = []
        for e in range(config.epochs):
            pending = []
            for st in states:
                st[0], metrics = compiled(*st)
                pending.append(metrics)
            out.append(pending)
        names = out[0][0]._fields
        return {n: np.array([np.concatenate([np.asarray(getattr(m, n)) for m in o]) for o in out])
                for n in names}  # each (epochs, seeds)

    got = run_all([list(prepare(c)) for c in chunks[:1]])
    want = runner.run(config, chunks[0])
    for name, values in got.items():
        diff = np.nanmax(np.abs(values - want.metrics[name]))
        print(f"{name:>16} vs runner.run on {len(chunks[0])} seeds: max |diff| {diff:.1e}")
    best = float("inf")
    for _ in range(args.repeat):
        fresh = [list(prepare(c)) for c in chunks]
        t0 = time.perf_counter()
        run_all(fresh)
        best = min(best, time.perf_counter() - t0)
    rate = args.seeds / best
    print(f"seed-last prototype: {args.seeds} seeds in {best:.3f} s = {rate:.0f} runs/s")
    vmapped = min(runner.run(config, list(range(args.seeds)), chunk_size=args.chunk).run_seconds
                  for _ in range(args.repeat))
    print(f"runner.run (vmap, seed axis first): {args.seeds / vmapped:.0f} runs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
