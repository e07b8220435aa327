"""statecarry: train, test and explain recurrent networks whose state is carried across batches."""

import importlib.metadata

from .config import Config as Config
from .errors import ConfigError as ConfigError
from .errors import DataError as DataError
from .errors import StatecarryError as StatecarryError
from .errors import InteropError as InteropError
from .data.layout import Batches as Batches
from .data.layout import check_layout as check_layout
from .data.layout import from_series as from_series
from .data.layout import pack as pack
from .interop import from_keras as from_keras
from .interop import to_keras as to_keras


def __getattr__(name: str):
    # Predictor needs jax; importing it lazily keeps `import statecarry` (and the CLI) quick.
    if name == "Predictor":
        from .predict import Predictor

        return Predictor
    raise AttributeError(f"module 'statecarry' has no attribute {name!r}")

try:
    __version__ = importlib.metadata.version("statecarry")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"
