"""Simulated products unlike the demo (``churnlab simulate --profile NAME``), each with truth.

The mechanism is in :mod:`churnlab.sim.profile_specs`. A profile world is monthly and
vectorised across accounts; events are emitted as daily counts (one row per account, event
type and day with ``value`` = the count), gauges as one row per reading. Accounts have
integer ids. The folder written by :func:`write_profile` has the input tables (Parquet or
CSV), the profile's ``signal_map.yaml`` and ``truth/`` (``accounts.parquet``,
``signal_effects.yaml``, ``params.json``), as the demo's folder does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from churnlab.data import contract as S
from churnlab.errors import InputError
from churnlab.sim.params import (
    CHURN_DATE,
    CHURNED,
    PARAMS_FILE,
    SIGNAL_EFFECTS_FILE,
    TRUTH_DIR,
)
from churnlab.sim.profile_specs import PROFILES, EventSpec, Profile
from churnlab.storage import atomic_dir

MONTH_DAYS = 30.4375
FIRST_VALUE = "first_value_reached"
SHORT_MONTHS = 6


@dataclass
class ProfileWorld:
    """The input tables, the signal map and the truth of one profile world."""

    profile: Profile
    tables: dict[str, pd.DataFrame]
    signal_map: dict
    truth_accounts: pd.DataFrame
    signal_effects: dict
    params: dict

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.params["end"])


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _add_months(days: np.ndarray, k: int) -> np.ndarray:
    """datetime64[D] plus k calendar months (day of month clipped, as pandas does)."""
    return (pd.DatetimeIndex(days) + pd.DateOffset(months=k)).to_numpy("datetime64[D]")


def _map_entry(spec: EventSpec, declared: bool) -> dict:
    entry = {"family": spec.family, "kind": spec.kind, "label": spec.label, **spec.extra}
    if spec.role:
        entry["role"] = spec.role
    if declared and spec.beta != 0:
        entry["direction"] = spec.true_direction
    return entry


def profile_signal_map(profile: Profile) -> dict:
    """The signal map a user of this product would write: families, kinds, labels and
    roles; a direction only where it is common knowledge (the profile's first two
    planted effects and its risk signals), the rest left unknown."""
    known = {e.name for e in profile.events if e.beta > 0}
    known |= set([e.name for e in profile.events if e.beta < 0][:2])
    return {"version": 1, "event_types": {
        e.name: _map_entry(e, e.name in known) for e in profile.events}}


class _Emitter:
    """Collects event occurrences and aggregates them to daily rows at the end."""

    def __init__(self):
        self.acc, self.typ, self.day, self.val = [], [], [], []

    def counts(self, rng, idx, t, lo, hi, rate):
        """Poisson occurrences of type ``t`` for accounts ``idx`` over days [lo, hi)."""
        span = (hi - lo).astype(float)
        n = rng.poisson(rate * span / MONTH_DAYS)
        if n.sum() == 0:
            return
        rows = np.repeat(np.arange(len(idx)), n)
        self.acc.append(idx[rows])
        self.typ.append(np.full(len(rows), t))
        self.day.append(lo[rows] + np.floor(rng.random(len(rows)) * span[rows]).astype(int))
        self.val.append(np.full(len(rows), np.nan))

    def readings(self, idx, t, day, value):
        self.acc.append(idx), self.typ.append(np.full(len(idx), t))
        self.day.append(day), self.val.append(value)

    def frame(self, names, kinds, epoch) -> pd.DataFrame:
        if not self.acc:
            return pd.DataFrame(columns=[S.ACCOUNT_ID, S.EVENT_TIME, S.EVENT_TYPE, S.VALUE])
        acc, typ = np.concatenate(self.acc), np.concatenate(self.typ)
        day, val = np.concatenate(self.day), np.concatenate(self.val)
        df = pd.DataFrame({"a": acc, "t": typ, "d": day, "v": val})
        gauge = np.isin(df["t"], [i for i, k in enumerate(kinds) if k == "gauge"])
        summed = (df[~gauge].groupby(["a", "t", "d"], sort=False).size()
                  .rename("v").reset_index().astype({"v": float}))
        df = pd.concat([summed, df[gauge]], ignore_index=True)
        flags = np.isin(df["t"], [i for i, k in enumerate(kinds) if k == "flag"])
        df.loc[flags, "v"] = np.nan
        hours = (df["a"].to_numpy() * 7919 + df["d"].to_numpy() * 31) % (14 * 60) + 7 * 60
        out = pd.DataFrame({
            S.ACCOUNT_ID: df["a"].to_numpy() + 1,
            S.EVENT_TIME: (epoch + pd.to_timedelta(df["d"], unit="D")
                           + pd.to_timedelta(hours, unit="min")),
            S.EVENT_TYPE: np.asarray(names, dtype=object)[df["t"].to_numpy()],
            S.VALUE: df["v"].to_numpy(float)})
        return out.sort_values([S.EVENT_TIME, S.ACCOUNT_ID, S.EVENT_TYPE],
                               kind="stable").reset_index(drop=True)


def simulate_profile(profile: str, n_accounts: int = 1500, n_months: int = 24,
                     seed: int = 0, start: str = "2024-01-01") -> ProfileWorld:
    """Simulate ``n_accounts`` accounts of ``profile`` over ``n_months`` months (see the
    module docs of :mod:`churnlab.sim.profile_specs`). Deterministic by ``seed``."""
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}: use demo or one of "
                         f"{', '.join(PROFILES)}")
    if n_accounts < 10 or n_months < 3:
        raise InputError("a profile world needs at least 10 accounts and 3 months")
    p = PROFILES[profile]
    rng = np.random.default_rng([seed, 7_321])
    n, ev = int(n_accounts), p.events
    start_ts = pd.Timestamp(start).normalize()
    end_ts = start_ts + pd.DateOffset(months=n_months)
    epoch = np.datetime64(start_ts.date(), "D")
    end_d = np.datetime64(end_ts.date(), "D")
    window = int((end_d - epoch).astype(int))

    initial = rng.random(n) < p.initial_share
    tenure0 = rng.integers(p.initial_tenure_months[0], p.initial_tenure_months[1] + 1, n)
    offset = rng.integers(0, 28, n)
    anchor = epoch - offset.astype("timedelta64[D]")
    created_init = anchor.copy()
    for m in np.unique(tenure0):
        created_init[tenure0 == m] = _add_months(anchor[tenure0 == m], -int(m))
    acquired_day = rng.integers(0, max(window - 20, 1), n)
    created = np.where(initial, created_init, epoch + acquired_day.astype("timedelta64[D]"))

    shares = np.array([pl[3] for pl in p.plans])
    plan_ix = rng.choice(len(p.plans), n, p=shares / shares.sum())
    term = np.array([p.plans[i][1] for i in plan_ix])
    seg_shares = np.array([s[1] for s in p.segments])
    segment = rng.choice(len(p.segments), n, p=seg_shares / seg_shares.sum())
    seats = rng.integers(p.seats[0], p.seats[1] + 1, n)

    e = rng.normal(0, 1, n)
    taste_sd = np.array([x.taste_sd for x in ev])
    taste = rng.normal(0, 1, (n, len(ev))) * taste_sd[None, :]
    loads = np.array([x.load for x in ev])
    betas = np.array([x.beta for x in ev])
    zscale = np.sqrt(loads ** 2 + taste_sd ** 2)
    fv_spec = [i for i, x in enumerate(ev) if x.role == "first_value"]
    fv_day = np.full(n, -1)
    if fv_spec:
        reach = rng.random(n) < _sigmoid(0.6 + 1.3 * e)
        late = ~reach & (rng.random(n) < 0.3)
        fv_day = np.where(reach, rng.integers(0, max(p.first_value_days, 1), n),
                          np.where(late, rng.integers(p.first_value_days, 90, n), -1))

    emit = _Emitter()
    churn = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    intent = np.zeros(n, bool)
    months_total = int(np.ceil((end_d - created.min()).astype(int) / 28)) + 1
    for k in range(months_total):
        b0, b1 = _add_months(created, k), _add_months(created, k + 1)
        alive = np.isnat(churn) & (b0 < end_d)
        if not alive.any():
            break
        e = p.ar * e + np.sqrt(1 - p.ar ** 2) * rng.normal(0, 1, n)
        idx = np.flatnonzero(alive)
        lo = np.maximum(((b0[idx] - epoch).astype(int)), 0)
        hi = np.minimum(((b1[idx] - epoch).astype(int)), window)
        seen = hi > lo
        logrates = loads[None, :] * e[idx, None] + taste[idx]
        for t, spec in enumerate(ev):
            if spec.kind == "flag" or spec.base_per_month <= 0:
                continue
            rate = spec.base_per_month * np.exp(logrates[:, t] - 0.5 * zscale[t] ** 2)
            if spec.kind == "gauge":
                sub = idx[seen]
                n_read = rng.poisson(spec.base_per_month * (hi - lo)[seen] / MONTH_DAYS)
                rows = np.repeat(np.arange(len(sub)), n_read)
                day = lo[seen][rows] + np.floor(rng.random(len(rows))
                                                * (hi - lo)[seen][rows]).astype(int)
                score = np.clip(np.round(rng.normal(7.8, 2.0, len(rows))), 0, 10)
                emit.readings(sub[rows], t, day, score)
            else:
                emit.counts(rng, idx[seen], t, lo[seen], hi[seen], rate[seen])
        decide = (b1[idx] >= epoch) & (b1[idx] < end_d)
        renewal = ((k + 1) % term[idx]) == 0
        if p.random_intent:
            # intent forms every month, also before the window (so that the renewal
            # hazard is stationary); a renewal before the window was survived, so the
            # intent held then is cleared
            intent[idx] |= rng.random(len(idx)) < p.random_intent
            leave = intent[idx] & renewal & decide
            intent[idx[renewal & ~decide]] = False
        else:
            z = logrates / zscale[None, :]
            logit = p.alpha + z @ betas + p.tenure_slope * np.log(k + 1)
            if fv_spec:
                missed = (fv_day[idx] < 0) | (fv_day[idx] > (k + 1) * MONTH_DAYS)
                logit = logit + p.first_value_beta * (missed & ((k + 1) * MONTH_DAYS
                                                                >= p.first_value_days))
            p_term = 1 - (1 - _sigmoid(logit)) ** term[idx]
            leave = renewal & decide & (rng.random(len(idx)) < p_term)
        churn[idx[leave]] = b1[idx][leave]
    for t in fv_spec:
        when = created + fv_day.astype("timedelta64[D]")
        ok = (fv_day >= 0) & (when >= epoch) & (when < end_d) & (np.isnat(churn) | (when
                                                                                 < churn))
        emit.readings(np.flatnonzero(ok), t, (when[ok] - epoch).astype(int),
                      np.full(ok.sum(), np.nan))
    events = emit.frame([x.name for x in ev], [x.kind for x in ev], start_ts)
    events = _drop_after_churn(events, churn)
    ids = np.arange(1, n + 1)
    tables = {
        S.ACCOUNTS: pd.DataFrame({
            S.ACCOUNT_ID: ids, S.NAME: [f"Customer {i}" for i in ids],
            S.SEGMENT: np.asarray([s[0] for s in p.segments], object)[segment],
            S.INDUSTRY: np.asarray(["Education", "Media", "Retail", "Services"],
                                   object)[ids % 4],
            S.REGION: np.asarray(["North", "South", "East", "West"], object)[(ids // 4) % 4],
            S.CSM_OWNER: np.asarray(["pool-a", "pool-b", "pool-c"], object)[ids % 3],
            S.CREATED_AT: pd.to_datetime(created)}),
        S.SUBSCRIPTIONS: pd.DataFrame({
            S.SUBSCRIPTION_ID: 100_000 + ids, S.ACCOUNT_ID: ids,
            S.PLAN: np.asarray([pl[0] for pl in p.plans], object)[plan_ix],
            S.START_DATE: pd.to_datetime(created), S.END_DATE: pd.to_datetime(churn),
            S.MRR: np.array([pl[2] for pl in p.plans])[plan_ix]
            * (seats if p.seats[1] > 1 else 1),
            S.TERM_MONTHS: term}),
        S.EVENTS: events,
    }
    if p.seats[1] > 1:
        tables[S.SUBSCRIPTIONS][S.SEATS] = seats
    truth = pd.DataFrame({S.ACCOUNT_ID: ids, CHURNED: ~np.isnat(churn),
                          CHURN_DATE: pd.to_datetime(churn),
                          "acquired_in_window": ~initial, FIRST_VALUE: fv_day >= 0,
                          "first_value_day": np.where(fv_day >= 0, fv_day, np.nan)})
    effects = {x.name: {"family": x.family, "effect": float(x.beta), "load": float(x.load),
                        "direction": x.true_direction} for x in ev if x.kind != "flag"}
    if fv_spec:
        effects[ev[fv_spec[0]].name] = {"family": ev[fv_spec[0]].family,
                                        "effect": -float(p.first_value_beta), "load": 1.3,
                                        "direction": "protective"}
    params = {"profile": p.name, "description": p.description, "n_accounts": n,
              "n_months": int(n_months), "seed": int(seed), "start": str(start_ts.date()),
              "end": str(end_ts.date())}
    return ProfileWorld(p, tables, profile_signal_map(p), truth, effects, params)


def _drop_after_churn(events: pd.DataFrame, churn: np.ndarray) -> pd.DataFrame:
    """No account emits an event on or after its churn date."""
    ends = pd.to_datetime(churn)[events[S.ACCOUNT_ID].to_numpy() - 1]
    keep = ends.isna() | (events[S.EVENT_TIME].to_numpy() < ends.to_numpy())
    return events[np.asarray(keep)].reset_index(drop=True)


def write_profile(world: ProfileWorld, out_dir, fmt: str = "parquet") -> Path:
    """Write a profile world atomically: inputs as ``fmt`` (parquet or csv), its signal map
    and ``truth/``. An existing folder is replaced only when it holds a simulation."""
    if fmt not in ("parquet", "csv"):
        raise InputError(f"format must be parquet or csv, got {fmt!r}")
    out = Path(out_dir)
    replace = out.is_dir() and (out / TRUTH_DIR / PARAMS_FILE).is_file()
    with atomic_dir(out, overwrite=replace) as tmp:
        for name, df in world.tables.items():
            if fmt == "csv":
                df.to_csv(tmp / f"{name}.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
            else:
                df.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / S.SIGNAL_MAP_FILE).write_text(yaml.safe_dump(world.signal_map, sort_keys=False))
        truth = tmp / TRUTH_DIR
        truth.mkdir()
        world.truth_accounts.to_parquet(truth / "accounts.parquet", index=False)
        (truth / SIGNAL_EFFECTS_FILE).write_text(yaml.safe_dump(
            {"version": 1, "event_types": world.signal_effects}, sort_keys=False))
        (truth / PARAMS_FILE).write_text(json.dumps(world.params, indent=2, sort_keys=True)
                                         + "\n")
    return out


def summarise_profile(world: ProfileWorld) -> dict:
    """Sizes, churn and the planted directions of one profile world."""
    truth = world.truth_accounts
    eff = world.signal_effects
    return {"profile": world.params["profile"], "accounts": len(truth),
            "events": len(world.tables[S.EVENTS]),
            "churned": int(truth[CHURNED].sum()),
            "churn_share": round(float(truth[CHURNED].mean()), 4),
            "risk_signals": sorted(k for k, v in eff.items() if v["direction"] == "risk"),
            "protective_signals": sorted(k for k, v in eff.items()
                                         if v["direction"] == "protective"),
            "null_signals": len([k for k, v in eff.items() if v["direction"] == "none"])}
