"""The layout rules, read from the source: where JAX, matplotlib and click may be imported, which
way imports flow, no cycles, and modules short enough to read in one sitting."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "statecarry"
# Lower may never import higher (not even inside a function); equal ranks may.
RANKS = {"errors": 0, "stats": 0, "files": 0, "budget": 0, "data": 1, "core": 2, "experiments": 3, "doctor": 3,
         "store": 4, "scale": 4, "report": 5, "cli": 6, "launch": 7, "__init__": 7, "__main__": 7}  # fmt: skip
ONLY_IN = {"jax": "core", "jaxlib": "core", "optax": "core", "matplotlib": "report", "click": "cli",
           "ray": "scale",
           "statsmodels": "experiments",  # forecast's classical baselines and shipped series
           "pandas": "data", "pyarrow": "data",  # reading users' tables: data/tables.py
           "tqdm": "cli"}  # fmt: skip  (progress bars: cli/_progressbar.py)
MAX_LINES = 420


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def name_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top(module: str) -> str:
    return module.split(".")[0] if module else "__init__"


def imports(path: Path, type_checking: bool = False) -> list[tuple[str, int]]:
    """(absolute statecarry module or outside package, line) for every import in `path`."""
    tree = ast.parse(path.read_text())
    skip = set()
    if not type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(n) for n in ast.walk(node)}
    here = name_of(path).split(".") if name_of(path) else []
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                out.append((node.module, node.lineno))
                continue
            base = ["statecarry"] + package[: len(package) - (node.level - 1)]
            if node.module is None:  # from . import a, b: each may be a module
                out += [(".".join(base + [a.name]), node.lineno) for a in node.names]
            else:
                out.append((".".join(base + [node.module]), node.lineno))
    return out


@pytest.mark.parametrize("outside, home", ONLY_IN.items())
def test_heavy_libraries_are_imported_only_in_their_folder(outside, home):
    bad = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in modules()
        for module, line in imports(path, type_checking=True)
        if module and module.split(".")[0] == outside and top(name_of(path)) != home
    ]
    assert not bad, f"{outside} imported outside {home}/: {bad}"


def test_imports_flow_one_way():
    bad = []
    for path in modules():
        mine = RANKS[top(name_of(path))]
        for module, line in imports(path):
            if not module or not module.startswith("statecarry."):
                continue
            theirs = RANKS[top(module.removeprefix("statecarry."))]
            if theirs > mine:
                bad.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert not bad, "a lower layer imports a higher one:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules():
    known = {name_of(p) for p in modules()}
    graph: dict[str, set[str]] = {}
    for path in modules():
        edges = set()
        for module, _ in imports(path, type_checking=True):  # a typing-only cycle is one too
            if module and module.startswith("statecarry."):
                target = module.removeprefix("statecarry.")
                while target and target not in known:  # `from .x import name`: the module x
                    target = target.rpartition(".")[0]
                if target and target != name_of(path):
                    edges.add(target)
        graph[name_of(path)] = edges
    # a package's __init__ re-exporting its own modules is not a cycle
    for node, edges in graph.items():
        graph[node] = {e for e in edges if not node.startswith(e + ".") and e != ""}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_modules_read_in_one_sitting():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these along their second reason to change: {long}"


def test_the_rules_can_fail():
    """The checks above see what they look for (they would pass vacuously on nothing)."""
    cli_imports = [m for m, _ in imports(PACKAGE / "cli" / "__init__.py")]
    assert "click" in cli_imports
    assert any(m.startswith("statecarry.experiments") for m in cli_imports)
    assert any(m == "jax" for m, _ in imports(PACKAGE / "core" / "cells.py"))


def test_every_public_name_resolves_and_shows_in_dir():
    """The package root imports its names on first use; dir() and help() must still list them
    (they did not: only the errors showed), and every listed name must import."""
    import statecarry

    for name in statecarry.__all__:
        assert getattr(statecarry, name) is not None, name
    assert set(statecarry.__all__) <= set(dir(statecarry))
    assert {"fit", "Model", "Train", "predict", "evaluate", "pack", "packed_positions", "CheckpointError",
            "TooLargeForMemory"} <= set(dir(statecarry))  # fmt: skip
