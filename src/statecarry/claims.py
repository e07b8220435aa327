"""The blog's experiments as data: adding an experiment is adding a row.

An `Experiment` is a named config plus the number the source reported for it. `reproduce`
runs each over many seeds and sets our mean and confidence interval beside the reported value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from . import stats
from .config import Config

BLOG = "blog: stateful LSTM experiments (shared/sources/000)"


@dataclass(frozen=True)
class Experiment:
    name: str
    config: Config
    reported: float | None = None  # the source's final test accuracy, when it gave one
    source: str = BLOG


BLOG_EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("first-step, stateless", Config(task="first-step", mode="stateless"), 1.00),
    Experiment("first-step, stateful", Config(task="first-step", mode="stateful"), 0.66),
    Experiment("prev-batch, stateless", Config(task="prev-batch", mode="stateless"), 0.50),
    Experiment("prev-batch, stateful", Config(task="prev-batch", mode="stateful"), 0.51),
)


@dataclass
class ExperimentResult:
    experiment: Experiment
    test_acc: stats.Summary  # final epoch, over seeds
    known_acc: stats.Summary  # final epoch, on targets the inputs determine
    solved: stats.Summary  # fraction of seeds with test accuracy >= stats.SOLVED
    seconds: float
    history: object  # runner.History

    def to_json(self) -> dict:
        return {
            "experiment": self.experiment.name,
            "source": self.experiment.source,
            "reported_test_acc": self.experiment.reported,
            "test_acc": self.test_acc._asdict(),
            "known_test_acc": self.known_acc._asdict(),
            "solved": self.solved._asdict(),
            "seconds": self.seconds,
            "config": self.experiment.config.to_dict(),
        }


def reproduce(
    seeds: Sequence[int],
    experiments: Sequence[Experiment] = BLOG_EXPERIMENTS,
    epochs: int | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[ExperimentResult]:
    """Run every experiment over `seeds` (all seeds of one experiment in one program)."""
    from . import runner

    results = []
    for exp in experiments:
        config = exp.config if epochs is None else exp.config.replace(epochs=epochs)
        history = runner.run(config, seeds, on_progress=on_progress)
        acc = history.final("test_acc")
        results.append(
            ExperimentResult(
                exp,
                stats.mean_ci(acc),
                stats.mean_ci(history.final("test_known_acc")),
                stats.solved_fraction(acc),
                history.compile_seconds + history.run_seconds,
                history,
            )
        )
    return results

