"""`Setup`: a training setup described by sizes and flags, checked as it is built."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

KERAS_FIT_BATCH_SIZE = 32  # Keras' default when fit is not given a batch_size
BLOG_PREV_BATCH_ACC = 0.51  # the blog's stateful prev-batch test accuracy after 5 epochs


@dataclass(frozen=True)
class Setup:
    """A training setup described by sizes and flags (no model, no data).

    `reset` is when the training state is zeroed: None or "never" (Keras' default: fit never
    resets), "epoch", "batch", or a whole number N = every N batches. `label_lag`: the label
    of sample n depends on sample n - label_lag (0 = on the sample itself). A sample's "row" is
    n % batch_size: state flows only along a row. `batches_per_sequence`: how many consecutive
    batches one independent sequence spans (None = each row is one stream through the epoch;
    1 = every sample is its own independent sequence).
    """

    n_train: int | None = None
    batch_size: int = KERAS_FIT_BATCH_SIZE
    stateful: bool = True
    shuffle: bool = True  # Keras' fit shuffles unless told not to
    n_validation: int | None = None  # samples of validation_data; None = no validation
    validation: bool = False  # validates during fit (size unknown)
    evaluates: bool = False  # calls evaluate/predict on the training model between epochs
    reset: str | int | None = None
    label_lag: int = 0
    batches_per_sequence: int | None = None
    model_batch_size: int | None = None  # the batch size the model was built for, if fixed

    def __post_init__(self) -> None:
        for name in ("n_train", "n_validation", "batches_per_sequence", "model_batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(
                    f"{name.replace('_', '-')} must be a positive whole number, got {value!r}."
                )
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(
                f"batch-size must be a positive whole number, got {self.batch_size!r}."
            )
        if not isinstance(self.label_lag, int) or self.label_lag < 0:
            raise ConfigError(
                f"label-lag must be a whole number ≥ 0 (samples back), got {self.label_lag!r}."
            )
        reset_interval(self.reset, 1)  # validates

    @property
    def n_batches(self) -> int | None:
        return None if self.n_train is None else self.n_train // self.batch_size


def reset_interval(reset: str | int | None, n_batches: int | None) -> int | None:
    """How many batches lie between two resets (None: never)."""
    if reset in (None, "never"):
        return None
    if reset == "batch":
        return 1
    if reset == "epoch":
        return n_batches
    if isinstance(reset, int) and not isinstance(reset, bool) and reset >= 1:
        return reset
    raise ConfigError(
        f"unknown reset {reset!r}; use 'never', 'epoch', 'batch' or a number of batches."
    )
