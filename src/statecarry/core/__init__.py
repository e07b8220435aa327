"""The engine: cells, heads, losses, modes, the epoch scan, `fit`, `predict`, save/load and Keras
interop. The only place JAX is imported; modules that need it import it at their top, so import
`core.spec`, `core.checks` and `core.runtime` (no JAX) from code that must stay quick.

Importing it (as `import statecarry` does) sets XLA up for the engine (`xla.use_cpu_cores`)
unless JAX has already started: the Python API trains as fast as the CLI."""

from . import xla as _xla

_xla.use_cpu_cores()
