"""XLA:CPU writes a loop's elementwise kernel as scalar code when it slices a per-step input.

Plain JAX, no statecarry: an LSTM's gates over 64 steps of a (32, 1024) pre-activation, batch
32, 256 units. Written the usual way (`jnp.split` of the step's slice of the scan's input), the
fused kernel reads the step's index inside its innermost loop and LLVM leaves it unvectorised
(`<1 x float>`): three to eight times slower than the same arithmetic on four separate per-step
inputs. A pre-activation that a matrix product made inside the step is vectorised (its time
below includes the product): that is how statecarry's cells get theirs, so its loops are
vectorised (`charlm_profile.py`). It is part of why computing the input product for all steps
before the loop (`hoisted-input` there, cuDNN's and PyTorch's layout) is slower in XLA; split
into four inputs before the loop, that form's kernels are vectorised and it is still slower
(83 against 60 ms for the gradient): the whole-sequence arrays' trips through memory cost more
than the per-step products they replace.

For each form: ms for the 64 steps (best of 30) and the fused kernels' vector and scalar
float operations in the optimised LLVM IR (XLA's `xla_dump_to`, per compile).

    PYTHONPATH=src python benchmarks/slice_codegen.py
"""

from __future__ import annotations

import glob
import re
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

T, B, H = 64, 32, 256
sigmoid = jax.nn.sigmoid


def cell_state(c, i, f, g):
    return sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)


def split_in_loop(z):  # z: (T, B, 4H), split inside each step
    def step(c, z_t):
        i, f, g, _ = jnp.split(z_t, 4, axis=-1)
        return cell_state(c, i, f, g), None

    return jax.lax.scan(step, jnp.zeros((B, H)), z)[0]


def split_before_loop(z):  # four (T, B, H) inputs
    gates = tuple(z[..., k * H : (k + 1) * H] for k in range(3))

    def step(c, g_t):
        return cell_state(c, *g_t), None

    return jax.lax.scan(step, jnp.zeros((B, H)), gates)[0]


def product_in_loop(z):  # the pre-activation from a product inside the step, no per-step input
    w = z[:8].reshape(H, 4 * H) * 0.01  # any (256, 1024) kernel

    def step(c, _):
        i, f, g, _ = jnp.split(c @ w, 4, axis=-1)
        return cell_state(c, i, f, g), None

    return jax.lax.scan(step, jnp.zeros((B, H)), None, length=T)[0]


def vector_ops(fn, z) -> tuple[int, int, object]:
    """(vector float ops, scalar float ops) in the kernels XLA wrote, and the executable."""
    with tempfile.TemporaryDirectory() as folder:
        compiled = jax.jit(fn).lower(z).compile(compiler_options={"xla_dump_to": folder})
        ir = "".join(Path(f).read_text() for f in glob.glob(f"{folder}/*fusion*ir-with-opt.ll"))
    wide = len(re.findall(r"<(?:[2-9]|\d\d+) x float>", ir))
    scalar = len(re.findall(r"<1 x float>|= f(?:add|mul|sub|div) float ", ir))
    return wide, scalar, compiled


def main() -> int:
    z = jnp.asarray(np.random.default_rng(0).normal(size=(T, B, 4 * H)).astype(np.float32))
    print(f"{'form':20s} {'ms / 64 steps':>13s} {'vector ops':>10s} {'scalar ops':>10s}")
    for fn in (split_in_loop, split_before_loop, product_in_loop):
        wide, scalar, compiled = vector_ops(fn, z)
        jax.block_until_ready(compiled(z))
        times = []
        for _ in range(30):
            t = time.perf_counter()
            jax.block_until_ready(compiled(z))
            times.append(time.perf_counter() - t)
        print(f"{fn.__name__:20s} {min(times) * 1e3:13.2f} {wide:10d} {scalar:10d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
