"""The 2-device hang, reproduced in plain JAX, and statecarry's way around it.

jaxlib 0.10.2 hangs when a batch of QR factorisations runs in a program split over 2 XLA:CPU
host devices on a 2-core machine. The LAPACK kernel behind `jnp.linalg.qr` (and so behind
`jax.nn.initializers.orthogonal`, Keras' recurrent-kernel initialiser) spreads a large batch
over XLA's intra-op thread pool and waits for it (`jax::ParallelBatchMap`), but it is itself
running on that pool: each device's program holds one of the 2 pool threads, waits for helper
tasks that only a free pool thread could run, and none is free. A native stack of the hung
process (`gdb -p PID -batch -ex "thread apply all bt"`) shows both pool threads in
`lapack_sgeqrf_ffi` -> `jax::ParallelBatchMap` -> `BlockingCounter::Wait`. The batch must be
large enough to be spread: 128 seeds of LSTM(8) hang, of LSTM(7) run; so do 4 seeds of
LSTM(32). XLA flags do not matter (it hangs with XLA's defaults and with Eigen single-threaded).

statecarry's epoch has no QR; only the initialisation has. `fit` runs the initialisation on
one device and places its result split over the devices (core/fit.py `_compiled_init`).

Each case runs in a fresh process with a time limit, so a hang is reported, not suffered:

- `qr-split`: the reproduction, no statecarry: seeds -> an LSTM's input and orthogonal
  recurrent kernels, vmapped and jitted with the seeds split over 2 host devices (the QR
  alone, with nothing beside it to run on the pool, runs);
- `qr-one`: the same program on one device, its result then split (what `fit` does);
- `fit`: statecarry's `fit`, LSTM(units), 128 seeds split over both devices.

    PYTHONPATH=src python benchmarks/deadlock.py              # a table: ok / HANG per case
    PYTHONPATH=src python benchmarks/deadlock.py --units 32 --timeout 60
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

QR = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
split = NamedSharding(Mesh(np.array(jax.devices()[:2]), ("seeds",)), P("seeds"))
def init(seed):  # one seed's LSTM kernels as Keras initialises them (one is not enough to hang)
    k = jax.random.split(jax.random.key(seed))
    return (jax.nn.initializers.glorot_uniform()(k[0], (1, 4 * {units})),
            jax.nn.initializers.orthogonal()(k[1], ({units}, 4 * {units})))
placed = dict(in_shardings=split, out_shardings=split) if {split} else {{}}
kernels = jax.device_put(jax.jit(jax.vmap(init), **placed)(np.arange(128, dtype=np.int32)), split)
print("ok", float(kernels[1].sum()))
"""

FIT = """
from statecarry.core import runtime
runtime.use_cpu_cores(2)
import numpy as np, statecarry as sc
data = sc.from_series(np.sin(np.arange(4000.0) / 7).astype(np.float32), batch_size=32, time_steps=16)
f = sc.fit(data, sc.Model(units={units}, head="linear"), sc.Train(epochs=2), seeds=range(128))
print("ok on", f.timings["devices"], "devices")
"""

PROGRAMS = {"qr-split": QR.replace("{split}", "True"), "qr-one": QR.replace("{split}", "False"), "fit": FIT}


def case(code: str, timeout: float) -> str:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"HANG (no answer in {timeout:.0f} s)"
    seconds = time.perf_counter() - t0
    if proc.returncode:
        return f"error: {proc.stderr.strip().splitlines()[-1][:80]}"
    return f"{proc.stdout.strip()} in {seconds:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--programs", default=",".join(PROGRAMS))
    args = parser.parse_args()
    print(f"| program | LSTM({args.units}), 128 seeds, 2 host devices |")
    print("|---|---|")
    for name in args.programs.split(","):
        code = PROGRAMS[name].replace("{units}", str(args.units)).replace("{{}}", "{}")
        print(f"| {name} | {case(code, args.timeout)} |", flush=True)
    print(f"\nload {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
