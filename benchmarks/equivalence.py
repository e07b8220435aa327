"""Same seed -> same numbers: save the histories of a few configs, or compare with a saved set.

Run it once before an engine change (`--save ref.npz`) and again after (`--check ref.npz`):
every metric of every epoch and seed must agree to float tolerance. The configs cover the
paths a speed change can break: stateless, stateful, horizon 2, rtrl, the marker feature,
pinned data, prev-batch, BCE, carry="c", and a seed count that pads the last chunk.

    python benchmarks/equivalence.py --save /tmp/ref.npz
    python benchmarks/equivalence.py --check /tmp/ref.npz
    python benchmarks/equivalence.py --check /tmp/ref.npz --cache /tmp/c   # twice: compiled,
                                                                  # then loaded from disk

Every config also runs one seed alone, which must equal that seed of the vectorised run.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from statecarry.experiments.blog import use_cpu_cores

CONFIGS = {
    "first-step-stateful": dict(task="first-step", mode="stateful", epochs=3),
    "first-step-stateless": dict(task="first-step", mode="stateless", epochs=2),
    "prev-batch-horizon2": dict(task="prev-batch", mode="stateful", horizon=2, epochs=2),
    "prev-batch-rtrl": dict(task="prev-batch", mode="rtrl", epochs=1, n_train=256, n_test=64),
    "first-step-marker": dict(task="first-step", mode="stateful", marker=True, epochs=2),
    "first-step-data-seed": dict(task="first-step", mode="stateful", data_seed=7, epochs=2),
    "first-step-bce-carry-c": dict(task="first-step", loss="bce", carry="c", epochs=2),
    "prev-sample-units5": dict(
        task="prev-sample", batch_size=1, units=5, n_train=128, n_test=32, epochs=2
    ),
}
SEEDS = [0, 1, 2, 5, 11]  # odd count: the last chunk is padded on 2 devices


def histories(atol: float) -> tuple[dict[str, np.ndarray], list[str]]:
    from statecarry.experiments.blog import run
    from statecarry.experiments.config import Config

    out, failed = {}, []
    for name, changes in CONFIGS.items():
        h = run(Config(**changes), SEEDS)
        alone = run(Config(**changes), [SEEDS[2]])
        for metric, values in h.metrics.items():
            out[f"{name}/{metric}"] = values
            diff = np.nanmax(np.abs(values[:, 2] - alone.metrics[metric][:, 0]), initial=0.0)
            if diff > atol:
                failed.append(f"{name}/{metric}: seed {SEEDS[2]} alone differs by {diff:.2e}")
        final = np.round(h.final("test_acc"), 3).tolist()
        print(f"{name}: final test_acc {final}", file=sys.stderr)
    return out, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", metavar="NPZ")
    group.add_argument("--check", metavar="NPZ")
    parser.add_argument("--atol", type=float, default=2e-5)
    parser.add_argument("--cache", metavar="DIR", help="enable the compile caches in DIR")
    args = parser.parse_args()
    use_cpu_cores()
    if args.cache:
        from pathlib import Path

        from statecarry.experiments.blog import enable_compile_cache

        enable_compile_cache(Path(args.cache))
    new, failed = histories(args.atol)
    if failed:
        print("\n".join(failed))
        return 1
    if args.save:
        np.savez(args.save, **new)
        print(f"saved {len(new)} arrays to {args.save}")
        return 0
    ref = dict(np.load(args.check))
    worst = 0.0
    for key, values in ref.items():
        diff = np.nanmax(np.abs(new[key] - values)) if np.isfinite(values).any() else 0.0
        same_nans = np.array_equal(np.isnan(new[key]), np.isnan(values))
        worst = max(worst, float(diff))
        if diff > args.atol or not same_nans:
            failed.append(f"{key}: max |diff| {diff:.2e}, same NaNs {same_nans}")
    print("\n".join(failed) or f"all {len(ref)} histories agree (max |diff| {worst:.2e})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
