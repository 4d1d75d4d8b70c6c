"""Expansion from a warehouse: what grew, which milestone came before, how accounts with
and without each milestone compare, and who is likely to expand next (see
:mod:`churnlab.actions.expansion`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churnlab.actions.expansion import (
    EXPANDED,
    WINDOW_DAYS,
    attribute,
    compare_milestones,
    contract_changes,
    fit_propensity,
    label_outcomes,
    milestone_types,
    propensity_reasons,
)
from churnlab.data import contract as S
from churnlab.data.lifecycle import observation_end
from churnlab.features import snapshot as F
from churnlab.features.landmarks import monthly_dates
from churnlab.features.snapshot import feature_columns, make_snapshot, make_snapshots
from churnlab.fmt import iso_date, money_short
from churnlab.stats import account_sample

# the propensity model is fitted on about this many account-months (a seeded sample of
# whole accounts past it): a 50,000-account book has ~350k over 12 months, whose fit was
# the report's memory peak; the held-out AUC is still judged on every late row
PROPENSITY_MAX_ROWS = 100_000


@dataclass
class Expansion:
    as_of: pd.Timestamp
    changes: pd.DataFrame          # contract changes in the last 12 months
    attributed: pd.DataFrame       # expansions with their last milestone
    comparison: pd.DataFrame       # per milestone: with vs without, crude and stratified
    candidates: pd.DataFrame       # active accounts by propensity x ARR, with reasons
    propensity_auc: float = np.nan  # on the latest as-of dates, trained on earlier ones
    notes: list = field(default_factory=list)
    window_days: int = WINDOW_DAYS

    def summary(self) -> str:
        c = self.changes
        if c.empty:
            return ("No expansion or contraction in the last 12 months: the subscriptions "
                    "show no change of MRR within a service span.")
        up, down = c[c["kind"] == "expansion"], c[c["kind"] == "contraction"]
        a = self.attributed
        credited = a["milestone"].notna().sum() if len(a) else 0
        lines = [f"In the 12 months to {iso_date(self.as_of)}, {len(up):,} expansions added "
                 f"{money_short(up['arr_change'].sum())} ARR and {len(down):,} contractions "
                 f"took {money_short(-down['arr_change'].sum())}; "
                 f"{int(up['at_renewal'].sum()):,} of the expansions came at a renewal."]
        if len(a):
            lines.append(f"{credited:,} of {len(a):,} expansions had a value milestone in the "
                         f"{self.window_days} days before (credited to the last one); "
                         "attribution is bookkeeping, not proof that the milestone caused it.")
        return " ".join(lines)


def _milestone_events(wh, types: dict, as_of) -> pd.DataFrame:
    if not types:
        return pd.DataFrame(columns=[S.ACCOUNT_ID, S.EVENT_TIME, S.EVENT_TYPE])
    names = ", ".join("'" + t.replace("'", "''") + "'" for t in types)
    return wh.query(f"SELECT {S.ACCOUNT_ID}, {S.EVENT_TIME}, {S.EVENT_TYPE} FROM {S.EVENTS} "
                    f"WHERE {S.EVENT_TYPE} IN ({names}) AND {S.EVENT_TIME} < "
                    f"TIMESTAMP '{iso_date(as_of)}'")


def run_expansion(wh, as_of=None, window_days: int = WINDOW_DAYS, months: int = 12,
                  top: int = 15, snapshot: pd.DataFrame | None = None,
                  history: pd.DataFrame | None = None,
                  max_fit_rows: int = PROPENSITY_MAX_ROWS) -> Expansion:
    """The expansion analysis at ``as_of``. ``snapshot``: the features at ``as_of``
    when already built; ``history``: feature rows already built from the same data
    (the landmark dataset), reused for the monthly dates it holds."""
    as_of = observation_end(wh) if as_of is None else pd.Timestamp(as_of)
    notes = []
    subs = wh.query(f"SELECT * FROM {S.SUBSCRIPTIONS} WHERE {S.START_DATE} < "
                    f"DATE '{iso_date(as_of)}'")
    all_changes = contract_changes(subs)
    since = as_of - pd.DateOffset(months=months)
    changes = all_changes[all_changes["changed_at"] >= since].reset_index(drop=True)
    types, streams = milestone_types(wh.signal_map)
    if streams:
        notes.append(f"{', '.join(streams)}: a pre-aggregated stream (a count every week), "
                     "not a milestone completed: not used for attribution")
    if not types:
        notes.append("the signal map names no value milestone (roles qbr, value_report, "
                      "expert_service, onboarding, first_value): expansions are not attributed")
    attributed = attribute(changes, _milestone_events(wh, types, as_of), window_days)
    # as-of dates whose next window is complete before as_of
    last = (as_of - pd.Timedelta(days=window_days)).to_period("M").to_timestamp()
    dates = [d for d in monthly_dates(last - pd.DateOffset(months=months - 1), last)
             if d >= pd.Timestamp(subs[S.START_DATE].min())] if len(subs) else []
    rows = make_snapshots(wh, dates, known=history) if dates else pd.DataFrame()
    comparison, candidates, auc = pd.DataFrame(), pd.DataFrame(), np.nan
    if len(rows):
        rows[EXPANDED] = label_outcomes(rows, all_changes, F.LANDMARK, window_days).to_numpy()
        limit = wh.signal_map.role("plan_limit")
        comparison = compare_milestones(rows, types, f"{limit}__last" if limit else None,
                                        window_days)
        features = feature_columns(rows)
        late = rows[F.LANDMARK] >= sorted(rows[F.LANDMARK].unique())[-min(3, len(dates))]
        fit_rows = account_sample(rows, max_fit_rows)
        if len(fit_rows) < len(rows):
            notes.append(f"the propensity model was fitted on {len(fit_rows):,} of "
                         f"{len(rows):,} account-months (a seeded sample of whole accounts)")
        early = account_sample(rows[~late], max_fit_rows)
        early_model = fit_propensity(early, features) if len(early) else None
        if early_model is not None and rows.loc[late, EXPANDED].nunique() == 2:
            auc = float(roc_auc_score(rows.loc[late, EXPANDED], early_model.predict_proba(
                rows.loc[late, features].to_numpy(float))[:, 1]))
        model = fit_propensity(fit_rows, features)
        if model is None:
            notes.append("no expansion in the comparison window: no propensity score")
        else:
            now = make_snapshot(wh, as_of) if snapshot is None else snapshot
            p = model.predict_proba(now[features].to_numpy(float))[:, 1]
            labels = {f: _label(f, wh.signal_map) for f in features}
            cand = now[[S.ACCOUNT_ID, S.ARR]].assign(p_expand=p)
            cand["expected_arr_upside"] = cand["p_expand"] * cand[S.ARR]
            cand = cand.sort_values("expected_arr_upside", ascending=False).head(top)
            cand["reason"] = propensity_reasons(model, now.loc[cand.index], labels)
            candidates = cand.reset_index(drop=True)
    return Expansion(as_of, changes, attributed, comparison, candidates, auc, notes,
                     window_days)


def _label(feature: str, signal_map) -> str:
    event, _, stat = feature.partition("__")
    spec = signal_map.signals.get(event)
    if spec is None:
        return feature.replace("_", " ")
    words = {"days_since": "recent", "trend": "rising", "last": "high"}.get(
        stat, stat.replace("_", " "))
    return f"{spec.label} ({words})"
