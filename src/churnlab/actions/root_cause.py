"""Root cause of each account's risk: stated flags first, then the model's votes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data.contract import FAMILY_ROOT_CAUSE
from churnlab.data.signal_map import SignalMap, default_signal_map_path, load_signal_map
from churnlab.errors import DataError
from churnlab.explain.attribution import feature_table

ROOT_CAUSES = S.ROOT_CAUSES


UNCLEAR = "unclear"


STATED_CAUSE_DAYS = 90      # a stated-cause flag this recent names the root cause


STATED_FAMILIES = ("relationship", "financial")   # flags the customer tells us about


class TriageInputError(DataError):
    """Inputs triage cannot use (names the table, column and rule)."""


def require(df: pd.DataFrame, columns, what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TriageInputError(f"{what} must be a DataFrame")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise TriageInputError(f"{what}: missing column(s) {missing}")


def column_of(df: pd.DataFrame, name: str, default=0.0) -> pd.Series:
    if name in df.columns:
        return pd.to_numeric(df[name], errors="coerce")
    return pd.Series(default, index=df.index, dtype=float)


def event_types_of(signal_map: SignalMap | None, family: str, kind: str | None = None) -> list:
    if signal_map is None:
        return []
    return [s for s in signal_map.by_family(family) if kind is None or s.kind == kind]


# ------------------------------------------------------------------ root cause
def feature_root_cause(feature: str, family: str, signal_map: SignalMap | None = None
                       ) -> str | None:
    """The root cause a risk-raising feature points at: its event type's ``root_cause``
    in the signal map, else its family's (None for contract features)."""
    if family in ("contract", "other"):
        return None
    m = re.match(r"^fam_([a-z_]+)__", feature)
    event_type = None if m else feature.rsplit("__", 1)[0]
    if signal_map is not None and event_type in signal_map:
        return signal_map[event_type].root_cause or FAMILY_ROOT_CAUSE.get(family)
    return FAMILY_ROOT_CAUSE.get(family)


def _feature_causes(names, signal_map: SignalMap) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, the root cause it points at ("" for none) and its plain label."""

    meta = feature_table(list(names), signal_map)
    causes = np.array([feature_root_cause(f, fam, signal_map) or "" for f, fam in
                       zip(meta["feature"], meta["family"])], dtype=object)
    labels = np.array([f"{fam} events" if f.startswith("fam_") else lab
                       for f, fam, lab in zip(meta["feature"], meta["family"], meta["label"])],
                      dtype=object)
    return causes, labels


def cause_votes(phi: pd.DataFrame, signal_map: SignalMap) -> pd.DataFrame:
    """Per row, the summed positive SHAP values (risk scale) of the signal features
    pointing at each root cause (:func:`feature_root_cause`); columns
    :data:`ROOT_CAUSES`, index as ``phi``."""
    causes, _ = _feature_causes(phi.columns, signal_map)
    pos = np.clip(phi.to_numpy(dtype=float), 0, None)
    return pd.DataFrame({c: pos[:, causes == c].sum(axis=1) for c in ROOT_CAUSES},
                        index=phi.index)


def cause_leads(phi: pd.DataFrame, signal_map: SignalMap) -> pd.DataFrame:
    """Per row and root cause (columns :data:`ROOT_CAUSES`), the plain label of the
    feature with the largest positive SHAP value among those pointing at the cause;
    None where no such feature raises the risk."""
    causes, labels = _feature_causes(phi.columns, signal_map)
    pos = np.clip(phi.to_numpy(dtype=float), 0, None)
    out = {}
    for c in ROOT_CAUSES:
        cols = np.flatnonzero(causes == c)
        if not len(cols):
            out[c] = [None] * len(phi)
            continue
        sub = pos[:, cols]
        j = sub.argmax(axis=1)
        out[c] = np.where(sub[np.arange(len(sub)), j] > 0, labels[cols[j]], None)
    return pd.DataFrame(out, index=phi.index)


def driver_votes(expl: pd.DataFrame, signal_map: SignalMap | None = None) -> pd.DataFrame:
    """Cause votes from the explanation's top drivers only (when SHAP values of every
    feature are not at hand)."""
    rows = []
    for feats, fams, vals in zip(expl["driver_features"], expl["driver_families"],
                                 expl["driver_shap"]):
        v = dict.fromkeys(ROOT_CAUSES, 0.0)
        for f, fam, x in zip(feats, fams, vals):
            c = feature_root_cause(f, fam, signal_map)
            if c:
                v[c] += max(float(x), 0.0)
        rows.append(v)
    return pd.DataFrame(rows, index=expl.index, columns=list(ROOT_CAUSES))


def stated_causes(snapshot: pd.DataFrame, signal_map: SignalMap | None,
                  days: int = STATED_CAUSE_DAYS) -> pd.DataFrame:
    """Per snapshot row, the most recent stated-cause flag of the last ``days`` days:
    columns ``cause`` (None without one), ``event_type``, ``label`` and ``days_ago``.
    Stated-cause flags are the flag event types of :data:`STATED_FAMILIES` with a root
    cause (the map's ``root_cause``, else the family's), read from the
    snapshot's ``<event_type>__days_since`` column."""
    snap = snapshot.reset_index(drop=True)
    n = len(snap)
    best = np.full(n, np.inf)
    cause = np.full(n, None, dtype=object)
    event, label = np.full(n, None, dtype=object), np.full(n, None, dtype=object)
    if signal_map is None:
        signal_map = load_signal_map(default_signal_map_path())
    for spec in signal_map:
        col = f"{spec.event_type}__days_since"
        c = feature_root_cause(col, spec.family, signal_map)
        if spec.kind != "flag" or spec.family not in STATED_FAMILIES or not c \
                or col not in snap.columns:
            continue
        d = pd.to_numeric(snap[col], errors="coerce").to_numpy(dtype=float)
        hit = (d >= 0) & (d < days) & (d < best)
        best[hit], cause[hit], event[hit], label[hit] = d[hit], c, spec.event_type, spec.label
    return pd.DataFrame({"cause": cause, "event_type": event, "label": label,
                         "days_ago": np.where(np.isfinite(best), best, np.nan)})


