"""Resets cut to a batch's first step against every step's reset, in one process, interleaved.

The blog's run (first-step, LSTM(3), 5 epochs, `--seeds` seeds) trains `--rounds` times on each
path, alternating, after one warm-up round each; the every-step side patches
`Source.resets_first_only` to False. Prints best and median runs/s (train + eval) and the
least and median CPU seconds of a whole `blog.run` (data made, program from the cache): on a
VM whose speed wanders, CPU seconds are the steadier figure. Both paths give the same bits
(`tests/test_first_step_resets.py`).

    PYTHONPATH=src python benchmarks/resets_ab.py [--mode stateless] [--seeds 1024] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="stateful")
    parser.add_argument("--seeds", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from statecarry.experiments import blog

    blog.use_cpu_cores()
    from statecarry.core import source
    from statecarry.experiments.config import Config

    config = Config(task="first-step", mode=args.mode, epochs=5)
    seeds = list(range(args.seeds))
    cut = source.Source.resets_first_only
    paths = {"every step": lambda self, made=None: False, "cut": cut}
    rates: dict[str, list[float]] = {name: [] for name in paths}
    cpus: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(args.rounds + 1):
        for name, rule in paths.items():
            source.Source.resets_first_only = rule
            c0 = time.process_time()
            history = blog.run(config, seeds)
            if round_:  # the first round compiles
                cpus[name].append(time.process_time() - c0)
                rates[name].append(len(seeds) / history.run_seconds)
    source.Source.resets_first_only = cut
    for name in paths:
        r, c = rates[name], cpus[name]
        print(f"{args.mode}, {name}: runs/s best {max(r):.0f} median {statistics.median(r):.0f}; "
              f"CPU s a run least {min(c):.3f} median {statistics.median(c):.3f}")


if __name__ == "__main__":
    main()
