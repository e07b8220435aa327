"""Seeds whose training diverged: found epoch by epoch as `fit` closes each one, and said in
one sentence (which seeds, from which epoch, what is kept, what to try)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EpochCallback = Callable[[int, dict[str, np.ndarray]], None]


def divergence_message(diverged: dict[int, int], n_seeds: int, learning_rate: float | None = None) -> str:
    """One sentence: which seeds diverged in which epoch (its index, counted from 0 as the
    metrics' rows are), what is kept, and what to try."""
    by_epoch: dict[int, list[int]] = {}
    for seed, epoch in sorted(diverged.items()):
        by_epoch.setdefault(epoch, []).append(seed)
    groups = []
    for epoch, seeds in sorted(by_epoch.items()):
        shown = ", ".join(map(str, seeds[:8])) + (f" … ({len(seeds):,} in all)" if len(seeds) > 8 else "")
        groups.append(f"{'seeds' if len(seeds) > 1 else 'seed'} {shown} in epoch {epoch}")
    kept = n_seeds - len(diverged)
    rest = f"the other {kept:,} seed(s) are kept" if kept else "no seed is left"
    lower = ("a smaller learning rate" if not learning_rate
             else f"a learning rate of {learning_rate / 10:.1g} or lower".replace("e+", "e") if learning_rate <= 1
             else "a learning rate below 1 (Adam's default is 1e-3)")  # fmt: skip
    return (
        f"training diverged (the loss became NaN or infinite) for {'; '.join(groups)} (epochs "
        f"counted from 0); their metrics are NaN from there on and {rest}; try {lower}."
    )


def close_epoch(out: dict, epoch: int, gone: np.ndarray, diverged: dict,
                 on_epoch: EpochCallback | None) -> None:  # fmt: skip
    """Name the lanes whose training loss became NaN or infinite in `epoch`; a diverged lane's
    metrics are NaN from then on (the accuracy of NaN parameters means nothing)."""
    bad = ~np.isfinite(out["train_loss"][epoch])
    for k in np.flatnonzero(bad & ~gone):
        diverged[int(k)] = epoch
    gone |= bad
    for values in out.values():
        values[epoch, gone] = np.nan
    if on_epoch:
        on_epoch(epoch, {m: out[m][epoch] for m in out})
