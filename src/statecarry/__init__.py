"""statecarry: train, test and explain recurrent networks whose state is carried across batches.

    import statecarry as sc
    model = sc.Model(cell="lstm", units=32, layers=2, head="linear")
    train = sc.Train(mode="stateful", horizon=4, epochs=20, learning_rate=3e-3)
    fit = sc.fit(train_batches, model, train, seeds=range(8), test=test_batches)
    pred, state = sc.predict(fit.params_of(seed=3), batches, fit.model)

Names that need JAX (`predict`, `Predictor`, `rollout`, `save`, `load`, `to_keras`,
`from_keras`, `clear_cache`) are imported on first use, so `import statecarry` stays quick.
"""

import importlib
import importlib.metadata

from .core.fit import Fit as Fit
from .core.fit import fit as fit
from .core.spec import Model as Model
from .core.spec import Train as Train
from .data.check import check_layout as check_layout
from .data.layout import Batches as Batches
from .data.layout import from_samples as from_samples
from .data.layout import from_series as from_series
from .data.layout import pack as pack
from .errors import ConfigError as ConfigError
from .errors import DataError as DataError
from .errors import InteropError as InteropError
from .errors import StatecarryError as StatecarryError

_LAZY = {
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
    raise AttributeError(f"module 'statecarry' has no attribute {name!r}")


__all__ = [
    "Batches", "ConfigError", "DataError", "Fit", "InteropError", "Model", "StatecarryError",
    "Train", "check_layout", "clear_cache", "evaluate", "fit", "from_keras", "from_samples",
    "from_series", "load", "pack", "predict", "Predictor", "rollout", "save", "to_keras",
]  # fmt: skip

try:
    __version__ = importlib.metadata.version("statecarry")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"
