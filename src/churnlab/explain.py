"""SHAP explanations of the champion: learned weights by signal family, and every
account's risk drivers and protective factors in sentences a CSM can act on.

Scales
------
* **SHAP values** come from the model itself (:meth:`SurvivalModel.contributions`):
  TreeSHAP for the gradient-boosted hazard (xgboost ``pred_contribs``), exact linear
  contributions for the logistic hazard and Cox. They are on the model's **risk scale**:
  the log-odds of churning in the month after the as-of date for the hazard models
  (``hazard_xgb``, ``hazard_logit``), the log partial hazard for Cox. They add up
  exactly: ``phi.sum(axis=1) + base == model.risk_score(snapshot)`` on every row.
  Positive = pushes risk up.
* **Probability allocation** (hazard models only): the change in next month's churn
  probability, ``sigmoid(risk) - sigmoid(base)``, *allocated* to the features in
  proportion to their log-odds contributions. Because the sigmoid is increasing, every
  feature keeps the sign of its SHAP value and the allocation adds up exactly to that
  change. It is an allocation, not a Shapley value of the probability. No allocation is
  made of ``p_churn_90d``: on the contract calendar it also depends on the months after
  the first, which the SHAP values do not cover, so a proportional split could give a
  feature the opposite sign of its effect.

Families
--------
A feature ``<event_type>__<stat>`` belongs to its event type's family in the signal map;
``fam_<family>__events_<w>d`` to ``<family>``; the contract columns (days to renewal,
term, ARR, discount, tenure, ARR change; the calendar inputs the model derives from them
are folded onto ``days_to_renewal`` / ``term_months`` by the model) to ``contract``.
Per account, ``family__<family>`` is the sum of the family's SHAP values (risk scale).
Globally, a family's importance is the mean over accounts of ``|family__<family>|``;
its *learned share* is that importance over the sum across families (the "learned
weights"), shown beside the articles' default weights (:func:`health.default_weights`,
defined for the five core families only).

Sentences
---------
Every feature renders a sentence with the account's value and a reference: its own
earlier value for trends ("Weekly active users fell 46% in the last 30 days vs the 3
months before (from 120 to 65)"), otherwise the book's median at the as-of date. The
label comes from the signal map, so a customer's own event types read naturally.
Drivers are the features with the largest positive SHAP values, one per event type
(the strongest of its statistics); protective factors the most negative ones.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from churnlab import features as F
from churnlab import schema as S

CONTRACT = "contract"
CONTRACT_FEATURES = (S.TERM_MONTHS, S.ARR, S.DISCOUNT_PCT, "tenure_days", "days_to_renewal",
                     "arr_change_12m", S.SEATS, S.MRR)
EXPLANATION_COLUMNS = [S.ACCOUNT_ID, "drivers", "driver_families", "driver_features",
                       "driver_shap", "protective", "protective_families",
                       "protective_features", "protective_shap", "contract_drivers",
                       "dominant_family",
                       "risk_score", "base_value"]
PROBABILITY_KINDS = ("hazard_xgb", "hazard_logit")
_FAM_RE = re.compile(r"^fam_(?P<family>[a-z_]+)__events_(?P<w>\d+)d$")
_WINDOW_RE = re.compile(r"^(?P<stat>sum|mean|any)_(?P<w>\d+)d$")


class ExplainInputError(ValueError):
    """A snapshot or model that cannot be explained (names the column / rule)."""


# ------------------------------------------------------------------ feature metadata
def feature_family(name: str, signal_map: S.SignalMap) -> str:
    """Signal family of a model feature (``contract`` for contract columns, ``other``
    for anything the signal map does not know)."""
    m = _FAM_RE.match(name)
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
    if _FAM_RE.match(name) or "__" not in name:
        return name
    return name.rsplit("__", 1)[0]


def feature_table(names: Sequence[str], signal_map: S.SignalMap) -> pd.DataFrame:
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


def family_contributions(phi: pd.DataFrame, signal_map: S.SignalMap) -> pd.DataFrame:
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


# ------------------------------------------------------------------ sentences
def _num(x: float, unit: str = "") -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    ax = abs(x)
    text = (f"{x:,.0f}" if ax >= 100 else f"{x:,.1f}".rstrip("0").rstrip(".") if ax >= 1
            else f"{x:.2f}".rstrip("0").rstrip(".") if ax > 0 else "0")
    if unit == "%":
        return text + "%"
    return f"{text} {unit}".strip() if unit and not unit.startswith("(") else text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _money(x: float) -> str:
    return f"${x:,.0f}" if np.isfinite(x) else "n/a"


def _term_name(months: float) -> str:
    if not np.isfinite(months):
        return "contract"
    m = int(round(months))
    return {1: "monthly", 12: "annual", 24: "two-year", 36: "three-year"}.get(m, f"{m}-month")


def render_sentence(feature: str, row: pd.Series, signal_map: S.SignalMap,
                    reference: pd.Series | None = None) -> str:
    """One plain-language sentence for ``feature`` of one account.

    Parameters
    ----------
    feature : a model feature name (see :mod:`churnlab.features` for the naming).
    row : the account's snapshot row (all its columns, so related statistics of the same
        event type can be quoted).
    signal_map : labels, units and kinds.
    reference : the book's median per feature (its "usual" value); optional.
    """
    value = row.get(feature, np.nan)
    value = float(value) if value is not None and pd.notna(value) else np.nan
    ref = float(reference.get(feature, np.nan)) if reference is not None else np.nan
    median = f" (book median {_num(ref)})" if np.isfinite(ref) else ""
    m = _FAM_RE.match(feature)
    if m:
        family, w = m.group("family"), m.group("w")
        n = 0 if not np.isfinite(value) else int(value)
        return f"{n} {family} event{'s' if n != 1 else ''} in the last {w} days{median}"
    if "__" not in feature:
        return _contract_sentence(feature, row, ref)
    et, stat = feature.rsplit("__", 1)
    spec = signal_map[et] if et in signal_map else S.SignalSpec(et, "other", "count",
                                                                  et.replace("_", " "))
    label, unit = spec.label, spec.unit
    wm = _WINDOW_RE.match(stat)
    if stat == "days_since":
        if not np.isfinite(value) or value >= F.LOOKBACK_DAYS:
            return _cap(f"no {label} in the last year")
        usual = ("" if not np.isfinite(ref) else " (most accounts: none in the last year)"
                 if ref >= F.LOOKBACK_DAYS else f" (book median {int(ref)} days)")
        return _cap(f"last {label} {int(value)} day{'s' if int(value) != 1 else ''} ago{usual}")
    if stat == "trend":
        return _trend_sentence(et, spec, row, value)
    if stat == "last":
        if not np.isfinite(value):
            return _cap(f"no {label} reading in the last year")
        return _cap(f"latest {label}: {_num(value, unit)}" + median)
    if wm:
        kind, w = wm.group("stat"), wm.group("w")
        if kind == "any":
            return _cap(f"{label} in the last {w} days") if value >= 1 else \
                _cap(f"{label}: not in the last {w} days")
        if kind == "sum":
            n = 0.0 if not np.isfinite(value) else value
            if n == 0:
                return _cap(f"no {label} in the last {w} days{median}")
            return f"{_num(n)} {label} in the last {w} days{median}"
        if not np.isfinite(value):
            return _cap(f"no {label} reading in the last {w} days")
        return _cap(f"{label} averaged {_num(value, unit)} over the last {w} days{median}")
    return _cap(f"{label} ({stat}): {_num(value)}{median}")


def _trend_sentence(et: str, spec: S.SignalSpec, row: pd.Series, value: float) -> str:
    r, p = F.TREND_RECENT_DAYS, F.TREND_PRIOR_DAYS
    label, unit = spec.label, spec.unit
    span = f"in the last {r} days vs the {p // 30} months before"
    if spec.kind == "gauge":
        recent = row.get(F.feature_name(et, f"mean_{r}d"), np.nan)
        recent = float(recent) if pd.notna(recent) else np.nan
        if not np.isfinite(value) or not np.isfinite(recent):
            return _cap(f"{label}: no change measurable {span} (too few readings)")
        before = recent / (1 + value) if value != -1 else np.nan
        word = "rose" if value > 0 else "fell" if value < 0 else "held steady"
        pct = f" {abs(value) * 100:.0f}%" if value != 0 else ""
        return _cap(f"{label} {word}{pct} {span} (from {_num(before, unit)} to "
                    f"{_num(recent, unit)})")
    recent = row.get(F.feature_name(et, f"sum_{r}d"), np.nan)
    recent = float(recent) if pd.notna(recent) else 0.0
    value = 0.0 if not np.isfinite(value) else value
    before = max((recent + 1) / np.exp(value) - 1, 0.0)    # monthly rate before
    if before == 0 and recent == 0:
        return _cap(f"no {label} {span}")
    change = (recent - before) / before if before > 0 else np.inf
    word = "rose" if recent > before else "fell" if recent < before else "held steady"
    pct = "" if word == "held steady" or not np.isfinite(change) else f" {abs(change) * 100:.0f}%"
    return _cap(f"{label} {word}{pct} {span} ({_num(before)} a month before, "
                f"{_num(recent)} in the last {r} days)")


def _contract_sentence(feature: str, row: pd.Series, ref: float) -> str:
    v = row.get(feature, np.nan)
    v = float(v) if v is not None and pd.notna(v) else np.nan
    term = float(row.get(S.TERM_MONTHS, np.nan)) if pd.notna(row.get(S.TERM_MONTHS, np.nan)) \
        else np.nan
    if feature in ("days_to_renewal", "renewal_in_month"):
        d = float(row.get("days_to_renewal", np.nan))
        when = row.get("next_renewal")
        date = f" ({pd.Timestamp(when).date()})" if when is not None and pd.notna(when) else ""
        days = f"{int(d)} day{'s' if int(d) != 1 else ''}" if np.isfinite(d) else "an unknown number of days"
        return _cap(f"{_term_name(term)} renewal in {days}{date}")
    if feature in (S.TERM_MONTHS, "is_monthly"):
        return _cap(f"{_term_name(term)} contract ({_num(term)}-month term)")
    if feature in (S.ARR, S.MRR):
        arr = float(row.get(S.ARR, np.nan))
        return f"ARR {_money(arr)}" + (f" (book median {_money(ref)})"
                                        if feature == S.ARR and np.isfinite(ref) else "")
    if feature == S.DISCOUNT_PCT:
        return "No discount on the current contract" if not v else \
            f"Current contract discounted {_num(v)}%"
    if feature == "tenure_days":
        return f"Customer for {_num(v / 30.4375)} months" if np.isfinite(v) else \
            "Customer tenure unknown"
    if feature == "arr_change_12m":
        if not np.isfinite(v):
            return "No ARR a year ago to compare with (customer for less than a year)"
        word = "grew" if v > 0 else "shrank" if v < 0 else "unchanged"
        return f"ARR {word} {abs(v) * 100:.0f}% over 12 months" if v else \
            "ARR unchanged over 12 months"
    if feature == S.SEATS:
        return f"{_num(v)} seats"
    return f"{feature.replace('_', ' ')}: {_num(v)}"


# ------------------------------------------------------------------ per account
def _top(phi: np.ndarray, groups: np.ndarray, top_n: int, positive: bool):
    """Per row, the column indices of the top ``top_n`` SHAP values of one sign, one per
    group (event type), strongest first."""
    order = np.argsort(-phi if positive else phi, axis=1, kind="stable")
    out = []
    for i in range(phi.shape[0]):
        seen, picks = set(), []
        for j in order[i]:
            v = phi[i, j]
            if (v <= 0) if positive else (v >= 0):
                break
            if groups[j] in seen:
                continue
            seen.add(groups[j])
            picks.append(j)
            if len(picks) == top_n:
                break
        out.append(picks)
    return out


def explain_accounts(model, snapshot: pd.DataFrame, signal_map: S.SignalMap,
                     top_n: int = 3, reference: pd.Series | None = None,
                     include_contract: bool = False, progress: bool = False) -> pd.DataFrame:
    """Per-account explanation of the model's risk.

    Parameters
    ----------
    model : a fitted churnlab survival model (``contributions`` method).
    snapshot : point-in-time features (:func:`churnlab.features.make_snapshot`).
    signal_map : labels and families (``wh.signal_map``).
    top_n : number of drivers and of protective factors per account.
    reference : book medians per feature used in sentences (default: this snapshot's).
    include_contract : if False (default) the drivers and protective factors are signal
        features only (what a CSM can act on) and the contract's own contribution (a
        renewal coming up, a monthly term) is given separately in ``contract_drivers``;
        if True contract features compete with the signals for the top places.

    Returns
    -------
    DataFrame, one row per snapshot row, in snapshot order:

    * ``account_id``;
    * ``drivers`` (list[str]): sentences of the top risk-increasing features, strongest
      first (one per event type), with ``driver_families`` / ``driver_features`` /
      ``driver_shap`` aligned (SHAP on the risk scale);
    * ``protective``, ``protective_families``, ``protective_features``,
      ``protective_shap``: the same for the most risk-lowering features;
    * ``contract_drivers`` (list[str]): the contract features that raise the risk
      (e.g. "Annual renewal in 20 days"), strongest first;
    * ``dominant_family``: signal family (not ``contract``) with the largest summed
      positive SHAP value ("none" if no signal family raises the risk);
    * ``family__<family>`` (float): summed SHAP per family, risk scale;
    * ``risk_score`` (= base + sum of SHAP), ``base_value`` (risk scale);
    * hazard models: ``p_next_month`` (churn probability in the next month),
      ``p_base_month`` (at the base value), and ``pshare__<family>``: the change
      ``p_next_month - p_base_month`` allocated to families (see module doc).
    """
    if not isinstance(snapshot, pd.DataFrame) or S.ACCOUNT_ID not in snapshot.columns:
        raise ExplainInputError(f"snapshot must be a DataFrame with an {S.ACCOUNT_ID!r} column")
    if top_n < 1:
        raise ExplainInputError(f"top_n must be at least 1, got {top_n}")
    snap = snapshot.reset_index(drop=True)
    phi, base = shap_values(model, snap)
    names = list(phi.columns)
    meta = feature_table(names, signal_map)
    fams = meta["family"].to_numpy()
    groups = meta["event_type"].to_numpy()
    if reference is None:
        reference = book_reference(snap, names)
    values = phi.to_numpy()
    is_contract = fams == CONTRACT
    ranked = values if include_contract else np.where(is_contract, 0.0, values)
    ups = _top(ranked, groups, top_n, positive=True)
    downs = _top(ranked, groups, top_n, positive=False)
    contract_ups = _top(np.where(is_contract, values, 0.0), groups, top_n, positive=True)
    iterator = range(len(snap))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="sentences", unit="account")
    rows = []
    records = snap[_sentence_columns(names, [ups, downs, contract_ups], snap)].to_dict("records")
    for i in iterator:
        row = records[i]
        rows.append({
            "drivers": [render_sentence(names[j], row, signal_map, reference) for j in ups[i]],
            "driver_families": [fams[j] for j in ups[i]],
            "driver_features": [names[j] for j in ups[i]],
            "driver_shap": [float(values[i, j]) for j in ups[i]],
            "protective": [render_sentence(names[j], row, signal_map, reference)
                           for j in downs[i]],
            "protective_families": [fams[j] for j in downs[i]],
            "protective_features": [names[j] for j in downs[i]],
            "protective_shap": [float(values[i, j]) for j in downs[i]],
            "contract_drivers": [render_sentence(names[j], row, signal_map, reference)
                                 for j in contract_ups[i]],
        })
    out = pd.DataFrame(rows)
    out.insert(0, S.ACCOUNT_ID, snap[S.ACCOUNT_ID].to_numpy())
    fam = family_contributions(phi, signal_map)
    pos = fam.drop(columns=[c for c in (CONTRACT, "other") if c in fam.columns]).clip(lower=0)
    out["dominant_family"] = np.where(pos.to_numpy().max(axis=1) > 0,
                                      pos.idxmax(axis=1).to_numpy(), "none")
    out["risk_score"] = base + values.sum(axis=1)
    out["base_value"] = base
    for f in fam.columns:
        out[f"family__{f}"] = fam[f].to_numpy()
    alloc = probability_allocation(model, phi, base)
    if alloc is not None:
        out["p_base_month"] = 1 / (1 + np.exp(-base))
        out["p_next_month"] = 1 / (1 + np.exp(-out["risk_score"].to_numpy()))
        pf = family_contributions(alloc, signal_map)
        for f in pf.columns:
            out[f"pshare__{f}"] = pf[f].to_numpy()
    return out


def _sentence_columns(names: Sequence[str], picks: Sequence, snap: pd.DataFrame) -> list[str]:
    """The snapshot columns the chosen features' sentences read (the feature, the
    30-day level a trend is quoted with, the contract calendar)."""
    used = {names[j] for p in picks for row in p for j in row}
    cols = set(used) | {S.TERM_MONTHS, "days_to_renewal", "next_renewal", S.ARR}
    for f in used:
        if f.endswith("__trend"):
            et = f.rsplit("__", 1)[0]
            cols |= {F.feature_name(et, f"mean_{F.TREND_RECENT_DAYS}d"),
                     F.feature_name(et, f"sum_{F.TREND_RECENT_DAYS}d")}
    return [c for c in snap.columns if c in cols]


def book_reference(snapshot: pd.DataFrame, names: Sequence[str]) -> pd.Series:
    """The book's median of each feature at the as-of date (the sentences' reference)."""
    cols = [c for c in names if c in snapshot.columns]
    return snapshot[cols].apply(pd.to_numeric, errors="coerce").median()


# ------------------------------------------------------------------ global
def global_importance(model, snapshot: pd.DataFrame, signal_map: S.SignalMap,
                      phi: pd.DataFrame | None = None) -> pd.DataFrame:
    """Learned weights by family beside the articles' defaults.

    Returns one row per family (every family of the model's features plus
    ``contract``): ``family``, ``mean_abs_shap`` (mean over accounts of the absolute
    summed SHAP of the family, risk scale), ``learned_share`` (0-1, sums to 1 over the
    rows), ``learned_share_core`` (share among the five families the articles weigh,
    NaN elsewhere: the like-for-like comparison), ``default_share`` (the articles'
    weights, 0-1, NaN where none), ``n_features``; sorted by ``learned_share``.
    """
    from churnlab.health import default_weights

    if phi is None:
        phi, _ = shap_values(model, snapshot.reset_index(drop=True))
    fam = family_contributions(phi, signal_map)
    imp = fam.abs().mean()
    counts = pd.Series([feature_family(c, signal_map) for c in phi.columns]).value_counts()
    defaults = default_weights(list(S.DEFAULT_WEIGHT_RANGES))
    out = pd.DataFrame({"family": imp.index, "mean_abs_shap": imp.to_numpy()})
    total = out["mean_abs_shap"].sum()
    out["learned_share"] = out["mean_abs_shap"] / total if total > 0 else np.nan
    core = out["family"].isin(list(defaults.index))
    core_total = out.loc[core, "mean_abs_shap"].sum()
    out["learned_share_core"] = np.where(core, out["mean_abs_shap"] / core_total
                                         if core_total > 0 else np.nan, np.nan)
    out["default_share"] = out["family"].map(defaults).astype(float)
    out["n_features"] = out["family"].map(counts).fillna(0).astype(int)
    return out.sort_values("learned_share", ascending=False).reset_index(drop=True)


def feature_importance(phi: pd.DataFrame, signal_map: S.SignalMap) -> pd.DataFrame:
    """Mean |SHAP| per feature (risk scale) with its family and label, largest first."""
    meta = feature_table(list(phi.columns), signal_map)
    meta["mean_abs_shap"] = phi.abs().mean().to_numpy()
    meta["mean_shap"] = phi.mean().to_numpy()
    total = meta["mean_abs_shap"].sum()
    meta["share"] = meta["mean_abs_shap"] / total if total > 0 else np.nan
    return meta.sort_values("mean_abs_shap", ascending=False).reset_index(drop=True)


# ------------------------------------------------------------------ evaluation only
# Observable signal families of the simulator's shocks (docs/simulator.md): where a
# planted shock should show up in an account's drivers. Evaluation only.
SHOCK_FAMILIES = {
    "champion_left": ("relationship",), "champion_role_changed": ("relationship",),
    "new_leadership": ("relationship",), "merger_acquisition": ("relationship",),
    "budget_cut": ("financial",), "product_gap": ("support",),
    "service_failure": ("support", "sentiment"), "competitor_evaluation": ("competitive",),
    "poor_onboarding": ("lifecycle",),
}


def planted_shocks(truth_dir, as_of, min_effect: float = 0.5,
                   max_age_days: int = 90) -> pd.DataFrame:
    """Evaluation only (reads the simulator's ``truth/``; never used by the pipeline):
    each account's strongest shock that hit in the ``max_age_days`` before ``as_of``
    with an effect of at least ``min_effect`` (logit drop of latent health), with its
    root cause, the families where it should be visible (:data:`SHOCK_FAMILIES`) and
    whether its flag event was emitted (``observed``)."""
    from pathlib import Path

    sh = pd.read_parquet(Path(truth_dir) / "shocks.parquet")
    sh[S.ACCOUNT_ID] = sh[S.ACCOUNT_ID].astype(str)
    as_of = pd.Timestamp(as_of)
    age = (as_of - pd.to_datetime(sh["shock_time"])).dt.days
    keep = sh[(age >= 0) & (age < max_age_days) & (sh["effect_size"] <= -min_effect)].copy()
    keep["age_days"] = age[keep.index]
    keep = keep.sort_values("effect_size").drop_duplicates(S.ACCOUNT_ID)
    keep["families"] = keep["shock_type"].map(lambda t: list(SHOCK_FAMILIES.get(t, ())))
    return keep.reset_index(drop=True)


def shock_hit_rate(explanations: pd.DataFrame, shocks: pd.DataFrame) -> pd.DataFrame:
    """Per shock type (and overall): accounts with a planted shock, how many name one
    of its families among their drivers (``hits``), the rate and its 95% Wilson
    interval. Evaluation only."""
    from churnlab.signals import wilson_interval

    m = shocks.merge(explanations[[S.ACCOUNT_ID, "driver_families"]], on=S.ACCOUNT_ID)
    m["hit"] = [bool(set(a) & set(b)) for a, b in zip(m["families"], m["driver_families"])]
    rows = [("all", m)] + list(m.groupby("shock_type"))
    out = pd.DataFrame([{"shock_type": k, "accounts": len(g), "hits": int(g["hit"].sum())}
                        for k, g in rows])
    out["rate"] = out["hits"] / out["accounts"].where(out["accounts"] > 0)
    out["lo"], out["hi"] = wilson_interval(out["hits"], out["accounts"])
    return out


# ------------------------------------------------------------------ figures
def _fig(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _feature_label(name: str, signal_map: S.SignalMap) -> str:
    et = feature_event_type(name)
    if et in signal_map:
        stat = name.rsplit("__", 1)[1].replace("_", " ")
        return f"{signal_map[et].label} ({stat})"
    return name.replace("__", " ").replace("_", " ")


def plot_family_weights(importance: pd.DataFrame):
    """Learned weights (share of mean |SHAP| per family) beside the articles' default
    weights: left, the five families the articles weigh (shares among them); right,
    every family and the contract (shares of the whole)."""
    from churnlab.plots import FAMILY_COLOURS, INK, NEUTRAL

    fig = _fig(11, 4.2)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.2])
    core = importance.dropna(subset=["default_share"]).sort_values("default_share")
    y = np.arange(len(core))
    left.barh(y + 0.2, core["learned_share_core"], height=0.4, label="learned (SHAP)",
              color=[FAMILY_COLOURS.get(f, NEUTRAL) for f in core["family"]])
    left.barh(y - 0.2, core["default_share"], height=0.4, label="articles' default",
              color="white", edgecolor=INK, hatch="//")
    left.set_yticks(y, core["family"])
    left.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    left.set_title("Five core families: learned vs default weights")
    left.legend(loc="lower right", frameon=False)
    allf = importance.sort_values("learned_share")
    right.barh(np.arange(len(allf)), allf["learned_share"],
               color=[FAMILY_COLOURS.get(f, NEUTRAL) for f in allf["family"]])
    right.set_yticks(np.arange(len(allf)), allf["family"])
    right.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    right.set_title("Every family and the contract calendar (share of mean |SHAP|)")
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_beeswarm(phi: pd.DataFrame, snapshot: pd.DataFrame, signal_map: S.SignalMap,
                  top: int = 12, max_points: int = 3000, random_state: int = 0):
    """SHAP beeswarm of the ``top`` features by mean |SHAP|: one dot per account
    (risk scale; right = raises risk), coloured by the feature's value (rank within
    the book, blue low to red high; grey when missing)."""
    order = phi.abs().mean().sort_values(ascending=False).index[:top][::-1]
    rng = np.random.default_rng(random_state)
    idx = np.arange(len(phi))
    if len(idx) > max_points:
        idx = np.sort(rng.choice(idx, max_points, replace=False))
    fig = _fig(9, 0.45 * len(order) + 1.5)
    ax = fig.add_subplot()
    for k, name in enumerate(order):
        x = phi[name].to_numpy()[idx]
        v = pd.to_numeric(snapshot[name], errors="coerce").to_numpy()[idx] \
            if name in snapshot.columns else np.full(len(idx), np.nan)
        colour = pd.Series(v).rank(pct=True).to_numpy()
        y = k + rng.uniform(-0.3, 0.3, len(idx))
        missing = np.isnan(colour)
        ax.scatter(x[missing], y[missing], s=5, color="#bdbdbd", alpha=0.6, linewidths=0)
        sc = ax.scatter(x[~missing], y[~missing], s=5, c=colour[~missing], cmap="coolwarm",
                        vmin=0, vmax=1, alpha=0.7, linewidths=0)
    ax.axvline(0, color="#263238", lw=0.8)
    ax.set_yticks(range(len(order)), [_feature_label(n, signal_map)[:55] for n in order])
    ax.set_xlabel("SHAP value (log-odds of next month's churn; right = riskier)")
    ax.set_title(f"What drives the model: the {len(order)} strongest inputs")
    bar = fig.colorbar(sc, ax=ax, ticks=[0, 1], aspect=40)
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_dependence(phi: pd.DataFrame, snapshot: pd.DataFrame, features: Sequence[str],
                    signal_map: S.SignalMap):
    """SHAP dependence: each feature's value (x) against its SHAP value (y), one panel
    per feature."""
    n = len(features)
    fig = _fig(3.6 * min(n, 3), 3.0 * int(np.ceil(n / 3)))
    axes = np.atleast_1d(fig.subplots(int(np.ceil(n / 3)), min(n, 3))).ravel()
    for ax, name in zip(axes, features):
        x = pd.to_numeric(snapshot[name], errors="coerce")
        ax.scatter(x, phi[name], s=5, alpha=0.5, color="#1f77b4", linewidths=0)
        ax.axhline(0, color="#263238", lw=0.8)
        ax.set_xlabel(_feature_label(name, signal_map)[:45], fontsize=8)
        ax.set_ylabel("SHAP (risk scale)", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig


def plot_waterfall(phi_row: pd.Series, base: float, snapshot_row: pd.Series,
                   signal_map: S.SignalMap, top: int = 8, title: str = ""):
    """One account's walk from the base value to its risk score: the ``top`` largest
    SHAP values as bars (red raises, green lowers the risk), the rest summed."""
    from churnlab.plots import PALETTE

    order = phi_row.abs().sort_values(ascending=False).index
    shown = list(order[:top])
    rest = float(phi_row.drop(shown).sum())
    labels = [f"{_feature_label(n, signal_map)[:42]} = {_short_value(snapshot_row.get(n))}"
              for n in shown] + [f"{len(order) - len(shown)} other inputs"]
    values = [float(phi_row[n]) for n in shown] + [rest]
    fig = _fig(9, 0.42 * len(values) + 1.6)
    ax = fig.add_subplot()
    start = base
    for k, v in enumerate(values):
        ax.barh(len(values) - 1 - k, v, left=start, height=0.6,
                color=PALETTE["red"] if v > 0 else PALETTE["green"])
        ax.text(start + v, len(values) - 1 - k, f" {v:+.2f}", va="center", fontsize=8,
                ha="left" if v > 0 else "right")
        start += v
    path = base + np.concatenate([[0.0], np.cumsum(values)])
    pad = 0.08 * max(float(path.max() - path.min()), 1e-6)
    ax.set_xlim(float(path.min()) - 2 * pad, float(path.max()) + 2 * pad)
    ax.axvline(base, color="#9e9e9e", lw=0.8, ls="--")
    ax.axvline(start, color="#263238", lw=1.0)
    ax.set_yticks(range(len(values)), labels[::-1], fontsize=8)
    ax.set_xlabel(f"risk (log-odds of next month's churn): base {base:.2f} -> {start:.2f}")
    ax.set_title(title or "Why this account's risk is what it is")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _short_value(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or pd.isna(v):
        return "n/a"
    return _num(float(v)) if isinstance(v, (int, float, np.number)) else str(v)


def plot_root_cause_mix(tri: pd.DataFrame):
    """Accounts and expected ARR lost before renewal by root cause (triage table)."""
    fig = _fig(9, 3.4)
    left, right = fig.subplots(1, 2)
    g = tri.groupby("root_cause").agg(accounts=(S.ACCOUNT_ID, "size"),
                                      arr=("expected_arr_lost_before_renewal", "sum"))
    g = g.sort_values("arr")
    left.barh(g.index, g["accounts"], color="#546e7a")
    left.set_title("Accounts by root cause")
    right.barh(g.index, g["arr"], color="#c62828")
    right.xaxis.set_major_formatter(lambda v, _: f"${v / 1e3:,.0f}k")
    right.set_title("Expected ARR lost before renewal")
    right.set_yticks([])
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def findings_markdown(importance: pd.DataFrame, tri: pd.DataFrame, top: int = 5) -> str:
    """Findings written from the numbers (learned vs default weights, the queue)."""
    core = importance.dropna(subset=["default_share"]).set_index("family")
    lines = ["## Findings", ""]
    first = importance.iloc[0]
    lines.append(f"- The strongest driver family is **{first['family']}** "
                 f"({first['learned_share']:.0%} of mean |SHAP|).")
    if len(core):
        gaps = (core["learned_share_core"] - core["default_share"]).sort_values()
        up, down = gaps.index[-1], gaps.index[0]
        lines.append(f"- Among the articles' five families, the data weighs **{up}** "
                     f"{core.loc[up, 'learned_share_core']:.0%} vs the default "
                     f"{core.loc[up, 'default_share']:.0%}, and **{down}** "
                     f"{core.loc[down, 'learned_share_core']:.0%} vs "
                     f"{core.loc[down, 'default_share']:.0%}.")
    red = tri[tri["tier"] == "red"]
    lines.append(f"- {len(red)} of {len(tri)} accounts are in the red tier "
                 f"({tri['tier_source'].iloc[0] if len(tri) else 'model'} tier), holding "
                 f"${red['expected_arr_lost_before_renewal'].sum():,.0f} of ARR expected to "
                 "be lost before renewal.")
    mix = tri.loc[tri["tier"] != "green", "root_cause"].value_counts(normalize=True)
    if len(mix):
        lines.append("- Root causes of the red/yellow accounts: " + ", ".join(
            f"{k.replace('_', ' ')} {v:.0%}" for k, v in mix.items()) + ".")
    lines.append(f"- Expected ARR saved if the top {top} accounts are worked: "
                 f"${tri['expected_arr_saved'].head(top).sum():,.0f} "
                 f"(of ${tri['expected_arr_saved'].sum():,.0f} for the whole book).")
    disc = int((tri["discount_max_pct"] > 0).sum())
    lines.append(f"- {disc} accounts qualify for a discount; "
                 f"{int(tri['needs_exec_approval'].sum())} would need executive approval.")
    return "\n".join(lines)
