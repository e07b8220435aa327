"""matplotlib's Agg canvas, and a figure as a PNG inside the page.

Figures are drawn on `Figure` + `FigureCanvasAgg` directly, never pyplot, so nothing global
changes and no display is needed; matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

from .cells import esc

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=144, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def img(fig: Figure, alt: str) -> str:
    """The figure as an <img> with a base64 PNG, shown at its size in CSS pixels (crisp on
    high-density screens, since it is drawn at 1.5×)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=144, metadata={"Software": None})
    width = round(fig.get_figwidth() * 96)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class=fig style="width:{width}px" alt="{esc(alt)}" src="data:image/png;base64,{data}">'
