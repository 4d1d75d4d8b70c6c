"""Expansion: contract changes from subscriptions, each expansion's last value milestone,
a stratified comparison of accounts with and without each milestone, and a propensity
score with the reasons behind it.

* **Contract changes** come from consecutive subscription rows of an account in one
  service span (the next row starts before the previous one ends plus the grace
  period): MRR up is an expansion, down a contraction (changes under 1% are ignored);
  ``at_renewal`` when the previous row ran a whole number of its terms.
* **Attribution** (the article's rule): each expansion is credited to the last value
  milestone (the signal map's roles ``qbr``, ``value_report``, ``expert_service``,
  ``onboarding``, ``first_value``) in the ``window`` days before it, or to none.
  Attribution is bookkeeping, not causation: the milestones go to the accounts that were
  doing well anyway.
* **Comparison**: at monthly as-of dates, accounts with the milestone in the window
  before against accounts without, for expanding in the next ``window`` days; the
  Mantel-Haenszel ratio within strata of segment x monthly-or-longer term x plan-limit
  use (or ARR) tercile, beside the crude ratio. Closer to an effect than attribution,
  still not a randomised one (health is not in the strata).
* **Propensity**: an L2 logistic regression of expanding in the next ``window`` days on
  the snapshot features at past as-of dates; each candidate's reasons are its largest
  positive contributions (coefficient x standardised value), in the signal map's words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from churnlab.data import contract as S
from churnlab.stats import MedianImputer, mantel_haenszel_rr

MILESTONE_ROLES = ("qbr", "value_report", "expert_service", "onboarding", "first_value")
WINDOW_DAYS = 120
MIN_CHANGE = 0.01
EXPANDED = "expanded_next"


def contract_changes(subscriptions: pd.DataFrame, grace_days: int = S.GRACE_DAYS
                     ) -> pd.DataFrame:
    """One row per MRR change between consecutive rows of a service span."""
    cols = [S.ACCOUNT_ID, "changed_at", "mrr_before", "mrr_after", "arr_change", "kind",
            "at_renewal"]
    s = subscriptions.sort_values([S.ACCOUNT_ID, S.START_DATE, S.SUBSCRIPTION_ID])
    prev = s.groupby(S.ACCOUNT_ID).shift(1)
    start, p_start = pd.to_datetime(s[S.START_DATE]), pd.to_datetime(prev[S.START_DATE])
    p_end = pd.to_datetime(prev[S.END_DATE])
    same_span = prev[S.MRR].notna() & (p_end.isna() | (start <= p_end
                                                       + pd.Timedelta(days=grace_days)))
    before, after = prev[S.MRR].astype(float), s[S.MRR].astype(float)
    rel = (after - before) / before.where(before > 0)
    keep = same_span & (rel.abs() >= MIN_CHANGE)
    if not keep.any():
        return pd.DataFrame(columns=cols)
    months = ((p_end - p_start).dt.days / 30.4375).round()
    term = prev[S.TERM_MONTHS].astype(float).clip(lower=1)
    out = pd.DataFrame({S.ACCOUNT_ID: s[S.ACCOUNT_ID], "changed_at": start,
                        "mrr_before": before, "mrr_after": after,
                        "arr_change": 12 * (after - before),
                        "kind": np.where(after > before, "expansion", "contraction"),
                        "at_renewal": (months % term == 0) | (term == 1)})[keep]
    return out[cols].reset_index(drop=True)


def milestone_types(signal_map) -> tuple[dict[str, str], list[str]]:
    """(event type -> role) for the value milestones the signal map declares, and the
    ones left out because they are pre-aggregated streams (a weekly count of reports
    opened arrives every week: it is a level, not a milestone completed)."""
    out, streams = {}, []
    for role in MILESTONE_ROLES:
        for spec in signal_map.by_role(role):
            if spec.grain != "event":
                streams.append(spec.event_type)
            else:
                out[spec.event_type] = role
    return out, streams


def attribute(changes: pd.DataFrame, milestones: pd.DataFrame,
              window_days: int = WINDOW_DAYS) -> pd.DataFrame:
    """Each expansion with its last milestone (event_type, when, days before) in the
    window before it; ``milestones``: account_id, event_time, event_type."""
    exp = changes[changes["kind"] == "expansion"].copy()
    exp["changed_at"] = pd.to_datetime(exp["changed_at"])
    if exp.empty or milestones.empty:
        return exp.assign(milestone=None, milestone_at=pd.NaT, days_before=np.nan)
    m = milestones.rename(columns={S.EVENT_TIME: "milestone_at", S.EVENT_TYPE: "milestone"})
    m["milestone_at"] = pd.to_datetime(m["milestone_at"])
    m[S.ACCOUNT_ID] = m[S.ACCOUNT_ID].astype(exp[S.ACCOUNT_ID].dtype)
    out = pd.merge_asof(exp.sort_values("changed_at"), m.sort_values("milestone_at"),
                        left_on="changed_at", right_on="milestone_at", by=S.ACCOUNT_ID,
                        direction="backward", allow_exact_matches=False,
                        tolerance=pd.Timedelta(days=window_days))
    out["days_before"] = (out["changed_at"] - out["milestone_at"]).dt.days
    return out.sort_values([S.ACCOUNT_ID, "changed_at"]).reset_index(drop=True)


def label_outcomes(rows: pd.DataFrame, changes: pd.DataFrame, landmark: str,
                   window_days: int = WINDOW_DAYS) -> pd.Series:
    """Whether each (account, as-of date) row expands in the next ``window_days``."""
    exp = changes[changes["kind"] == "expansion"][[S.ACCOUNT_ID, "changed_at"]]
    m = rows[[S.ACCOUNT_ID, landmark]].reset_index().merge(exp, on=S.ACCOUNT_ID)
    t = pd.to_datetime(m[landmark])
    hit = (m["changed_at"] >= t) & (m["changed_at"] < t + pd.Timedelta(days=window_days))
    got = set(m.loc[hit, "index"])
    return pd.Series(rows.index.isin(got), index=rows.index)


def strata(rows: pd.DataFrame, limit_col: str | None) -> pd.Series:
    """segment x monthly-or-longer term x first-year-or-later x tercile of plan-limit use
    (ARR without a plan-limit signal)."""
    term = np.where(rows[S.TERM_MONTHS].astype(float) > 1, "longer", "monthly")
    new = np.where(rows["tenure_days"].astype(float) < 365, "first year", "later")
    term = pd.Series(term, index=rows.index) + "|" + new
    level = rows[limit_col] if limit_col and limit_col in rows else rows[S.ARR]
    band = (pd.qcut(level.rank(method="first"), 3, labels=["low", "mid", "high"])
            if len(rows) >= 3 else pd.Series("all", index=rows.index))
    seg = rows[S.SEGMENT].astype(str) if S.SEGMENT in rows else "all"
    return seg + "|" + term + "|" + band.astype(str)


def compare_milestones(rows: pd.DataFrame, types: dict[str, str], limit_col: str | None,
                       window_days: int = WINDOW_DAYS) -> pd.DataFrame:
    """Per milestone: expansion rate with and without it in the window before the as-of
    date, the crude and the stratified (Mantel-Haenszel) ratio with its interval."""
    out = []
    st = strata(rows, limit_col)
    y = rows[EXPANDED].to_numpy(bool)
    for event_type, role in types.items():
        col = f"{event_type}__days_since"
        if col not in rows:
            continue
        x = (rows[col] <= window_days).to_numpy()
        n1, n0 = int(x.sum()), int((~x).sum())
        if n1 == 0 or n0 == 0:
            continue
        a, c = int((x & y).sum()), int((~x & y).sum())
        g = pd.DataFrame({"s": st.to_numpy(), "x": x, "y": y})
        t = g.groupby("s").apply(lambda d: pd.Series({
            "a": (d.x & d.y).sum(), "n1": d.x.sum(), "c": (~d.x & d.y).sum(),
            "n0": (~d.x).sum()}), include_groups=False)
        rr, lo, hi, p = mantel_haenszel_rr(t["a"], t["n1"], t["c"], t["n0"])
        out.append({"milestone": event_type, "role": role, "rows_with": n1,
                    "rows_without": n0, "rate_with": a / n1, "rate_without": c / n0,
                    "crude_ratio": (a / n1) / (c / n0) if c else np.nan,
                    "adjusted_ratio": rr, "adjusted_lo": lo, "adjusted_hi": hi,
                    "p_value": p})
    return pd.DataFrame(out)


def fit_propensity(rows: pd.DataFrame, features, c: float = 0.1, seed: int = 0):
    """L2 logistic regression of expanding in the window (None without both classes)."""
    y = rows[EXPANDED].to_numpy(int)
    if len(np.unique(y)) < 2:
        return None
    clf = make_pipeline(MedianImputer(),
                        StandardScaler(), LogisticRegression(C=c, max_iter=3000,
                                                             random_state=seed))
    clf.features_ = list(features)
    return clf.fit(rows[clf.features_].to_numpy(float), y)


def propensity_reasons(model, rows: pd.DataFrame, labels: dict, k: int = 2) -> list[str]:
    """Each row's ``k`` largest positive contributions, in words."""
    imp, scale, lr = model.steps[0][1], model.steps[1][1], model.steps[2][1]
    z = scale.transform(imp.transform(rows[model.features_].to_numpy(float)))
    contrib = z * lr.coef_[0]
    out = []
    for row in contrib:
        top = [j for j in np.argsort(-row)[:k] if row[j] > 0]
        out.append("; ".join(labels.get(model.features_[j], model.features_[j])
                             for j in top) or "no single signal stands out")
    return out
