"""Where `fit` gets each chunk of seeds' data: `Batches` shared by every seed, `Batches` with a
leading seed axis, or a function `seed -> (train, test)` called chunk by chunk (NumPy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.layout import Batches
from ..errors import DataError
from . import checks


class Source:
    """Where each chunk's data comes from: shared `Batches`, per-seed `Batches`, or a function."""

    def __init__(self, data: Any, test: Batches | None, n_seeds: int):
        self.fn = data if callable(data) and not isinstance(data, Batches) else None
        self.first: tuple[int, tuple] | None = None
        if self.fn is not None:
            if test is not None:
                raise DataError(
                    "give the test set from the data function (seed -> (train, test)), not as "
                    "test=."
                )
            self.shared = False
            return
        self.train = checks.as_batches(data, "the training data")
        self.test = None if test is None else checks.as_batches(test, "the test data")
        self.shared = self.train.x.ndim == 4
        if not self.shared and len(self.train.x) != n_seeds:
            raise DataError(
                f"the data has a seed axis of {len(self.train.x)} but {n_seeds} seed(s) were "
                "given; give one data set per seed, or Batches without a seed axis to share one."
            )
        if self.test is not None and (self.test.x.ndim == 4) != self.shared:
            raise DataError(
                "the training and test data must both have a seed axis, or neither; stack the "
                "test sets like the training sets."
            )

    def get(self, seeds: list[int], offset: int) -> tuple[Batches, Batches | None]:
        """The data of these seeds (stacked along a seed axis unless shared)."""
        if self.shared:
            return self.train, self.test
        if self.fn is None:
            # lanes run train after train over the same seeds; a padded lane's data is unused
            index = np.arange(offset, offset + len(seeds)) % len(self.train.x)
            pick = lambda b: None if b is None else Batches(*(np.asarray(f)[index] for f in b))  # noqa: E731
            return pick(self.train), pick(self.test)
        made = {s: self._made(s) for s in dict.fromkeys(seeds)}  # a padded lane repeats a seed
        pairs = [made[s] for s in seeds]
        trains = [p[0] for p in pairs]
        tests = [p[1] for p in pairs]
        stacked_test = None if tests[0] is None else checks.stack(tests)
        return checks.stack(trains), stacked_test

    def resets_first_only(self, made: list[tuple] | None = None) -> bool:
        """Whether all the data resets nowhere but before a batch's first step, so that its
        resets may go in cut to that step (`cells.run_stream`; one answer for every chunk, which
        share one program). Data made seed by seed is known only once made: `made` holds every
        chunk's (train, test) when all were made before training (None: not all were)."""
        return self._everywhere(first_step_only, made)

    def targets_last_only(self, made: list[tuple] | None = None) -> bool:
        """Whether all the data has its targets at a batch's last step alone (a sequence's
        label: weight 0 and not `known` at every other step), so that they may go in cut to it
        and the head run on that step only (`cells.forward`'s `head_steps`); `made` as in
        `resets_first_only`."""
        return self._everywhere(last_step_only, made)

    def _everywhere(self, holds, made: list[tuple] | None) -> bool:
        """Whether `holds(train, test)` for all the data (`made`: as in `resets_first_only`)."""
        if self.fn is None:
            return holds(self.train, self.test)
        return made is not None and all(holds(*pair) for pair in made)

    def _made(self, seed: int) -> tuple[Batches, Batches | None]:
        """The function's data for `seed`; the first seed's is made once, though it is asked
        for twice (for the shapes, then with its chunk)."""
        if self.first is not None and self.first[0] == seed:
            return self.first[1]
        pair = checks.split_pair(self.fn(seed), seed)
        if self.first is None:
            self.first = (seed, pair)
        return pair


def first_step_only(*batches: Batches | None) -> bool:
    """Whether these batches reset nowhere but at a batch's first step (and have more steps)."""
    resets = [np.asarray(b.reset) for b in batches if b is not None]
    return all(r.shape[-1] > 1 and not r[..., 1:].any() for r in resets)


def last_step_only(*batches: Batches | None) -> bool:
    """Whether these batches weigh and know no step but a batch's last (and have more steps)."""
    given = [b for b in batches if b is not None]
    marks = [np.asarray(m) for b in given for m in (b.weight, b.known)]
    return all(m.shape[-1] > 1 and not m[..., :-1].any() for m in marks)


def cut(batches: Batches | None, resets: bool, targets: bool) -> Batches | None:
    """`batches` with its resets cut to each batch's first step (`resets`) and its targets,
    weights and `known` to its last (`targets`), the time axis kept (length 1)."""
    if batches is None:
        return None
    if resets:
        batches = batches._replace(reset=np.asarray(batches.reset)[..., :1])
    if targets:
        y, weight, known = (np.asarray(a) for a in (batches.y, batches.weight, batches.known))
        batches = batches._replace(y=y[..., -1:, :], weight=weight[..., -1:], known=known[..., -1:])
    return batches
