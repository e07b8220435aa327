"""statecarry: train, test and explain recurrent networks whose state is carried across batches.

    import statecarry as sc
    model = sc.Model(cell="lstm", units=32, layers=2, head="linear")
    train = sc.Train(mode="stateful", horizon=4, epochs=20, learning_rate=3e-3)
    fit = sc.fit(train_batches, model, train, seeds=range(8), test=test_batches)
    pred, state = sc.predict(fit.params_of(seed=3), batches, fit.model)

Everything but the errors (`Model`, `fit`, `Batches`, `predict`, ...) is imported on first
use, so `import statecarry` (and `statecarry --help`) loads neither NumPy nor JAX, nor even
`typing` and `dataclasses` (the specs' 25 ms).
"""

import importlib

from .core import xla as _xla  # noqa: F401  (sets XLA up for the engine before anything starts JAX)
from .errors import CheckpointError as CheckpointError
from .errors import ConfigError as ConfigError
from .errors import DataError as DataError
from .errors import InteropError as InteropError
from .errors import OutputError as OutputError
from .errors import StatecarryError as StatecarryError
from .errors import StoreError as StoreError
from .errors import TooLargeForMemory as TooLargeForMemory
from .errors import TooLargeForRTRL as TooLargeForRTRL

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:  # what the lazy names below are, for type checkers and IDEs
    from .core.checkpoint import load, save
    from .core.fit import Fit, fit
    from .core.interop import from_keras, to_keras
    from .core.predict import Predictor, evaluate, predict, rollout
    from .core.runtime import clear_cache
    from .core.spec import Model, Train
    from .data.check import check_layout
    from .data.layout import Batches, from_samples, from_series, pack, packed_positions

# Imported on first use: even NumPy (0.1 s) would make `statecarry --help` 10x slower.
_LAZY = {
    "Model": "core.spec",
    "Train": "core.spec",
    "fit": "core.fit",
    "Fit": "core.fit",
    "Batches": "data.layout",
    "from_series": "data.layout",
    "from_samples": "data.layout",
    "pack": "data.layout",
    "packed_positions": "data.layout",
    "check_layout": "data.check",
    "predict": "core.predict",
    "evaluate": "core.predict",
    "Predictor": "core.predict",
    "rollout": "core.predict",
    "save": "core.checkpoint",
    "load": "core.checkpoint",
    "to_keras": "core.interop",
    "from_keras": "core.interop",
    "clear_cache": "core.runtime",
}

def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name == "__version__":  # importlib.metadata costs 40 ms: only when asked
        from importlib import metadata

        try:
            return metadata.version("statecarry")
        except metadata.PackageNotFoundError:  # running from a source tree
            return "0+unknown"
    raise AttributeError(f"module 'statecarry' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the lazy ones too (for dir(), help() and tab completion)."""
    return sorted(set(__all__) | {"__version__"})


__all__ = [
    "Batches", "CheckpointError", "ConfigError", "DataError", "Fit", "InteropError", "Model",
    "OutputError", "StatecarryError", "StoreError", "TooLargeForMemory", "TooLargeForRTRL",
    "Train", "check_layout", "clear_cache", "evaluate", "fit", "from_keras", "from_samples",
    "from_series", "load", "pack", "packed_positions", "predict", "Predictor", "rollout", "save",
    "to_keras",
]  # fmt: skip

