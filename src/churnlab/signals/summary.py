"""Signal findings in words and tables: the summary, families and lead times."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.signals.cohort import IS_CHURNER
from churnlab.signals.derive import capitalise, observable_days_of
from churnlab.signals.evidence import SignalEvidence


# ============================================================================== summary
def _fmt_days(x: float) -> str:
    return f"{x:.0f}"


def _sentence(row: pd.Series) -> str:
    label = capitalise(row["label"])
    window = f"{row['window']} days before"
    if row["direction"] == "risk":
        parts = [f"{label} preceded {row['coverage_arr_any']:.0%} of churned ARR"]
        if not np.isnan(row["lead_median"]):
            parts.append(f"median {_fmt_days(row['lead_median'])} days before churn "
                         f"(IQR {_fmt_days(row['lead_q25'])}-{_fmt_days(row['lead_q75'])})")
        parts.append(f"{row['lift']:.1f}x more common than among renewals {window} "
                     f"(95% CI {row['lift_lo']:.1f}-{row['lift_hi']:.1f})")
        return ", ".join(parts) + "."
    if row["direction"] == "protective":
        return (f"{label} was {1 / row['lift']:.1f}x less common among churners than "
                f"among renewals {window} (95% CI {1 / row['lift_hi']:.1f}-"
                f"{1 / row['lift_lo']:.1f}): a sign of health, not of risk.")
    if np.isnan(row["lift"]):
        return f"{label}: never observed in this cohort."
    return (f"{label}: no reliable difference between churners and renewals "
            f"(lift {row['lift']:.2f}x {window}, q = {row['q_value']:.2f}).")


# signal kinds whose appearance means *less* of the event type (its adjusted direction
# is reversed to name them)
LESS_OF_IT = ("fell", "below_peers", "not_reached")


def _named_as(row: pd.Series) -> str:
    """The direction the analysis names the signal by: the event type's adjusted
    direction, turned round for signals that mean less of it; the raw lift's where no
    adjusted effect could be estimated."""
    adj = row.get("adj_direction")
    if pd.isna(row.get("lift")):
        return "none"                   # never observed: nothing to name
    if not isinstance(adj, str) or pd.isna(row.get("adj_hr")):
        return row["direction"]
    less = row["kind"] in LESS_OF_IT or (row["kind"] == "alert" and "below" in row["label"])
    if adj == "none" or not less:
        return adj
    return "protective" if adj == "risk" else "risk"


def _adjusted_clause(row: pd.Series) -> str:
    """What the multivariable view adds when it disagrees with the raw lift."""
    named, raw = row["named_as"], row["direction"]
    if named == raw or pd.isna(row.get("adj_hr")):
        return ""
    hr = (f"the event type's hazard ratio {row['adj_hr']:.2f} per standard deviation, 95% "
          f"CI {row['adj_hr_lo']:.2f}-{row['adj_hr_hi']:.2f}")
    if named == "none":
        return (f" With the other event types and tenure held fixed it shows no effect of "
                f"its own ({hr}): it travels with them, so it is not named a "
                f"{raw} signal.")
    if raw == "none":
        return (f" With the other event types and tenure held fixed the difference shows "
                f"({hr}): it is named a {named} signal.")
    return (f" With the other event types and tenure held fixed it points the other way "
            f"({hr}): it is named a {named} signal.")


def summarise_signals(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per signal, ranked by how strongly and how early it warns.

    For each signal the headline window is, among the windows significant after
    Benjamini-Hochberg (``q < alpha``), the one with the strongest evidence (largest
    lower bound of the lift for a risk signal, smallest upper bound for a protective
    one); without a significant window, the one with the smallest p-value.

    Risk signals come first, ordered by ``warning_score = log(lift_lo) * (1 +
    lead_median / horizon)``: the conservative strength of the lift, raised by how
    early (median lead time, relative to the longest window) the signal appears.
    Protective signals follow (by ``-log(lift_hi)``), then signals without a
    reliable difference (by p-value).

    Returns
    -------
    DataFrame with rank, signal, event_type, family, label, kind, direction (the raw
    lift's), named_as (the event type's adjusted direction, turned round for signals that
    mean less of it, :func:`_named_as`), window (headline),
    earliest_window (furthest significant window in the headline direction), lift,
    lift_lo, lift_hi, q_value, prev_churners, prev_stayers, coverage_arr_any,
    lead_median, lead_q25, lead_q75, lead_n, hr, hr_lo, hr_hi, hr_q, lift_mh,
    lift_mh_lo, lift_mh_hi, q_mh, warning_score and sentence.
    """
    horizon = table["window_end"].max()
    rows = []
    for signal, part in table.groupby("signal", sort=False):
        sig = part[part["q_value"] < alpha]
        risk, prot = sig[sig["lift"] > 1], sig[sig["lift"] < 1]
        if len(risk):
            head, direction = risk.loc[risk["lift_lo"].idxmax()], "risk"
            earliest = risk.loc[risk["window_end"].idxmax(), "window"]
        elif len(prot):
            head, direction = prot.loc[prot["lift_hi"].idxmin()], "protective"
            earliest = prot.loc[prot["window_end"].idxmax(), "window"]
        else:
            best = part["p_value"].idxmin() if part["p_value"].notna().any() else part.index[0]
            head, direction, earliest = part.loc[best], "none", None
        row = head.copy()
        row["direction"], row["earliest_window"] = direction, earliest
        lead = row["lead_median"] if not np.isnan(row["lead_median"]) else 0.0
        if direction == "risk":
            row["warning_score"] = np.log(row["lift_lo"]) * (1 + lead / horizon)
        elif direction == "protective":
            row["warning_score"] = np.log(row["lift_hi"])
        else:
            row["warning_score"] = np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    group = out["direction"].map({"risk": 0, "protective": 1, "none": 2})
    key = np.where(out["direction"] == "risk", -out["warning_score"],
                   np.where(out["direction"] == "protective", out["warning_score"],
                            out["p_value"]))
    out = (out.assign(_g=group.to_numpy(), _k=key).sort_values(["_g", "_k", "signal"])
           .drop(columns=["_g", "_k"]).reset_index(drop=True))
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    if "adj_direction" not in out.columns:
        out["adj_hr"], out["adj_direction"] = np.nan, "none"
    out["named_as"] = out.apply(_named_as, axis=1)
    out["sentence"] = out.apply(_sentence, axis=1) + out.apply(_adjusted_clause, axis=1)
    cols = ["rank", "signal", "event_type", "family", "label", "kind", "direction",
            "named_as", "window",
            "earliest_window", "lift", "lift_lo", "lift_hi", "p_value", "q_value",
            "prev_churners", "prev_stayers", "coverage_arr_any", "lead_median", "lead_q25",
            "lead_q75", "lead_n", "hr", "hr_lo", "hr_hi", "hr_q", "lift_mh", "lift_mh_lo",
            "lift_mh_hi", "q_mh", "warning_score", "sentence"]
    cols += [c for c in ("adj_hr", "adj_hr_lo", "adj_hr_hi", "adj_q", "adj_direction")
             if c in out.columns]
    return out[cols]