def root_causes(votes: pd.DataFrame, stated: pd.DataFrame | None = None,
                baseline: pd.Series | None = None,
                leads: pd.DataFrame | None = None) -> pd.DataFrame:
    """The root cause per row (see module doc): a stated cause first, else the cause
    whose votes are furthest above ``baseline`` (default: the mean vote of these rows),
    else ``unclear``. ``leads`` (optional, :func:`cause_leads`, aligned with ``votes``)
    names the signal that leads the winning cause's votes. Returns columns
    ``root_cause``, ``root_cause_basis`` (a sentence saying where the cause came from)
    and ``root_cause_votes`` (dict: vote minus the baseline per cause, risk scale)."""
    v = votes[list(ROOT_CAUSES)].astype(float)
    base = v.mean() if baseline is None else baseline.reindex(v.columns).astype(float)
    excess = v - base.to_numpy()
    x = excess.to_numpy()
    top = x.argmax(axis=1) if len(x) else np.array([], int)
    causes = np.where(x.max(axis=1) > 0, np.array(ROOT_CAUSES, dtype=object)[top], UNCLEAR) \
        if len(x) else np.array([], dtype=object)
    named = [None] * len(causes) if leads is None else \
        [leads[c].iloc[i] if c in leads else None for i, c in enumerate(causes)]
    basis = np.where(causes == UNCLEAR,
                     "no cause stands out: the risk signals are at the book's usual level",
                     [f"model: {c.replace('_', ' ')} signals weigh more than usual in the "
                      f"book{f', led by {lab}' if lab else ''}"
                      for c, lab in zip(causes, named)]).astype(object)
    if stated is not None and len(stated):
        has = stated["cause"].notna().to_numpy()
        causes = np.where(has, stated["cause"].to_numpy(dtype=object), causes)
        for i in np.flatnonzero(has):
            days = int(stated["days_ago"].iloc[i])
            when = {0: "today", 1: "1 day ago"}.get(days, f"{days} days ago")
            basis[i] = f"stated: {stated['label'].iloc[i]} {when}"
    return pd.DataFrame({"root_cause": causes, "root_cause_basis": basis,
                         "root_cause_votes": [{k: round(float(e), 4) for k, e in zip(
                             ROOT_CAUSES, row)} for row in x]}, index=votes.index)
