"""Building the simulator's output tables from the world's records."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.sim.effects import (
    CSM_FIRST,
    CSM_LAST,
    EXPANSION_LEVELS,
    INDUSTRIES,
    NAME_A,
    NAME_B,
    NAME_C,
    NO_WARNING_REASONS,
    REGION_MIX,
    REGIONS,
    SIGNAL_EFFECTS,
    SUFFIX,
)
from churnlab.sim.params import (
    ARM_CONTROL,
    ARM_TREATMENT,
    BASE_HEALTH,
    CHURN_DATE,
    CHURN_PATH,
    CHURN_PATHS,
    CHURN_PROBABILITY,
    CHURNED,
    EARLY_TERMINATION,
    EFFECT_SIZE,
    ENT,
    EVALUATING,
    EVALUATION_OUTCOME,
    EVALUATION_START,
    INTERVENTION_ARM,
    INTERVENTION_PLAYBOOK,
    LATENT_HEALTH,
    MID,
    MONTH_START,
    MONTHLY_HAZARD,
    N_EVALUATIONS,
    NEVER,
    NO_ACTION,
    NO_WARNING_CHURN,
    NO_WARNING_PENDING,
    NO_WARNING_REASON,
    OBSERVED,
    ORACLE_RISK_90D,
    PLANNED_CHURN_DATE,
    PLAYBOOKS,
    POOR_ONBOARDING,
    Q_AFTER,
    Q_BEFORE,
    ROOT_CAUSE,
    SECONDS_PER_DAY,
    SHOCK_TIME,
    SHOCK_TYPE,
    SMB,
    TRUE_EFFECT,
    SimulatedSaaS,
    effect_if,
    expected_relative_effect,
)
from churnlab.sim.parts import Calendar, arrow_strings, choice, health_score, make_ids
from churnlab.sim.world import World


def _plan(seats: np.ndarray) -> np.ndarray:
    return np.select([seats < 10, seats < 50, seats < 250],
                     ["starter", "team", "business"], "enterprise").astype(object)


def _dates(cal: Calendar, days) -> np.ndarray:
    """Day offsets as datetime64[ns] dates; NEVER (or beyond) becomes NaT."""
    days = np.asarray(days, dtype=np.int64)
    out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.abs(days) < 10**6
    out[ok] = (np.datetime64(cal.start.to_datetime64(), "ns")
               + days[ok] * np.int64(SECONDS_PER_DAY * 1_000_000_000))
    return out


def _cat(chunks: list, dtype=None) -> np.ndarray:
    if not chunks:
        return np.zeros(0, dtype=dtype or float)
    return np.concatenate([np.asarray(c) for c in chunks])


def build(w: World, n_months: int, seed: int, kinds: dict) -> SimulatedSaaS:
    cal, n, rng = w.cal, w.n, w.attr_rng
    D = cal.n_days
    # ids follow signup order
    order = np.argsort(w.created_day, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    ids = make_ids("A", n)
    acc_id = ids[rank]

    # ---- accounts
    names = (np.array(NAME_A)[rng.integers(0, len(NAME_A), n)].astype(object)
             + np.array(NAME_B)[rng.integers(0, len(NAME_B), n)].astype(object) + " "
             + np.array(NAME_C)[rng.integers(0, len(NAME_C), n)].astype(object) + " "
             + np.array(SUFFIX)[rng.integers(0, len(SUFFIX), n)].astype(object))
    n_csm = int(np.clip(10 + n // 3000, 10, 25))
    csm_names = np.array([f"{CSM_FIRST[i]}.{CSM_LAST[(7 * i + 3) % len(CSM_LAST)]}"
                          for i in range(n_csm)], dtype=object)
    csm_seg = np.array([(SMB, SMB, MID, MID, ENT)[i % 5] for i in range(n_csm)])
    csm = rng.integers(0, n_csm, n)
    own = rng.random(n) < 0.8  # most accounts sit with a CSM of their segment
    for s in range(3):
        pool = np.flatnonzero(csm_seg == s)
        m = own & (w.seg == s)
        csm[m] = pool[rng.integers(0, len(pool), m.sum())]
    accounts = pd.DataFrame({
        S.ACCOUNT_ID: ids,
        S.NAME: names[order],
        S.SEGMENT: np.array(S.SEGMENTS, dtype=object)[w.seg[order]],
        S.INDUSTRY: np.array(INDUSTRIES, dtype=object)[rng.integers(0, len(INDUSTRIES), n)],
        S.REGION: np.array(REGIONS, dtype=object)[choice(rng, REGION_MIX, n)],
        S.CSM_OWNER: csm_names[csm[order]],
        S.CREATED_AT: _dates(cal, w.created_day[order]),
        S.IS_STRATEGIC_LOGO: w.strategic[order],
        S.IS_REFERENCE: w.reference[order],
        S.EXPANSION_POTENTIAL: np.array(EXPANSION_LEVELS, dtype=object)[w.expansion[order]],
    })

    # ---- subscriptions: history + rows closed in the window + rows open at the end
    hist = np.array(w.history, dtype=float).reshape(-1, 7)
    c = w.sub_cols
    open_ = np.flatnonzero(w.end_day == NEVER)
    open_end = np.where(w.term[open_] == 1, NEVER, cal.day(w.nb_mi[open_], w.dom[open_]))
    sub_acc = np.concatenate([hist[:, 0].astype(np.int64), _cat(c["acc"], np.int64), open_])
    sub_start = np.concatenate([hist[:, 1].astype(np.int64), _cat(c["start"], np.int64),
                                w.row_start[open_]])
    sub_end = np.concatenate([hist[:, 2].astype(np.int64), _cat(c["end"], np.int64), open_end])
    sub_mrr = np.concatenate([hist[:, 3], _cat(c["mrr"]),
                              w.list_mrr[open_] * (1 - w.discount[open_] / 100)])
    sub_term = np.concatenate([hist[:, 4].astype(np.int64), _cat(c["term"], np.int64),
                               w.term[open_]])
    sub_disc = np.concatenate([hist[:, 5], _cat(c["disc"]), w.discount[open_]])
    sub_seats = np.concatenate([hist[:, 6].astype(np.int64), _cat(c["seats"], np.int64),
                                w.seats[open_]])
    o = np.lexsort((sub_start, rank[sub_acc]))
    subscriptions = pd.DataFrame({
        S.SUBSCRIPTION_ID: make_ids("S", len(o), 7),
        S.ACCOUNT_ID: acc_id[sub_acc[o]],
        S.PLAN: _plan(sub_seats[o]),
        S.START_DATE: _dates(cal, sub_start[o]),
        S.END_DATE: _dates(cal, sub_end[o]),
        S.MRR: np.round(sub_mrr[o], 2),
        S.TERM_MONTHS: sub_term[o],
        S.DISCOUNT_PCT: sub_disc[o],
        S.SEATS: sub_seats[o],
    })

    # ---- events (a survey answered or an invoice paid after the churn is never seen)
    acc, sec, typ, val = w.log.arrays(rank)
    seen = sec < np.minimum(w.end_day[acc], D) * SECONDS_PER_DAY
    if not seen.all():
        acc, sec, typ, val = acc[seen], sec[seen], typ[seen], val[seen]
    naive = _naive_association(w, acc, sec, typ, val, kinds)
    events = pd.DataFrame({
        S.ACCOUNT_ID: arrow_strings(rank[acc], ids),
        S.EVENT_TIME: cal.timestamps(sec),
        S.EVENT_TYPE: arrow_strings(typ, w.log.event_types),
        S.VALUE: val,
    })
    del acc, sec, typ, val

    # ---- interventions
    ic = w.iv_cols
    iv_acc = _cat(ic["acc"], np.int64)
    iv_arm = _cat(ic["arm"], np.int64)
    iv_day = _cat(ic["day"], np.int64)
    o = np.lexsort((rank[iv_acc], iv_day))
    playbook_names = np.array((NO_ACTION,) + PLAYBOOKS, dtype=object)
    iv_ids = make_ids("I", len(o))
    outcome = np.array(w.iv_outcome, dtype=object)
    interventions = pd.DataFrame({
        S.INTERVENTION_ID: iv_ids,
        S.ACCOUNT_ID: acc_id[iv_acc[o]],
        S.STARTED_AT: _dates(cal, iv_day[o]),
        S.PLAYBOOK: playbook_names[iv_arm[o]],
        S.DISCOUNT_PCT: _cat(ic["discount"])[o],
        S.ARM: np.where(iv_arm[o] == 0, ARM_CONTROL, ARM_TREATMENT).astype(object),
        S.OUTCOME: outcome[o] if outcome.size else outcome,
    })
    roots = np.array(S.ROOT_CAUSES, dtype=object)
    q_before, q_after = _cat(ic["q_before"])[o], _cat(ic["q_after"])[o]
    truth_interventions = pd.DataFrame({
        S.INTERVENTION_ID: iv_ids,
        S.ACCOUNT_ID: acc_id[iv_acc[o]],
        S.STARTED_AT: _dates(cal, iv_day[o]),
        S.ARM: interventions[S.ARM].to_numpy(),
        S.PLAYBOOK: interventions[S.PLAYBOOK].to_numpy(),
        S.DISCOUNT_PCT: interventions[S.DISCOUNT_PCT].to_numpy(),
        ROOT_CAUSE: roots[_cat(ic["root"], np.int64)[o]],
        Q_BEFORE: q_before,
        Q_AFTER: q_after,
        TRUE_EFFECT: q_before - q_after,
        S.OUTCOME: interventions[S.OUTCOME].to_numpy(),
    })
    # the date the episode's churn would happen (if not saved): the read-out's truth
    ep_planned = _cat(w.episodes["planned"], np.int64)
    ep_of_iv = _cat(ic["episode"], np.int64)[o]
    truth_interventions[PLANNED_CHURN_DATE] = _dates(cal, ep_planned[ep_of_iv])
    # each play's expected cut of this account's churn probability, had it been given
    # (the uplift models' truth): q_before x the planted effect for its cause and segment
    iv_root, iv_seg = _cat(ic["root"], np.int64)[o], w.seg[iv_acc[o]]
    truth_interventions[S.SEGMENT] = np.asarray(S.SEGMENTS, dtype=object)[iv_seg]
    # (times the account's responsiveness when futility is planted)
    respond = _cat(ic["respond"])[o]
    for name in PLAYBOOKS:
        truth_interventions[effect_if(name)] = q_before * respond * expected_relative_effect(
            w.p, name, iv_root, iv_seg)

    # ---- truth: accounts
    churned = (w.end_day < D) & (w.end_day >= 0)
    last_iv = {}
    for j, a in enumerate(iv_acc[o]):
        last_iv[int(a)] = j
    li = np.array([last_iv.get(i, -1) for i in range(n)])
    has_iv = li >= 0
    path = np.array(CHURN_PATHS, dtype=object)
    truth_accounts = pd.DataFrame({
        S.ACCOUNT_ID: acc_id,
        S.SEGMENT: np.array(S.SEGMENTS, dtype=object)[w.seg],
        S.TERM_MONTHS: w.term,
        CHURNED: churned,
        CHURN_DATE: _dates(cal, np.where(churned, w.end_day, NEVER)),
        CHURN_PATH: np.where(churned, path[w.churn_path], None),
        ROOT_CAUSE: np.where(churned & (w.churn_root >= 0), roots[np.maximum(w.churn_root, 0)],
                             None),
        NO_WARNING_CHURN: churned & (w.churn_path == 2),
        NO_WARNING_REASON: np.where(churned & (w.churn_path == 2),
                                    np.array(NO_WARNING_REASONS, dtype=object)[w.nw_reason],
                                    None),
        EARLY_TERMINATION: churned & w.early_term,
        BASE_HEALTH: np.round(health_score(w.base), 2),
        POOR_ONBOARDING: w.poor_onboarding,
        N_EVALUATIONS: w.n_eval,
        INTERVENTION_ARM: np.where(has_iv, truth_interventions[S.ARM].to_numpy()[li], None)
        if len(o) else None,
        INTERVENTION_PLAYBOOK: np.where(has_iv, truth_interventions[S.PLAYBOOK].to_numpy()[li],
                                        None) if len(o) else None,
        TRUE_EFFECT: np.where(has_iv, truth_interventions[TRUE_EFFECT].to_numpy()[li], np.nan)
        if len(o) else np.nan,
    }).iloc[order].reset_index(drop=True)

    # ---- truth: shocks
    sc = w.shock_cols
    sh_acc = _cat(sc["acc"], np.int64)
    sh_day = _cat(sc["day"], np.int64)
    o = np.lexsort((sh_day, rank[sh_acc]))
    shock_names = np.array([s.shock_type for s in w.shock_specs], dtype=object)
    truth_shocks = pd.DataFrame({
        S.ACCOUNT_ID: acc_id[sh_acc[o]],
        SHOCK_TIME: _dates(cal, sh_day[o]),
        SHOCK_TYPE: shock_names[_cat(sc["type"], np.int64)[o]],
        ROOT_CAUSE: roots[_cat(sc["root"], np.int64)[o]],
        EFFECT_SIZE: np.round(_cat(sc["effect"])[o], 4),
        OBSERVED: _cat(sc["observed"], bool)[o],
    })

    # ---- truth: account-months
    mc = w.month_cols
    m_acc = _cat(mc["acc"], np.int64)
    m_day = _cat(mc["day"], np.int64)
    o = np.lexsort((m_day, rank[m_acc]))
    truth_months = pd.DataFrame({
        S.ACCOUNT_ID: arrow_strings(rank[m_acc[o]], ids),
        MONTH_START: _dates(cal, m_day[o]),
        LATENT_HEALTH: np.round(_cat(mc["health"])[o], 2),
        EVALUATING: _cat(mc["evaluating"], bool)[o],
        PLANNED_CHURN_DATE: _dates(cal, _cat(mc["planned"], np.int64)[o]),
        NO_WARNING_PENDING: _cat(mc["nw"], bool)[o],
        MONTHLY_HAZARD: _cat(mc["hazard"])[o],
        ORACLE_RISK_90D: _cat(mc["risk90"])[o],
    })

    # ---- truth: evaluating episodes
    ep = w.episodes
    ep_acc = _cat(ep["acc"], np.int64)
    ep_start = _cat(ep["start"], np.int64)
    o = np.lexsort((ep_start, rank[ep_acc]))
    truth_evaluations = pd.DataFrame({
        S.ACCOUNT_ID: acc_id[ep_acc[o]],
        EVALUATION_START: _dates(cal, ep_start[o]),
        PLANNED_CHURN_DATE: _dates(cal, _cat(ep["planned"], np.int64)[o]),
        ROOT_CAUSE: roots[_cat(ep["root"], np.int64)[o]],
        LATENT_HEALTH: np.round(_cat(ep["health"])[o], 2),
        CHURN_PROBABILITY: np.asarray(w.episode_q)[o] if len(o) else np.zeros(0),
        EVALUATION_OUTCOME: np.asarray(w.episode_outcome, dtype=object)[o]
        if len(o) else np.zeros(0, dtype=object),
    })

    params = {"n_accounts": n, "n_months": n_months, "seed": seed,
              "start": cal.start.date().isoformat(), "end": cal.end.date().isoformat(),
              **w.p.to_dict()}
    sim = SimulatedSaaS(accounts, subscriptions, events, interventions, truth_accounts,
                        truth_shocks, truth_months, truth_evaluations, truth_interventions,
                        {}, params)
    sim.signal_effects = _signal_effects(kinds, naive)
    return sim


def _naive_association(w: World, acc, sec, typ, val, kinds: dict) -> dict:
    """What a naive analyst sees over the last 12 months of data: accounts active at its
    start, churners (churned in it) against stayers; per event type the ratio of event
    rates per active day (counts, flags) or the difference of mean values (gauges)."""
    cal = w.cal
    D = cal.n_days
    t0 = int(cal.day(cal.month_of(np.array([D - 1]))[0] - 11, 1)) if D > 400 else 0
    t0 = max(t0, 0)
    base = (w.acq_day <= t0) & (w.end_day > t0)
    churner = base & (w.end_day < D)
    stayer = base & ~churner
    exposure = (np.minimum(w.end_day, D) - t0).astype(float)
    inwin = sec >= t0 * SECONDS_PER_DAY
    a, t, v = acc[inwin], typ[inwin], val[inwin]
    keep = base[a]
    a, t, v = a[keep], t[keep], v[keep]
    n_types = len(w.log.event_types)
    counts = np.bincount(a.astype(np.int64) * n_types + t, minlength=w.n * n_types)
    sums = np.bincount(a.astype(np.int64) * n_types + t, weights=v, minlength=w.n * n_types)
    counts = counts.reshape(w.n, n_types)
    sums = sums.reshape(w.n, n_types)
    out = {}
    for j, name in enumerate(w.log.event_types):
        entry: dict[str, Any] = {"window_start": (cal.start + pd.Timedelta(days=t0)).date()
                                 .isoformat(),
                                 "n_churners": int(churner.sum()), "n_stayers": int(stayer.sum())}
        if kinds[name] == "gauge":
            mc = sums[churner, j].sum() / max(counts[churner, j].sum(), 1)
            ms = sums[stayer, j].sum() / max(counts[stayer, j].sum(), 1)
            entry["naive_mean_churners"] = round(float(mc), 4)
            entry["naive_mean_stayers"] = round(float(ms), 4)
        else:
            rc = counts[churner, j].sum() / max(exposure[churner].sum(), 1)
            rs = counts[stayer, j].sum() / max(exposure[stayer].sum(), 1)
            if rs > 0 and rc > 0 or rs > 0 and churner.any():
                ratio = float(rc / rs)
                entry["naive_rate_ratio"] = round(ratio, 4)
                entry["naive_direction"] = ("lower_among_churners" if ratio < 0.9 else
                                            "higher_among_churners" if ratio > 1.1 else
                                            "no_difference")
            else:
                entry["naive_rate_ratio"] = None
                entry["naive_direction"] = "not_measurable"
        out[name] = entry
    # the confounded signal per active user: tickets per weekly-active-user-week
    codes = w.log.codes
    if "ticket_opened" in codes and "weekly_active_users" in codes:
        tk, wau = codes["ticket_opened"], codes["weekly_active_users"]
        per_user = []
        for group in (churner, stayer):
            per_user.append(counts[group, tk].sum() / max(sums[group, wau].sum(), 1.0))
        out["ticket_opened"]["per_active_user_rate_ratio"] = (
            round(float(per_user[0] / per_user[1]), 4) if per_user[1] > 0 else None)
    return out


def _signal_effects(kinds: dict, naive: dict) -> dict:
    out = {}
    for name in kinds:
        entry = {"family": None, **SIGNAL_EFFECTS[name]}
        entry.update(naive.get(name, {}))
        out[name] = entry
    return out
