"""Each event type's adjusted direction: its effect on churn with the others held fixed.

A raw lift compares churners and stayers one signal at a time, so an event type that
comes with overall activity looks protective even when, activity held fixed, it raises
the risk (and a harmless one looks protective or risky through what it travels with).

:func:`adjusted_effects` fits one multivariable Cox model on the monthly landmarks of the
active base in the analysis year (every landmark of a sampled account that saw the whole
latest window; churn within ``hr_horizon_days``; Wald intervals from account-clustered
robust errors, lifelines ``cluster_col``). One input per event type of the map:

* counts: the current level, ``log(1 + events per 30 days)`` in the latest window;
* gauges: the mean reading (dense, pre-aggregated gauges: in the latest window),
  imputed with the median, with a "no reading" indicator;
* flags: occurred in the analysis horizon;
* lifecycle steps (roles ``first_value`` / ``onboarding``): reached before the landmark,
  unknown (the average) for accounts that started before the data does;

plus ``log(tenure)`` with indicators of the first 90, 90-180 and 180-365 days (early
churn and onboarding surges have a shape of their own) and, with more than one term, a
monthly-term indicator. Inputs are standardised: each hazard ratio is per standard
deviation. The fit is maximum partial likelihood; a ridge penalty (lifelines
``penalizer`` 0.1) is used only when that fails, because small penalties (0.01, 0.003)
gave unstable, sign-flipping estimates on the demo's 36 correlated event types
(measured: pricing questions HR 0.40 at 0.01, 0.86 at 0.003, 1.08 unpenalised).

The p-values get Benjamini-Hochberg q-values together with every other test of the
analysis (:func:`churnlab.signals.analysis.analyse_signals`). An event type is named a
risk (HR > 1) or protective (HR < 1) signal when its q-value is below ``alpha`` and the
effect is material (HR per standard deviation beyond 1.05 or below 1/1.05); otherwise
its adjusted direction is ``none``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.features import snapshot as F
from churnlab.signals.cohort import FIRST_DAY, REF_DATE
from churnlab.signals.derive import observable_days_of

log = logging.getLogger(__name__)

PENALIZER = 0.0      # see the module doc: lifelines' small ridge penalties were unstable
FALLBACK_PENALIZER = 0.1
TENURE_STEPS = (0, 90, 180, 365)      # tenure bands (days) held fixed beside log(tenure)
COLUMNS = ["event_type", "adj_hr", "adj_hr_lo", "adj_hr_hi", "adj_p", "adj_note"]
TENURE, MONTHLY, CLUSTER = "_log_tenure", "_monthly_term", "_account"


def design(ev, signal_map) -> tuple[pd.DataFrame, dict[str, str]]:
    """One standardised input per event type (see module doc) and the event types left
    out with their reason."""
    refs, aggs = ev.landmarks, ev.landmark_aggregates
    n_win = len(ev.windows)
    days = observable_days_of(refs)
    started_inside = (pd.to_datetime(refs["span_start"])
                      >= pd.to_datetime(refs[FIRST_DAY])).to_numpy()
    lo0, hi0 = ev.windows[0]
    recent_span = np.clip(np.minimum(days, hi0) - lo0, 1, None).astype(float)
    cols, skipped = {}, {}
    for spec in signal_map:
        et = spec.event_type
        if et in ev.first_reached:
            # reached before the landmark; unknown (the average) for accounts that
            # started before the data does, whose first steps the data cannot show
            reached = (~np.isnan(ev.first_reached[et])).astype(float)
            seen = started_inside.astype(bool)
            if not seen.any():
                skipped[et] = "no account started inside the data's window"
                continue
            cols[et] = np.where(seen, reached, reached[seen].mean())
        elif et in aggs:
            a = aggs[et]
            s = sum(a[f"w{i}_s"].fillna(0).to_numpy(float) for i in range(n_win))
            n = sum(a[f"w{i}_n"].fillna(0).to_numpy(float) for i in range(n_win))
            occ = sum(a[f"w{i}_occ"].fillna(0).to_numpy(float) for i in range(n_win))
            if spec.kind == "gauge":
                if spec.grain != "event":          # a dense gauge: its current level
                    s = a["w0_s"].fillna(0).to_numpy(float)
                    n = a["w0_n"].fillna(0).to_numpy(float)
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
                if np.isnan(mean).all():
                    skipped[et] = "no reading"
                    continue
                cols[et] = np.where(np.isnan(mean), np.nanmedian(mean), mean)
                if np.isnan(mean).any() and not np.isnan(mean).all():
                    cols[f"{et}__no_reading"] = np.isnan(mean).astype(float)
            elif spec.kind == "flag":
                cols[et] = (occ > 0).astype(float)
            else:           # the current level: events per 30 days in the latest window
                recent = a["w0_s"].fillna(0).to_numpy(float)
                cols[et] = np.log1p(np.maximum(recent, 0) * 30.0 / recent_span)
        else:
            skipped[et] = "no events"
    start = pd.to_datetime(refs["span_start"])
    tenure = (pd.to_datetime(refs[REF_DATE]) - start).dt.days.clip(lower=1).to_numpy(float)
    cols[TENURE] = np.log(tenure)
    for lo, hi in zip(TENURE_STEPS[:-1], TENURE_STEPS[1:]):   # early tenure has a shape
        cols[f"_tenure_{lo}_{hi}"] = ((tenure >= lo) & (tenure < hi)).astype(float)
    if S.TERM_MONTHS in refs.columns and refs[S.TERM_MONTHS].nunique() > 1:
        cols[MONTHLY] = (refs[S.TERM_MONTHS].to_numpy(float) <= 1).astype(float)
    x = pd.DataFrame(cols)
    for c in list(x.columns):
        sd = x[c].std()
        if not np.isfinite(sd) or sd == 0:
            if c in signal_map:
                skipped[c] = "the same for every account"
            x = x.drop(columns=c)
        else:
            x[c] = (x[c] - x[c].mean()) / sd
    return x, skipped


def adjusted_effects(ev, signal_map, penalizer: float = PENALIZER) -> pd.DataFrame:
    """Per event type of the map: the adjusted hazard ratio per standard deviation with
    its 95% interval and p-value (NaN with a note where it cannot be estimated)."""
    from lifelines import CoxPHFitter

    types = [s.event_type for s in signal_map]
    empty = pd.DataFrame({"event_type": types, "adj_hr": np.nan, "adj_hr_lo": np.nan,
                          "adj_hr_hi": np.nan, "adj_p": np.nan,
                          "adj_note": "no landmarks to fit on"})
    if ev.landmarks is None or not len(ev.landmarks) or not ev.landmark_aggregates:
        return empty[COLUMNS]
    x, skipped = design(ev, signal_map)
    y = ev.landmarks[[F.DURATION, F.EVENT]].reset_index(drop=True).astype(float)
    ids = ev.landmarks[S.ACCOUNT_ID].astype(str).reset_index(drop=True)
    # only landmarks that saw the whole latest window: a level scaled up from a few days
    # of a brand-new account is noise that travels with its (higher) early churn
    whole = observable_days_of(ev.landmarks) >= ev.windows[0][1]
    x, y, ids = (v[whole].reset_index(drop=True) for v in (x, y, ids))
    x = x.loc[:, x.std() > 0]
    if y[F.EVENT].sum() < 10 or x.shape[1] == 0:
        empty["adj_note"] = f"too few churns to adjust ({int(y[F.EVENT].sum())})"
        return empty[COLUMNS]
    data = pd.concat([x, y, ids.rename(CLUSTER)], axis=1)
    cph, errors = None, []
    for pen in dict.fromkeys((penalizer, FALLBACK_PENALIZER)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cph = CoxPHFitter(penalizer=pen).fit(data, F.DURATION, F.EVENT,
                                                     cluster_col=CLUSTER)
            break
        except Exception as exc:  # noqa: BLE001 - retried penalised, then reported
            errors.append(f"{type(exc).__name__}: {exc}")
    if cph is None:
        log.warning("adjusted directions: the multivariable model did not fit (%s)", errors)
        empty["adj_note"] = f"the multivariable model did not fit: {errors[-1]}"
        return empty[COLUMNS]
    summ = cph.summary
    rows = []
    for et in types:
        if et in summ.index:
            r = summ.loc[et]
            rows.append([et, float(np.exp(r["coef"])), float(np.exp(r["coef lower 95%"])),
                         float(np.exp(r["coef upper 95%"])), float(r["p"]), ""])
        else:
            rows.append([et, np.nan, np.nan, np.nan, np.nan, skipped.get(et, "not estimated")])
    return pd.DataFrame(rows, columns=COLUMNS)


def direction_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per event type of an :func:`~churnlab.signals.analysis.analyse_signals` table: the
    raw view (its most significant lift test) beside the adjusted effect, and the
    direction the analysis names it by (the adjusted one; the raw lift where the
    adjusted effect could not be estimated)."""
    if table.empty:
        return pd.DataFrame(columns=["event_type", "label", "family", "raw_lift",
                                     "raw_direction", "adj_hr", "adj_hr_lo", "adj_hr_hi",
                                     "adj_q", "adj_direction", "named_as"])
    # the raw view of "more of it": occurrence and rise signals (a fall, a level below
    # peers or a missed step mean less of it, the opposite direction)
    more = table[table["kind"].isin(("occurred", "rose"))]
    if more.empty:
        more = table
    best = more.loc[more.groupby("event_type")["p_value"].idxmin().dropna()]
    out = best[["event_type", "label", "family", "lift", "direction", "adj_hr", "adj_hr_lo",
                "adj_hr_hi", "adj_q", "adj_direction"]].rename(
        columns={"lift": "raw_lift", "direction": "raw_direction"})
    out["named_as"] = np.where(out["adj_hr"].notna(), out["adj_direction"],
                               out["raw_direction"])
    return out.sort_values("adj_hr", ascending=False).reset_index(drop=True)


def confounding_candidate(table: pd.DataFrame) -> str | None:
    """The event type whose raw lift and adjusted effect disagree most plainly: raw
    protective but adjusted risk first, then raw risk but adjusted none or protective,
    then raw protective but adjusted none; None when raw and adjusted views agree."""
    d = direction_table(table)
    for raw, adj in (("protective", ("risk",)), ("risk", ("none", "protective")),
                     ("protective", ("none",))):
        hit = d[(d["raw_direction"] == raw) & d["adj_direction"].isin(adj)]
        if len(hit):
            return str(hit.iloc[0]["event_type"])
    return None
