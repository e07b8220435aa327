"""The engine: cells, heads, losses, modes, the epoch scan, `fit`, `predict`, save/load and Keras
interop. The only place JAX is imported; modules that need it import it at their top, so import
`core.spec`, `core.checks` and `core.runtime` (no JAX) from code that must stay quick."""
