"""SHAP contributions of a fitted model and their grouping into signal families."""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap
from churnlab.errors import InputError

CONTRACT = "contract"


CONTRACT_FEATURES = (S.TERM_MONTHS, S.ARR, S.DISCOUNT_PCT, "tenure_days", "days_to_renewal",
                     "arr_change_12m", S.SEATS, S.MRR)


EXPLANATION_COLUMNS = [S.ACCOUNT_ID, "drivers", "driver_families", "driver_features",
                       "driver_shap", "protective", "protective_families",
                       "protective_features", "protective_shap", "contract_drivers",
                       "dominant_family",
                       "risk_score", "base_value"]


PROBABILITY_KINDS = ("hazard_xgb", "hazard_logit")


FAM_RE = re.compile(r"^fam_(?P<family>[a-z_]+)__events_(?P<w>\d+)d$")


WINDOW_RE = re.compile(r"^(?P<stat>sum|mean|any)_(?P<w>\d+)d$")


class ExplainInputError(InputError):
    """A snapshot or model that cannot be explained (names the column / rule)."""


# ------------------------------------------------------------------ feature metadata
def feature_family(name: str, signal_map: SignalMap) -> str:
    """Signal family of a model feature (``contract`` for contract columns, ``other``
    for anything the signal map does not know)."""
    m = FAM_RE.match(name)
    if m:
        return m.group("family")
    if "__" in name:
        event_type = name.rsplit("__", 1)[0]
        if event_type in signal_map:
            return signal_map[event_type].family
        return "other"
    return CONTRACT if name in CONTRACT_FEATURES or name in ("renewal_in_month", "is_monthly") \
        else "other"


def feature_event_type(name: str) -> str:
    """The event type of ``<event_type>__<stat>``; the name itself otherwise (a family
    aggregate or a contract column is its own group)."""
    if FAM_RE.match(name) or "__" not in name:
        return name
    return name.rsplit("__", 1)[0]


def feature_table(names: Sequence[str], signal_map: SignalMap) -> pd.DataFrame:
    """feature, event_type, stat, family, label for each model feature."""
    rows = []
    for n in names:
        et = feature_event_type(n)
        stat = n.rsplit("__", 1)[1] if "__" in n else ""
        label = signal_map[et].label if et in signal_map else n.replace("_", " ")
        rows.append(dict(feature=n, event_type=et, stat=stat,
                         family=feature_family(n, signal_map), label=label))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ SHAP values
def shap_values(model, snapshot: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """(phi, base): SHAP values on the model's risk scale (see module doc), one row per
    snapshot row (same index), columns = ``model.feature_names_``; exact additivity
    ``phi.sum(1) + base == model.risk_score(snapshot)``."""
    missing = [c for c in model.feature_names_ if c not in snapshot.columns]
    if missing:
        raise ExplainInputError(f"snapshot: missing model feature column(s) {missing[:10]}"
                                f"{' ...' if len(missing) > 10 else ''} ({len(missing)})")
    if not hasattr(model, "contributions"):
        raise ExplainInputError(f"model kind {getattr(model, 'kind', '?')} has no "
                                "contributions (SHAP) method")
    phi, base = model.contributions(snapshot)
    return phi.astype(float), float(base)


def family_contributions(phi: pd.DataFrame, signal_map: SignalMap) -> pd.DataFrame:
    """Sum of SHAP values per family (risk scale), columns = families present."""
    fam = pd.Series([feature_family(c, signal_map) for c in phi.columns], index=phi.columns)
    return phi.T.groupby(fam.to_numpy(), sort=False).sum().T


def probability_allocation(model, phi: pd.DataFrame, base: float) -> pd.DataFrame | None:
    """Next month's churn probability change ``sigmoid(risk) - sigmoid(base)`` allocated
    to features in proportion to their log-odds SHAP values (hazard models; see module
    doc). None for models whose risk score is not a log-odds."""
    if getattr(model, "kind", None) not in PROBABILITY_KINDS:
        return None
    total = phi.to_numpy().sum(axis=1)
    p, p0 = 1 / (1 + np.exp(-(base + total))), 1 / (1 + np.exp(-base))
    # slope of the sigmoid's chord between base and risk (its derivative when equal)
    small = np.abs(total) < 1e-9
    ratio = np.where(small, p0 * (1 - p0), (p - p0) / np.where(small, 1.0, total))
    return phi.mul(ratio, axis=0)


def feature_label(name: str, signal_map: SignalMap) -> str:
    """A feature's name in words: the event type's label and the statistic."""
    et = feature_event_type(name)
    if et in signal_map:
        stat = name.rsplit("__", 1)[1].replace("_", " ")
        return f"{signal_map[et].label} ({stat})"
    return name.replace("__", " ").replace("_", " ")
