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


def say_empty(fig, ax, text: str):
    """A figure that says in one line that there is nothing to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def percent_square(ax, top: float, xlabel: str, ylabel: str) -> None:
    """Square axes from 0 to ``top`` in percent (calibration plots)."""
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
