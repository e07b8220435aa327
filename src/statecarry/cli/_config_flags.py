"""The blog experiments' settings as flags (`run`, `sweep`): `Config`'s fields, their help and
defaults, and the library's sentences about them said in the flags' names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..core.spec import MODES
from ..errors import ConfigError
from ..experiments.config import TASK_DEFAULTS, Config

# flag name -> Config field; defaults live in Config only (None = "not given").
CONFIG_FLAGS: list[tuple[str, str, Any, str]] = [
    ("--mode", "mode", click.Choice(MODES), "The training mode: stateless, stateful (carry state), rtrl (exact online), uoro or snap1 (cheap online)."),
    ("--horizon", "horizon", int, "Batches one gradient reaches back through (1 = Keras)."),
    ("--reset", "reset", click.Choice(["epoch", "never"]), "When the training state is zeroed."),
    ("--carry", "carry", click.Choice(["hc", "c"]), "The state crossing a batch boundary: h and c, or c only."),
    ("--shuffle/--no-shuffle", "shuffle", None, "Reshuffle the samples every epoch."),
    ("--epochs", "epochs", int, "Training epochs."),
    ("--units", "units", int, "LSTM units."),
    ("--batch-size", "batch_size", int, "Samples per batch (prev-sample: 1)."),
    ("--time-steps", "time_steps", int, "Steps per sample."),
    ("--n-train", "n_train", int, "Training samples."),
    ("--n-test", "n_test", int, "Test samples."),
    ("--lr", "learning_rate", float, "Adam's learning rate."),
    ("--loss", "loss", click.Choice(["mse", "bce"]), "The loss: mse (the blog's) or bce (binary cross-entropy)."),
    ("--marker/--no-marker", "marker", None, "Add a start-of-sample input feature."),
    ("--data-seed", "data_seed", int, "Pin the data to this seed (the initialisation still varies; default: each seed its own)."),
    ("--distance", "distance", int, "The label lies this many batches back (prev-batch, copy)."),
    ("--pattern", "pattern", int, "Bits per pattern, one sigmoid output each (copy)."),
]


def config_options(fn: Callable) -> Callable:
    for flag, field, type_, help_ in reversed(CONFIG_FLAGS):
        kwargs: dict[str, Any] = {"default": None, "help": help_ + default_note(flag, Config.__dataclass_fields__[field].default)}
        if type_ is not None:
            kwargs["type"] = type_
        fn = click.option(flag, field, **kwargs)(fn)
    return fn


def default_note(flag: str, default: object) -> str:
    """A setting's default as click shows its own (a switch by its flag; none when there is
    none). `forecast`'s flags use it too."""
    if default is None:
        return ""
    if isinstance(default, bool) and "/" in flag:
        on, off = flag.split("/")
        default = (on if default else off).lstrip("-")
    return f"  [default: {default}]"


def make_config(task: str, options: dict[str, Any]) -> Config:
    given = {k: v for k, v in options.items() if v is not None}
    config = Config(task=task, **TASK_DEFAULTS.get(task, {}) | {k: v for k, v in given.items() if k != "task"})
    moot = [f"--{name} {given[name]}" for name in ("reset", "carry") if name in given]
    if config.mode == "stateless" and moot:  # as --horizon is refused there: a flag that does nothing
        raise ConfigError(f"--mode stateless zeroes the state before every batch, so {' and '.join(moot)} "
                          f"{'changes' if len(moot) == 1 else 'change'} nothing; drop {'it' if len(moot) == 1 else 'them'}, "
                          "or use --mode stateful.")  # fmt: skip
    return config


def warn_untrained(configs: list[Config]) -> None:
    """A learning rate of 0 trains nothing: allowed (an untrained model's score is a baseline),
    but said, since it is more often a typo than a control."""
    if any(c.learning_rate == 0 for c in configs):
        click.echo("Warning: --lr 0 trains nothing (the weights never move): those numbers are the "
                   "untrained model's.", err=True)  # fmt: skip


def as_flags(message: str) -> str:
    """A library sentence that opens with a setting's name ("epochs must be ...", "horizon 9
    is longer ...") names the flag instead, as the CLI's own checks do."""
    for flag, field, _, _ in CONFIG_FLAGS:
        for name in {field, field.replace("_", "-")}:
            if "/" not in flag and message.startswith(f"{name} "):  # a switch has no value to name
                return flag + message[len(name):]
    return message
