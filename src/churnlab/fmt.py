"""Formatting shared by every text churnlab writes: dates, money, percents."""

from __future__ import annotations

import math

import pandas as pd


def iso_date(value) -> str:
    """``YYYY-MM-DD`` of a date-like value (SQL literals, file names, sentences)."""
    return pd.Timestamp(value).date().isoformat()


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x)) or bool(pd.isna(x))


def money(x) -> str:
    """Whole dollars with thousands separators (``$12,345``); ``n/a`` when missing."""
    return "n/a" if _missing(x) else f"${float(x):,.0f}"


def money_short(x) -> str:
    """Dollars for a headline: ``$1.25M``, ``$340k``, ``$9,800``."""
    x = float(x)
    if abs(x) >= 1e6:
        return f"${x / 1e6:,.2f}M"
    if abs(x) >= 1e4:
        return f"${x / 1e3:,.0f}k"
    return f"${x:,.0f}"


def pct(x) -> str:
    """A share as a whole percent (``0.234`` -> ``23%``); ``n/a`` when missing."""
    return "n/a" if _missing(x) else f"{float(x):.0%}"


# Codes people read in words (reports, packs, charts); CSV/JSON files keep the codes.
WORDS = {
    "product_fit": "product fit",
    "service_experience": "service experience",
    "value_perception": "value for money",
    "circumstantial": "circumstances (budget, ownership, people)",
    "unclear": "no clear cause yet",
    "contract": "contract calendar",
}


def words(code) -> str:
    """A code as people read it: ``value_perception`` -> ``value for money``; other
    codes with their underscores as spaces; ``''`` when missing."""
    if _missing(code):
        return ""
    return "; ".join(WORDS.get(c.strip(), c.strip().replace("_", " "))
                     for c in str(code).split(";"))


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A pipe table of ``df`` (no index), floats rounded to ``digits`` significant
    places, pipes in cells escaped."""
    def cell(v) -> str:
        if isinstance(v, float):
            return "" if not math.isfinite(v) else f"{v:.{digits}g}"
        return str(v).replace("|", "\\|")
    head = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])
