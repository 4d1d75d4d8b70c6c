"""Read the save experiments out of a warehouse, and plan the next one.

``run_experiments(wh, as_of, model)`` gathers what the read-out needs (the interventions
started before the end of observation, the service span each one fell in, the contract at
assignment and, with a model, the account's risk score before the play started) and
calls :func:`churnlab.actions.experiments.read_out`. ``plan_next`` sizes a new test at the
current inflow of enrolled accounts.

The covariate is the model's 180-day churn probability on the snapshot at the first day
of the assignment's month (only data before that day): measured before assignment, so
adjusting for it cannot bias the difference; it only narrows the interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.actions.experiment_stats import accounts_per_arm
from churnlab.actions.experiments import (
    Guards,
    Readout,
    arm_names,
    enrol,
    read_out,
)
from churnlab.data import contract as S
from churnlab.data.lifecycle import active_at_dates_sql, churn_outcomes, observation_end
from churnlab.features import snapshot as F
from churnlab.features.snapshot import make_snapshots

PRE_RISK = "pre_assignment_risk"


def _contracts(wh, dates) -> pd.DataFrame:
    """The contract of each account with a play on the day the play started (only those
    (account, day) pairs: every active account at every start day is accounts x days,
    ~20 GB at 50,000 accounts)."""
    if not len(dates):
        return pd.DataFrame(columns=[S.ACCOUNT_ID, S.STARTED_AT, S.ARR, "tenure_days"])
    only = (f"EXISTS (SELECT 1 FROM {S.INTERVENTIONS} i WHERE i.{S.ACCOUNT_ID} = "
            f"s.{S.ACCOUNT_ID} AND CAST(i.{S.STARTED_AT} AS DATE) = d.{S.STARTED_AT})")
    c = wh.query(active_at_dates_sql(sorted(dates), name=S.STARTED_AT, only=only))
    return c[[S.ACCOUNT_ID, S.STARTED_AT, S.ARR, "tenure_days"]]


def assignment_snapshots(wh, enrolment: pd.DataFrame, history=None) -> pd.DataFrame:
    """The feature snapshot of each enrolled account at the first day of its assignment's
    month (only data before that day), aligned to ``enrolment``'s rows (missing where
    the account had no snapshot then). ``history``: feature rows already built from the
    same data, or their Parquet file (``make_snapshots(known=...)``)."""
    month = enrolment[S.STARTED_AT].dt.to_period("M").dt.to_timestamp()
    snaps = make_snapshots(wh, sorted(month.unique()), accounts=enrolment[S.ACCOUNT_ID],
                           known=history) \
        if len(enrolment) else pd.DataFrame(
        columns=[S.ACCOUNT_ID, F.LANDMARK])
    keys = pd.DataFrame({S.ACCOUNT_ID: enrolment[S.ACCOUNT_ID].to_numpy(),
                         F.LANDMARK: month.to_numpy()}, index=enrolment.index)
    out = keys.reset_index().merge(snaps, on=[S.ACCOUNT_ID, F.LANDMARK], how="left")
    return out.set_index("index").reindex(enrolment.index)


def _pre_assignment_risk(model, snaps: pd.DataFrame) -> pd.Series:
    """logit of the model's P(churn within 180 days) before assignment (NaN where the
    account had no snapshot then)."""
    have = snaps["next_renewal"].notna() if "next_renewal" in snaps else snaps.index == -1
    risk = pd.Series(np.nan, index=snaps.index)
    if have.any():
        p = model.predict_horizons(snaps[have].reset_index(drop=True), horizons=(180,))
        p = np.clip(p["p_churn_180d"].to_numpy(float), 1e-4, 1 - 1e-4)
        risk[have] = np.log(p / (1 - p))
    return risk


def run_experiments(wh, as_of=None, model=None, guards: Guards = Guards()) -> Readout:
    """The read-out of the interventions started before ``as_of`` less the grace period
    (the last day a churn can be confirmed at ``as_of``)."""
    as_of = observation_end(wh) if as_of is None else pd.Timestamp(as_of)
    if S.INTERVENTIONS not in wh.tables:
        return Readout(False, "The data have no interventions table: there are no save "
                       "experiments to read out.", pd.DataFrame(), pd.DataFrame(),
                       pd.DataFrame(), guards=guards)
    end = as_of - pd.Timedelta(days=S.GRACE_DAYS)
    iv = wh.query(f"SELECT * FROM {S.INTERVENTIONS} WHERE {S.STARTED_AT} < "
                  f"DATE '{end.date().isoformat()}'")
    names = arm_names(iv)
    spans = churn_outcomes(wh, obs_end=as_of)
    dates = pd.to_datetime(iv[S.STARTED_AT]).dt.normalize().unique()
    enrolment = enrol(iv, spans, _contracts(wh, dates), end, guards.readout_days, names)
    covariate = None
    notes = []
    if model is not None and names is not None and len(enrolment):
        enrolment[PRE_RISK] = _pre_assignment_risk(model, assignment_snapshots(wh, enrolment))
        covariate = PRE_RISK
    elif names is not None:
        notes.append("no model given: the risk differences are not adjusted for the "
                     "accounts' risk before assignment (pass --model to narrow them)")
    dropped = iv[S.ACCOUNT_ID].nunique() - len(enrolment)
    if dropped > 0:
        notes.append(f"{dropped} account(s) with a play were not customers on its start "
                     "date and are left out")
    out = read_out(enrolment, names is not None, guards, covariate)
    out.notes = notes + out.notes
    return out


@dataclass(frozen=True)
class Plan:
    effect: float              # absolute fall in churn risk to detect
    p_control: float           # churn risk without the play at the read-out horizon
    inflow_per_month: float    # accounts enrolled per month lately
    per_arm: int
    arms: int
    variance_removed: float
    months_to_enrol: float
    readout_days: int

    def sentence(self) -> str:
        if not np.isfinite(self.months_to_enrol):
            return (f"To detect a {100 * self.effect:.0f}-point fall from a "
                    f"{self.p_control:.0%} churn "
                    f"risk a test needs {self.per_arm} accounts per arm; no account was "
                    "enrolled in the last six months, so no enrolment time can be given.")
        return (f"To detect a {100 * self.effect:.0f}-point fall in {self.readout_days}-day "
                f"churn risk "
                f"(from {self.p_control:.0%} without the play) with 80% power, a test of "
                f"{self.arms - 1} play(s) against control needs {self.per_arm} accounts per "
                f"arm ({self.per_arm * self.arms} in all): {self.months_to_enrol:.1f} months "
                f"of enrolment at the current {self.inflow_per_month:.1f} at-risk accounts "
                f"a month, then {self.readout_days} days to read out"
                + (f" (the pre-assignment risk removes {self.variance_removed:.0%} of the "
                   "variance)" if self.variance_removed >= 0.01 else "") + ".")


def plan_next(readout: Readout, effect: float = 0.10, arms: int = 2,
              months_back: int = 6) -> Plan | None:
    """Size a new test from the read-out: the control's risk at the read-out horizon (all
    enrolled when not randomised), the recent enrolment rate and the covariate's gain."""
    e = readout.enrolment
    if e is None or e.empty:
        return None
    h = readout.guards.readout_days
    rows = readout.arms[readout.arms["horizon"] == h] if len(readout.arms) else pd.DataFrame()
    if readout.randomised and len(rows):
        p0 = float(rows["churn_risk_control"].iloc[0])
        vr = float(np.nan_to_num(rows["variance_removed"].clip(lower=0).mean()))
    else:
        done = e[e["followed_days"] >= h]
        p0 = float((done["churned"] & (done["days"] < h)).mean()) if len(done) else 0.3
        vr = 0.0
    last = e[S.STARTED_AT].max()
    recent = e[e[S.STARTED_AT] > last - pd.DateOffset(months=months_back)]
    inflow = len(recent) / months_back
    n = accounts_per_arm(p0, min(effect, p0 - 1e-3) if p0 > effect else p0 / 2,
                         comparisons=arms - 1, variance_reduction=vr)
    months = n * arms / inflow if inflow > 0 else float("inf")
    return Plan(effect if p0 > effect else p0 / 2, p0, inflow, n, arms, vr, months, h)

