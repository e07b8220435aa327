"""Traced programs kept on disk, so a second process neither traces nor lowers them again.

JAX's persistent cache skips XLA's compile, but a new process still traces the Python code and
lowers it to StableHLO first: for the blog's run that is 1.5 of its 2 warm seconds. Here each
program is exported once (`jax.export`), serialised next to JAX's cache under a key of
everything that shapes it (the program's own key: model, train spec, shapes, placement; the
JAX settings; the jax and jaxlib versions; the devices; and a hash of statecarry's engine
source), and a later process compiles the stored StableHLO instead, which JAX's persistent
cache answers from disk.

The same path serves both cases: a fresh program is exported and then compiled from its
export, so a run computes exactly the same numbers whether its program was stored or not.
Storing is best effort: without `flatbuffers` (jax.export's serialiser), on a read-only disk,
or for a program jax.export cannot serialise, the process compiles as before.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 1  # bump when what is stored changes
_registered: set[tuple[str, str]] = set()


def compiled(
    key: tuple, fn: Any, args: tuple, jit_options: dict, options: dict, folder: Path | None
) -> Any:
    """`jax.jit(fn, **jit_options)` compiled (with XLA `options`) for `args`, from its stored
    export when `folder` has one."""
    import jax

    jitted = jax.jit(fn, **jit_options)
    path = None if folder is None else folder / f"{digest(key)}.jaxexport"
    exported = _load(path) if path is not None and path.exists() else None
    if exported is None:
        try:
            exported = jax.export.export(jitted)(*args)
        except (TypeError, ValueError, NotImplementedError):  # not exportable: compile directly
            return jitted.lower(*args).compile(options)
        if path is not None:
            _store(path, exported)
    return jax.jit(exported.call, **jit_options).lower(*args).compile(options)


def digest(key: tuple) -> str:
    """A file name for `key` and everything else that shapes a traced program."""
    import jax
    import jaxlib

    devices = [(d.platform, d.device_kind) for d in jax.devices()]
    parts = (FORMAT, repr(key), jax.__version__, jaxlib.__version__, devices, _source_hash())
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


@functools.cache
def _source_hash() -> str:
    """The engine's source: an edited cell or mode must not run a stale program."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def _store(path: Path, exported: Any) -> None:
    """Write the export atomically, after a JSON header line naming the NamedTuples in its
    trees, so another process can register them before it reads the rest."""
    types = sorted(_named_tuples(exported.in_tree) | _named_tuples(exported.out_tree))
    try:
        if not _register(types):
            return
        blob = exported.serialize()
    except (ImportError, ValueError):  # flatbuffers missing, or a tree node it cannot name
        return
    header = json.dumps([list(t) for t in types]).encode() + b"\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(header + bytes(blob))
        os.replace(tmp, path)
    except OSError:  # a read-only or full disk: the next process traces again
        return


def _load(path: Path) -> Any:
    """The stored export, or None if it cannot be read (then it is traced and stored again)."""
    import jax

    try:
        header, blob = path.read_bytes().split(b"\n", 1)
        if not _register([tuple(t) for t in json.loads(header)]):
            return None
        return jax.export.deserialize(bytearray(blob))
    except Exception:  # a truncated or foreign file, another jax's format: start over
        return None


def _named_tuples(treedef: Any) -> set[tuple[str, str]]:
    """(module, name) of every NamedTuple node in a tree structure."""
    found = set()
    data = treedef.node_data()
    if data is not None:
        kind = data[0]
        if isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields"):
            found.add((kind.__module__, kind.__qualname__))
    for child in treedef.children():
        found |= _named_tuples(child)
    return found


def _register(types: list[tuple[str, str]]) -> bool:
    """Teach jax.export these NamedTuples (by module and name); False if one is not found."""
    import jax

    for module, name in types:
        if (module, name) in _registered:
            continue
        try:
            kind = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return False
        with contextlib.suppress(ValueError):  # registered already (another import path)
            jax.export.register_namedtuple_serialization(kind, serialized_name=f"{module}.{name}")
        _registered.add((module, name))
    return True
