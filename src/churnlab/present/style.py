"""Figure style shared by every plot: palette, figure factory, axis cleaning."""

from __future__ import annotations

from matplotlib.figure import Figure

# The tier palette: the same three colours wherever health or risk is drawn.
PALETTE = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}


NEUTRAL = "#9e9e9e"


INK = "#263238"


DIRECTION_COLOURS = {"risk": PALETTE["red"], "protective": PALETTE["green"], "none": NEUTRAL}


FAMILY_COLOURS = {
    "usage": "#1f77b4", "engagement": "#9467bd", "support": "#8c564b",
    "outcomes": "#17becf", "sentiment": "#e377c2", "relationship": "#ff7f0e",
    "financial": "#bcbd22", "competitive": "#d62728", "lifecycle": "#7f7f7f",
}


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def clean(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def short(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