def summarise_families(summary: pd.DataFrame) -> pd.DataFrame:
    """Per signal family: how many signals warn (risk), protect, or show nothing, and
    the family's leading signal (its best-ranked one)."""
    rows = []
    for family, part in summary.groupby("family", sort=False):
        best = part.sort_values("rank").iloc[0]
        rows.append(dict(family=family, n_signals=len(part),
                         n_risk=int((part["direction"] == "risk").sum()),
                         n_protective=int((part["direction"] == "protective").sum()),
                         best_rank=int(best["rank"]), leading_signal=best["signal"],
                         sentence=best["sentence"]))
    return pd.DataFrame(rows).sort_values("best_rank").reset_index(drop=True)


def lead_time_table(evidence: SignalEvidence, signals: Sequence[str] | None = None
                    ) -> pd.DataFrame:
    """Per churner and signal: days between the signal's first appearance within the
    horizon and the churn (churners observable over the whole horizon only).

    Returns columns signal, label, family, account_id, lead_days, arr.
    """
    ev = evidence
    cohort = ev.cohort
    churner = cohort[IS_CHURNER].to_numpy() & (observable_days_of(cohort) >= ev.horizon)
    wanted = set(signals) if signals is not None else None
    frames = []
    for sig in ev.signals:
        if wanted is not None and sig.signal not in wanted:
            continue
        first = ev.first_age[sig.signal]
        m = churner & ~np.isnan(first)
        frames.append(pd.DataFrame({"signal": sig.signal, "label": sig.label,
                                    "family": sig.family,
                                    S.ACCOUNT_ID: cohort[S.ACCOUNT_ID].to_numpy()[m],
                                    "lead_days": first[m],
                                    S.ARR: cohort[S.ARR].to_numpy()[m]}))
    if not frames:
        return pd.DataFrame(columns=["signal", "label", "family", S.ACCOUNT_ID, "lead_days", S.ARR])
    return pd.concat(frames, ignore_index=True)
