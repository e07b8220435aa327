"""The batch-layout picture: which sample sits where, where state flows, where gradients stop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .canvas import figure, img
from .cells import esc, run_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_ROWS_SHOWN = 8  # rows of a batch drawn in the layout picture
# Keys of the config that change the batch layout picture (the rest do not).
LAYOUT_KEYS = (
    "batch_size",
    "n_train",
    "time_steps",
    "mode",
    "horizon",
    "reset",
    "carry",
    "shuffle",
)


def layout_section(runs: Sequence[dict]) -> str:
    parts = ["<section><h2>Batch layout</h2>"]
    seen: dict[tuple, list[dict]] = {}
    for run in runs:
        seen.setdefault(tuple(run["config"].get(k) for k in LAYOUT_KEYS), []).append(run)
    for key, group in list(seen.items())[:8]:
        config = dict(zip(LAYOUT_KEYS, key), tasks=sorted({r["config"].get("task") for r in group}))
        names = [str(r["id"]) if r.get("id") is not None else run_label(r) for r in group]
        fig = layout_figure(config)
        parts.append(
            f"<figure>{img(fig, 'batch layout')}<figcaption>{layout_caption(config)} "
            f"<span class=muted>(run {', '.join(names[:10])})</span></figcaption></figure>"
        )
    if len(seen) > 8:
        parts.append(f"<p class=note>{len(seen) - 8} more layouts are not drawn.</p>")
    return "\n".join(parts) + "</section>"


def layout_plan(config: dict) -> dict:
    """What the layout picture shows, as data (the figure only draws it).

    Returns a dict:
        columns: ("batch", epoch, k) | ("gap",) | ("boundary",), left to right;
        rows: the row indices drawn, None for a vertical ellipsis;
        cells: {(batch, row): sample index}, sample n -> batch n // B, row n % B;
        target: the batch whose gradient is drawn;
        window: the first batch that gradient reaches (None = every batch since training began);
        carry: whether state crosses batch boundaries; carry_across_epoch: and epoch boundaries.
    """
    b = int(config.get("batch_size") or 1)
    n_batches = max(1, int(config.get("n_train") or b) // b)
    mode = config.get("mode", "stateful")
    horizon = int(config.get("horizon") or 1)
    reset = config.get("reset", "epoch")
    shown = list(range(n_batches)) if n_batches <= 4 else [0, 1, 2, None, n_batches - 1]
    columns: list[tuple] = [("batch", 0, k) if k is not None else ("gap",) for k in shown]
    columns += [("boundary",), ("batch", 1, 0)]
    rows: list[int | None] = list(range(b))
    if b > MAX_ROWS_SHOWN:
        rows = list(range(MAX_ROWS_SHOWN - 2)) + [None, b - 1]
    carry = mode != "stateless"
    reach = 1 if mode == "stateless" else horizon
    if mode in ("rtrl", "uoro", "snap1"):  # online: the whole history since the last reset
        target = n_batches - 1
        window = 0 if reset == "epoch" else None
    else:
        near = min(2, n_batches - 1)
        target = near if reach - 1 <= near else n_batches - 1
        window = target - reach + 1
    # sample n -> batch n // b, row n % b (Keras' order with shuffle=False)
    cells = {
        (k, r): k * b + r
        for c in columns
        if c[0] == "batch"
        for k in [c[2]]
        for r in rows
        if r is not None
    }
    return {
        "columns": columns,
        "rows": rows,
        "cells": cells,
        "target": target,
        "window": window,
        "carry": carry,
        "carry_across_epoch": carry and reset == "never",
        "n_batches": n_batches,
        "batch_size": b,
    }


def layout_caption(config: dict) -> str:
    plan = layout_plan(config)
    b, nb, t = plan["batch_size"], plan["n_batches"], plan["target"]
    mode = config.get("mode", "stateful")
    text = [
        (
            f"<b>{esc(mode)}</b>, batch size {b}, {nb} batches per epoch: sample <i>n</i> sits in "
            f"batch <i>n</i> // {b}, row <i>n</i> % {b}."
        )
    ]
    if config.get("shuffle"):
        text.append(
            "Samples are <b>reshuffled every epoch</b>, so the numbers above are the "
            "unshuffled order: the state carried along a row reaches an unrelated sample."
        )
    if not plan["carry"]:
        text.append(
            "Stateless: the state is zeroed before every batch, so nothing crosses a "
            f"batch boundary and the gradient of batch {t} stays inside it."
        )
    else:
        what = (
            "the cell state c only (h restarts at zero)"
            if config.get("carry") == "c"
            else "the state (h, c)"
        )
        text.append(f"Arrows: {what} handed to the collocated row of the next batch.")
        if plan["carry_across_epoch"]:
            text.append(
                "reset=never: the last batch of an epoch hands its state to the first batch of the next."
            )
        else:
            text.append("The state is zeroed at the start of every epoch (reset=epoch).")
        if plan["window"] is None:
            text.append(
                f"Shaded: the batches the gradient of batch {t}'s loss reaches with {mode}: "
                "every batch since training began (the state is never reset)."
            )
        elif mode in ("rtrl", "uoro", "snap1"):
            text.append(
                f"Shaded: {mode}'s gradient of batch {t}'s loss reaches every batch since the "
                "last reset (the start of the epoch)."
            )
        else:
            k = t - plan["window"] + 1
            text.append(
                f"Shaded: the {k} batch{'es' if k > 1 else ''} the gradient of batch {t}'s loss "
                f"reaches (horizon {k}):"
            )
            if plan["window"] == 0 and not plan["carry_across_epoch"]:
                text.append("they reach back to the start of the epoch, where the state is zero.")
            else:
                text.append(
                    f"the red line is where it stops: the state entering batch {plan['window']} "
                    "is used as a constant."
                    + (" Keras stops at every batch boundary." if k == 1 else "")
                )
    tasks = config.get("tasks") or [config.get("task")]
    if "prev-batch" in tasks or ("prev-sample" in tasks and b == 1):
        text.append(
            f"In {'prev-batch' if 'prev-batch' in tasks else 'prev-sample'} a sample's label is "
            f"the first step of the sample one batch back in the same row ({b} sample"
            f"{'s' if b > 1 else ''} earlier): its gradient must cross one batch boundary."
        )
    return " ".join(text)


def layout_figure(config: dict) -> Figure:
    """Which sample sits in which row of which batch, the state carried to the collocated row,
    and the batches one gradient reaches: the picture the blog drew by hand."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

    plan = layout_plan(config)
    cols, slots, t, window = plan["columns"], plan["rows"], plan["target"], plan["window"]
    steps = min(int(config.get("time_steps") or 1), 12)
    shuffled = bool(config.get("shuffle"))
    # Geometry in data units (1 unit = SCALE inches): column x, row y (top of each cell).
    width = {"batch": 1.3, "gap": 0.6, "boundary": 0.8}
    space, cell_h, row_gap = 0.5, 0.42, 0.14
    xs = np.cumsum([0.0] + [width[c[0]] + space for c in cols[:-1]])
    ys = -np.arange(len(slots)) * (cell_h + row_gap)
    right_edge = xs[-1] + width[cols[-1][0]]
    bottom = ys[-1] - cell_h
    x_lim, y_lim = (-1.0, right_edge + 0.35), (bottom - 0.6, 1.05)
    scale = 0.78
    fig = figure((x_lim[1] - x_lim[0]) * scale, (y_lim[1] - y_lim[0]) * scale, layout=None)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    col_of = {c[1:]: i for i, c in enumerate(cols) if c[0] == "batch"}
    gap_col = next((i for i, c in enumerate(cols) if c[0] == "gap"), None)
    small, text = 8.5, 9.5

    # The gradient's reach: shaded from the first batch it reaches to the target batch.
    t_col = col_of[(0, t)]
    if window is None:
        left = x_lim[0]
    else:
        first = col_of.get((0, window), gap_col)
        left = xs[first] - space / 2
    right = xs[t_col] + width["batch"] + space / 2
    ax.add_patch(
        FancyBboxPatch(
            (left, bottom - 0.12),
            right - left,
            -bottom + 0.62,
            boxstyle="round,pad=0,rounding_size=0.1",
            fc="#fde7c8",
            ec="none",
            zorder=0,
        )
    )
    ax.text(
        (max(left, 0) + right) / 2,
        bottom - 0.2,
        f"the gradient of batch {t}'s loss reaches these batches"
        + (" (and every one before)" if window is None else ""),
        ha="center",
        va="top",
        fontsize=small,
        color="#9a5400",
    )
    reset_at_window = window == 0 and not (plan["carry_across_epoch"])
    if plan["carry"] and window is not None and not reset_at_window:
        ax.plot([left, left], [bottom - 0.12, 0.5], color="#c62828", lw=2.2, zorder=6)
        ax.text(
            left, 0.55, "gradient stops", ha="center", va="bottom", fontsize=small, color="#c62828"
        )

    for j, row in enumerate(slots):
        label = "⋮" if row is None else f"row {row}"
        ax.text(
            -0.12, ys[j] - cell_h / 2, label, ha="right", va="center", fontsize=small, color="0.35"
        )
    for i, col in enumerate(cols):
        x0 = xs[i]
        if col[0] == "gap":
            ax.text(
                x0 + width["gap"] / 2,
                bottom / 2,
                "…",
                ha="center",
                va="center",
                fontsize=16,
                color="0.4",
            )
            continue
        if col[0] == "boundary":
            mid = x0 + width["boundary"] / 2
            ax.plot([mid, mid], [bottom - 0.05, 0.45], color="0.3", lw=1.2, ls=(0, (4, 3)))
            ax.text(
                mid, 0.72, "epoch boundary", ha="center", va="bottom", fontsize=small, color="0.3"
            )
            if plan["carry"] and not plan["carry_across_epoch"]:
                ax.text(
                    mid,
                    0.45,
                    "state := 0",
                    ha="center",
                    va="bottom",
                    fontsize=small,
                    color="#1b5e20",
                    bbox={"fc": "white", "ec": "none", "pad": 0.5},
                )
            continue
        _, epoch, k = col
        title = f"batch {k}" if epoch == 0 else f"batch {k}, next epoch"
        ax.text(
            x0 + width["batch"] / 2,
            0.06,
            title,
            ha="center",
            va="bottom",
            fontsize=text,
            weight="bold" if (epoch, k) == (0, t) else "normal",
        )
        if not plan["carry"]:
            ax.text(
                x0 + width["batch"] / 2,
                0.45,
                "state := 0",
                ha="center",
                va="bottom",
                fontsize=small,
                color="#1b5e20",
            )
        for j, row in enumerate(slots):
            y0 = ys[j] - cell_h
            if row is None:
                ax.text(
                    x0 + width["batch"] / 2,
                    y0 + cell_h / 2,
                    "⋮",
                    ha="center",
                    va="center",
                    fontsize=text,
                )
                continue
            ax.add_patch(
                Rectangle(
                    (x0, y0), width["batch"], cell_h, fc="white", ec="#37474f", lw=0.9, zorder=2
                )
            )
            for s in range(1, steps):  # the sample's time steps, faintly
                sx = x0 + width["batch"] * s / steps
                ax.plot(
                    [sx, sx], [y0 + 0.05, y0 + cell_h - 0.05], color="#cfd8dc", lw=0.7, zorder=3
                )
            ax.text(
                x0 + width["batch"] / 2,
                y0 + cell_h / 2,
                str(plan["cells"][(k, row)]),
                ha="center",
                va="center",
                fontsize=text,
                zorder=4,
                style="italic" if shuffled else "normal",
                color="0.45" if shuffled else "black",
                bbox={"fc": "white", "ec": "none", "pad": 0.6},
            )

    if plan["carry"]:  # the state handed to the collocated row of the next batch
        color = "#ef6c00" if shuffled else "#1565c0"
        for i in range(len(cols) - 1):
            a, z = i, i + 1
            if cols[a][0] == "boundary":
                continue
            if cols[z][0] == "boundary":
                if not plan["carry_across_epoch"]:
                    continue
                z += 1
            x_from = xs[a] + (width["batch"] if cols[a][0] == "batch" else width["gap"] * 0.75)
            x_to = xs[z] + (0 if cols[z][0] == "batch" else width["gap"] * 0.25)
            for j, row in enumerate(slots):
                if row is not None:
                    y = ys[j] - cell_h / 2
                    ax.add_patch(
                        FancyArrowPatch(
                            (x_from + 0.03, y),
                            (x_to - 0.03, y),
                            arrowstyle="-|>",
                            mutation_scale=10,
                            color=color,
                            lw=1.2,
                            zorder=5,
                            ls=(0, (3, 2)) if shuffled else "-",
                        )
                    )
    return fig
