"""Config and provenance: what each run was, the command that repeats it, and where it ran."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .cells import esc, is_blog, status_badge, table


def _defaults() -> dict:
    from ..experiments.config import Config  # NumPy only; no JAX

    return Config().to_dict()


FLAG_NAMES = {"learning_rate": "--lr"}


def equivalent_command(run: dict) -> str:
    """A `statecarry run` (a sweep: `statecarry sweep … --grid`) command line that repeats this
    run, from its config and seeds."""
    from ..experiments.config import TASK_DEFAULTS

    c = run.get("config") or {}
    defaults = _defaults() | TASK_DEFAULTS.get(str(c.get("task")), {})  # prev-sample's batch 1
    sweep = run.get("kind") == "sweep" and c.get("grid")
    parts = ["statecarry", "sweep" if sweep else "run", str(c.get("task", ""))]
    in_grid = set()
    if sweep:
        from ..experiments.sweep import parse_grid

        parts.append(f'--grid "{c["grid"]}"')
        in_grid = {name for name, _ in parse_grid(c["grid"])}  # a flag beside its grid key is refused
    for key, value in c.items():
        if key == "task" or key in in_grid or key not in defaults or value == defaults[key] or value is None:
            continue
        flag = FLAG_NAMES.get(key, "--" + key.replace("_", "-"))
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + flag[2:])
        else:
            parts.append(f"{flag} {value}")
    seeds = list(run.get("seeds") or [])
    if seeds and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        parts.append(f"--seeds {len(seeds)}")
        if seeds[0]:
            parts.append(f"--first-seed {seeds[0]}")
    return " ".join(parts)


def provenance_section(runs: Sequence[dict]) -> str:
    """Shared config once, then one row per run: what differs, the command, when, versions."""
    defaults = _defaults()
    configs = [r.get("config") or {} for r in runs]
    trained = [c for c in configs if c]
    keys = list(dict.fromkeys(k for c in trained for k in c))
    shared = [k for k in keys if len({repr(c.get(k)) for c in trained}) == 1]
    varying = [k for k in keys if k not in shared]

    def value(key: str, v: Any) -> str:
        text = f"{esc(key)}={esc(v)}"
        return f"<b>{text}</b>" if key in defaults and v != defaults[key] else text

    parts = ["<section><h2>Config and provenance</h2>"]
    if shared:
        parts.append(
            "<p class=note>Config shared by every run (bold: not the default):</p>"
            f"<p class=cfg>{', '.join(value(k, trained[0].get(k)) for k in shared)}</p>"
        )
    rows = []
    for run, config in zip(runs, configs):
        if run.get("command") or is_blog(run):  # `run` repeats only the blog's tasks
            command = run.get("command") or equivalent_command(run)
            command_html = _command_html(command) + (
                "" if run.get("command") else " <span class=muted>(equivalent)</span>"
            )
        else:
            command_html = "—"
        differs = ", ".join(value(k, config[k]) for k in varying if k in config)
        when = esc((run.get("finished") or run.get("started") or "")[:19].replace("T", " "))
        rows.append(
            [
                esc(run.get("id", "") if run.get("id") is not None else "—"),
                esc(run.get("kind", "")),
                command_html,
                f"<span class=cfg>{differs}</span>" if differs else "",
                when,
                status_badge(run.get("status", "")),
            ]
        )
    parts.append(
        table(
            ["run", "kind", "command", "config (where runs differ)", "finished (UTC)", "status"],
            rows,
            "prov",
        )
    )
    env = []
    for key, title in (("versions", "versions"), ("machine", "machine")):
        seen = list(dict.fromkeys(_pairs(r.get(key)) for r in runs if r.get(key)))
        for text in seen:
            env.append([title, esc(text)])
    errors = [[f"run {esc(r.get('id'))} error", esc(r["error"])] for r in runs if r.get("error")]
    if env or errors:
        parts.append(table(["", ""], env + errors, "env"))
    return "\n".join(parts) + "</section>"


def _command_html(command: str) -> str:
    """A command line that wraps between arguments, never inside `--flag value`."""
    tokens, out = command.split(" "), []
    for token in tokens:
        if out and not token.startswith("-") and out[-1].startswith("-"):
            out[-1] += " " + token
        else:
            out.append(token)
    return "<code>" + " ".join(f"<span class=tok>{esc(t)}</span>" for t in out) + "</code>"


def _pairs(mapping: dict | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in (mapping or {}).items() if v is not None)
