"""Running the claims: every config they need once per seed list, then each verdict; and the
blog's four experiments beside the numbers it reported."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .. import stats
from .claim_runs import BLOG, QA  # noqa: F401
from .claims import CLAIMS, RUNS, Claim
from .config import Config
from .verdicts import Verdict


@dataclass
class ClaimResult:
    claim: Claim
    verdict: Verdict
    context: list[Verdict]
    seconds: float
    seeds: int

    def to_json(self) -> dict:
        c = self.claim
        return {
            "id": c.id,
            "claim": c.sentence,
            "source": c.source,
            "quote": c.quote,
            "setup": c.setup,
            "measured": self.verdict.measured,
            "verdict": self.verdict.verdict,
            "numbers": self.verdict.numbers,
            "context": [v.to_json() for v in self.context],
            "seeds": self.seeds,
            "seconds": self.seconds,
        }


class RunCache:
    """Runs each config once per seed list; a shorter run of the same config is a slice."""

    def __init__(self, run_fn: Callable, on_run: Callable | None = None):
        self.run_fn = run_fn
        self.on_run = on_run
        self.histories: dict = {}

    def __call__(self, config: Config, seeds: Sequence[int], **kwargs):
        if kwargs:  # custom data or kept carries: not shareable
            return self.run_fn(config, seeds, **kwargs)
        key = (config.replace(epochs=1), tuple(seeds))
        have = self.histories.get(key)
        if have is None or have.epochs < config.epochs:
            have = self.run_fn(config, seeds)
            self.histories[key] = have
            if self.on_run:
                self.on_run(config, have)
        return have.upto(config.epochs)


def needed_runs(
    claims: Sequence[Claim], seeds: Sequence[int], experiments: Sequence = (), epochs: int | None = None
) -> list[tuple[Config, list[int]]]:
    """The plain blog runs `check` and `reproduce` will ask for (each config once per seed
    list, at its longest epochs), so an executor can run them all at once beforehand."""
    longest: dict[tuple, Config] = {}
    wanted = [(e.config if epochs is None else e.config.replace(epochs=epochs), list(seeds))
              for e in experiments]  # fmt: skip
    for claim in claims:
        claim_seeds = list(seeds)[: claim.max_seeds] if claim.max_seeds else list(seeds)
        wanted += [(RUNS[name], claim_seeds) for name in claim.runs]
    for config, claim_seeds in wanted:
        key = (config.replace(epochs=1), tuple(claim_seeds))
        if key not in longest or longest[key].epochs < config.epochs:
            longest[key] = config
    return [(config, list(key[1])) for key, config in longest.items()]


def check(
    claims: Sequence[Claim] = CLAIMS,
    seeds: Sequence[int] = range(32),
    run: Callable | None = None,
    on_claim: Callable[[ClaimResult], None] | None = None,
    record: Callable | None = None,
) -> list[ClaimResult]:
    """Run what the claims need over `seeds` and judge each claim. `run` trains a blog config
    (`blog.run`, or one that stores and resumes); `record` stores the other experiments'
    runs (varlen, forecast; see `recording.py`)."""
    if run is None:
        from . import blog

        run = RunCache(blog.run)
    results = []
    for claim in claims:
        t0 = time.perf_counter()
        claim_seeds = list(seeds)[: claim.max_seeds] if claim.max_seeds else list(seeds)
        evidence = {}
        for name in claim.runs:
            evidence[name] = run(RUNS[name], claim_seeds).metrics
        if claim.measure is not None:
            evidence.update(claim.measure(claim_seeds, run, record))
        result = ClaimResult(
            claim,
            claim.rule.judge(evidence),
            [r.judge(evidence) for r in claim.context],
            time.perf_counter() - t0,
            len(claim_seeds),
        )
        results.append(result)
        if on_claim:
            on_claim(result)
    return results


# -- the blog's four experiments, beside the numbers it reported --------------------------------


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
    history: object = field(repr=False)  # blog.History

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
    run: Callable | None = None,
) -> list[ExperimentResult]:
    """Run every experiment over `seeds` (all seeds of one experiment in one program)."""
    if run is None:
        from . import blog

        run = blog.run
    results = []
    for exp in experiments:
        config = exp.config if epochs is None else exp.config.replace(epochs=epochs)
        t0 = time.perf_counter()
        history = run(config, list(seeds))
        acc = history.final("test_acc")
        results.append(
            ExperimentResult(
                exp,
                stats.mean_ci(acc, bounds=stats.ACCURACY),
                stats.mean_ci(history.final("test_known_acc"), bounds=stats.ACCURACY),
                stats.solved_fraction(acc),
                history.seconds(time.perf_counter() - t0),
                history,
            )
        )
    return results
