"""statecarry: train, test and explain recurrent networks whose state is carried across batches."""

import importlib.metadata

from .config import Config as Config
from .errors import ConfigError as ConfigError
from .errors import DataError as DataError
from .errors import StatecarryError as StatecarryError

try:
    __version__ = importlib.metadata.version("statecarry")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"
