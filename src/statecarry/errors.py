"""Errors a person can act on.

Every message names the offending value and a way out. Only the CLI turns these into
exit codes; a bug in statecarry itself is never a StatecarryError and keeps its traceback.
"""


class StatecarryError(Exception):
    """Base class for every user-facing statecarry error."""


class ConfigError(StatecarryError, ValueError):
    """A configuration value is invalid or inconsistent with another."""


class DataError(StatecarryError, ValueError):
    """Input data has the wrong shape, contains NaN, is empty, or cannot be laid out."""


class TooLargeForMemory(StatecarryError, MemoryError):
    """A run would not fit in the memory available (estimated before anything is allocated)."""


class TooLargeForRTRL(TooLargeForMemory):
    """Real-time recurrent learning would not fit in memory."""


class StoreError(StatecarryError):
    """The run store is corrupt, foreign, or cannot be written."""


class OutputError(StatecarryError):
    """A file the user named (-o) cannot be written there, or not in that format."""


class InteropError(StatecarryError):
    """A model cannot be converted to or from Keras."""


class CheckpointError(StatecarryError):
    """A model file is missing, foreign, from a newer statecarry, or cannot be written."""
