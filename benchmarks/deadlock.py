"""The 2-device hang (core/runtime.py SPLIT_MAX_UNITS): which XLA setting causes it.

jaxlib 0.10.2 was seen to hang executing the epoch when the seeds of an LSTM(32) or larger are
split over 2 XLA:CPU host devices, and later of an LSTM(8) (LSTM(7) runs). Each case below runs in a fresh process with a time limit,
so a hang is reported, not suffered:

- `fit`: statecarry's own epoch, LSTM(units), 128 seeds forced onto both devices (fewer, and
  `fit` keeps them on one device: a device's seeds fill whole vector registers of 16), under
  each of the runtime's XLA flags alone, both, and neither;
- `scan`: the smallest program with the shape of the problem, no statecarry: a `lax.scan`
  whose body has a (batch, units) x (units, 4 units) `dot`, jitted with its first axis split
  over the 2 devices.

    PYTHONPATH=src python benchmarks/deadlock.py              # a table: ok / HANG per case
    PYTHONPATH=src python benchmarks/deadlock.py --units 32 --timeout 120
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

WHILE = "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1000000000"
WHILE_1MB = "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1000000"
YNN = "--xla_cpu_experimental_ynn_fusion_type="
FLAGS = {"small-while 1e9 + ynn off (statecarry's before)": [WHILE, YNN],
         "small-while 1e9 only": [WHILE], "ynn off only": [YNN],
         "neither (XLA's defaults)": [],
         "small-while 1e6 + ynn off (statecarry's now)": [WHILE_1MB, YNN],
         "small-while 1e6 only": [WHILE_1MB],
         "statecarry's now + Eigen single-threaded": [WHILE_1MB, YNN,
                                                      "--xla_cpu_multi_thread_eigen=false"]}  # fmt: skip

FIT = """
from statecarry.core import runtime
runtime.SPLIT_MAX_UNITS = 10**6  # force the split
import numpy as np, statecarry as sc
data = sc.from_series(np.sin(np.arange(4000.0) / 7).astype(np.float32), batch_size=32, time_steps=16)
f = sc.fit(data, sc.Model(units={units}, head="linear"), sc.Train(epochs=2), seeds=range(128))
print("ok", f.metrics["train_loss"][-1].round(4).tolist())
"""

SCAN = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
mesh = Mesh(np.array(jax.devices()[:2]), ("seeds",))
split = NamedSharding(mesh, P("seeds"))
def one(w, x):  # one seed: a recurrence with a dot per step
    def step(h, xt):
        h = jnp.tanh((h @ w)[:, :{units}] + xt)
        return h, h.sum()
    return jax.lax.scan(step, jnp.zeros((32, {units})), x)[1].sum()
f = jax.jit(jax.vmap(one), in_shardings=(split, split), out_shardings=split)
w = jnp.ones((4, {units}, 4 * {units})) * 0.01
x = jnp.ones((4, 500, 32, {units}))
print("ok", np.asarray(f(w, x)).round(3).tolist())
"""


def case(code: str, flags: list[str], timeout: float) -> str:
    env = dict(os.environ, XLA_FLAGS=" ".join(["--xla_force_host_platform_device_count=2", *flags]))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"HANG (no answer in {timeout:.0f} s)"
    seconds = time.perf_counter() - t0
    if proc.returncode:
        return f"error: {proc.stderr.strip().splitlines()[-1][:80]}"
    return f"ok in {seconds:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--programs", default="scan,fit")
    parser.add_argument("--flags", default="", help="comma-separated indices into FLAGS")
    args = parser.parse_args()
    print(f"| program | XLA flags | units {args.units}, 2 host devices |")
    print("|---|---|---|")
    for program in args.programs.split(","):
        code = (FIT if program == "fit" else SCAN).format(units=args.units)
        chosen = [int(i) for i in args.flags.split(",")] if args.flags else range(len(FLAGS))
        for name, flags in [list(FLAGS.items())[i] for i in chosen]:
            print(f"| {program} | {name} | {case(code, flags, args.timeout)} |", flush=True)
    print(f"\nload {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
