"""A synthetic B2B SaaS with ground truth: the demo world churnlab is built and tested on.

:func:`simulate_saas` returns a :class:`SimulatedSaaS`: the four input tables of the data
contract (:mod:`churnlab.schema`) plus truth tables that the pipeline never reads and
the tests and evaluations do. :func:`write_simulation` writes both to a folder;
:func:`summarise_simulation` measures the calibration numbers (annual logo churn by
segment, the oracle's concordance). The mechanism is documented in
``docs/simulator.md``; in short:

* every account has a latent health (logit scale) = a base level + an AR(1) drift +
  decaying shocks (champion leaves, budget cut, product gap, ...), each shock with a
  root-cause class;
* low health raises the hazard of entering an *evaluating* (at-risk) state; annual
  contracts can only enter it in a window before a renewal. On entry a churn date is
  planned at a contract boundary 60-120 days ahead, and at that date the account churns
  with probability ``q`` (from its health, lowered by save playbooks) or renews;
* a small no-warning hazard (acquired, out of business) ends accounts almost silently;
* observable events of every signal family are emitted from the latent state with
  noise, the evaluating ones relative to the planned churn date.

The simulation is vectorised across accounts and loops over time steps (weeks, split
at month starts), so 50k accounts x 36 months take minutes. It is deterministic by
seed: the latent world and the observation noise draw from separate
:class:`numpy.random.Generator` streams spawned from ``seed``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from churnlab import schema as S
from churnlab.storage import atomic_dir

# ------------------------------------------------------------------ truth columns
# The truth tables are not part of the input contract; their columns live here.
CHURNED = "churned"
CHURN_DATE = "churn_date"
CHURN_PATH = "churn_path"
ROOT_CAUSE = "root_cause"
NO_WARNING_CHURN = "no_warning_churn"
NO_WARNING_REASON = "no_warning_reason"
EARLY_TERMINATION = "early_termination"
BASE_HEALTH = "base_health"
POOR_ONBOARDING = "poor_onboarding"
N_EVALUATIONS = "n_evaluations"
INTERVENTION_ARM = "intervention_arm"
INTERVENTION_PLAYBOOK = "intervention_playbook"
TRUE_EFFECT = "true_effect"
SHOCK_TIME = "shock_time"
SHOCK_TYPE = "shock_type"
EFFECT_SIZE = "effect_size"
OBSERVED = "observed"
MONTH_START = "month_start"
LATENT_HEALTH = "latent_health"
EVALUATING = "evaluating"
PLANNED_CHURN_DATE = "planned_churn_date"
NO_WARNING_PENDING = "no_warning_pending"
MONTHLY_HAZARD = "monthly_hazard"
ORACLE_RISK_90D = "oracle_risk_90d"
EVALUATION_START = "evaluation_start"
CHURN_PROBABILITY = "churn_probability"
EVALUATION_OUTCOME = "outcome"
Q_BEFORE = "q_before"
Q_AFTER = "q_after"

PATH_EVALUATING, PATH_NO_WARNING, PATH_LAPSE = "evaluating", "no_warning", "renewal_lapse"
CHURN_PATHS = ("", PATH_EVALUATING, PATH_NO_WARNING, PATH_LAPSE)
ARM_CONTROL, ARM_TREATMENT = "control", "treatment"
NO_ACTION = "no_action"
PLAYBOOKS = ("immediate_problem_resolution", "executive_engagement",
             "product_team_involvement", "pricing_concession", "contract_flexibility")
TRUTH_DIR = "truth"
SIGNAL_EFFECTS_FILE = "signal_effects.yaml"
PARAMS_FILE = "params.json"

SECONDS_PER_DAY = 86_400
NEVER = np.iinfo(np.int64).max // 4  # a day index that never comes
SMB, MID, ENT = 0, 1, 2  # positions in schema.SEGMENTS
N_FEATURES = 40  # distinct product features an account can use


# --------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class ShockSpec:
    """One kind of health shock.

    ``effect_mean``/``effect_sd``: the drop in latent health (logit scale) at the shock;
    ``weak_share``: share of shocks with almost no effect (a strong replacement keeps
    health up); the drop decays exponentially with ``decay_days``. ``observed_as`` is the
    event type flagged at the shock time (with probability ``observe_prob``).
    ``alt_root_cause`` is drawn instead of ``root_cause`` with probability ``alt_share``.
    """

    shock_type: str
    root_cause: str
    rate_per_year: float
    effect_mean: float
    effect_sd: float
    weak_share: float
    decay_days: float
    observed_as: str | None = None
    observe_prob: float = 0.0
    alt_root_cause: str | None = None
    alt_share: float = 0.0


DEFAULT_SHOCKS = (
    ShockSpec("champion_left", "value_perception", 0.10, 0.9, 0.3, 0.35, 180,
              "champion_left", 0.9),
    ShockSpec("champion_role_changed", "value_perception", 0.06, 0.5, 0.2, 0.3, 120,
              "champion_role_changed", 0.85),
    ShockSpec("new_leadership", "circumstantial", 0.05, 0.6, 0.25, 0.3, 180,
              "new_leadership", 0.8),
    ShockSpec("merger_acquisition", "circumstantial", 0.02, 0.8, 0.3, 0.2, 270,
              "merger_acquisition", 0.95),
    ShockSpec("budget_cut", "circumstantial", 0.07, 0.7, 0.25, 0.2, 180,
              "budget_cut_mentioned", 0.6),
    ShockSpec("product_gap", "product_fit", 0.06, 0.8, 0.3, 0.0, 365),
    ShockSpec("service_failure", "service_experience", 0.08, 0.9, 0.3, 0.0, 90),
    ShockSpec("competitor_evaluation", "product_fit", 0.05, 1.0, 0.3, 0.0, 120,
              alt_root_cause="value_perception", alt_share=0.4),
    # drawn once at acquisition (accounts acquired inside the window), not at a rate
    ShockSpec("poor_onboarding", "service_experience", 0.0, 0.9, 0.3, 0.0, 240),
)

# relative reduction of the churn probability q by playbook (rows) and root cause
# (columns, in schema.ROOT_CAUSES order: product_fit, service_experience,
# value_perception, circumstantial)
DEFAULT_PLAYBOOK_EFFECTS = {
    "immediate_problem_resolution": (0.05, 0.45, 0.15, 0.05),
    "executive_engagement": (0.15, 0.20, 0.25, 0.20),
    "product_team_involvement": (0.40, 0.10, 0.10, 0.00),
    "pricing_concession": (0.05, 0.10, 0.35, 0.30),
    "contract_flexibility": (0.05, 0.10, 0.15, 0.35),
}


@dataclass(frozen=True)
class SimulationParams:
    """Every tunable of the simulator (recorded in ``truth/params.json``).

    Per-segment tuples follow :data:`churnlab.schema.SEGMENTS` (SMB, Mid-Market,
    Enterprise). Health is on a logit scale; ``100 * sigmoid(health)`` is the 0-100
    latent health score recorded in the truth tables.
    """

    # the book of business
    initial_share: float = 0.6
    initial_tenure_months: tuple[int, int] = (6, 60)
    segment_mix: tuple[float, float, float] = (0.55, 0.30, 0.15)
    arr_median: tuple[float, float, float] = (6_000.0, 35_000.0, 160_000.0)
    arr_sigma: tuple[float, float, float] = (0.55, 0.5, 0.6)
    seat_price_year: tuple[float, float, float] = (420.0, 520.0, 620.0)
    # contract term (months) mix per segment: {term: share}
    term_mix: tuple[dict, dict, dict] = (
        {1: 0.85, 12: 0.15},
        {1: 0.35, 12: 0.60, 24: 0.05},
        {1: 0.05, 12: 0.70, 24: 0.15, 36: 0.10},
    )
    # latent health
    base_health_mean: tuple[float, float, float] = (0.8, 1.0, 1.2)
    base_health_sd: float = 0.6
    ar_weekly: float = 0.97
    ar_sd: float = 0.35
    shocks: tuple[ShockSpec, ...] = DEFAULT_SHOCKS
    poor_onboarding_share: tuple[float, float, float] = (0.35, 0.25, 0.2)
    # entering the evaluating (at-risk) state
    hazard_slope: float = 1.4
    hazard_ref_health: float = 1.0
    hazard_cap: float = 12.0
    monthly_entry_rate: tuple[float, float, float] = (0.017, 0.0075, 0.005)
    renewal_entry_prob: tuple[float, float, float] = (0.12, 0.08, 0.04)
    annual_window_days: tuple[int, int] = (60, 135)
    lead_days: tuple[int, int] = (60, 120)
    q_base: float = 0.33
    q_slope: float = 0.40
    recovery_bump: float = 0.3
    cooldown_days: int = 90
    # quiet non-renewal decided at a contract boundary, without an evaluating phase:
    # probability per monthly boundary (monthly terms) or per renewal (longer terms) at
    # the reference health, times exp(-lapse_slope * (health - reference))
    lapse_per_month: tuple[float, float, float] = (0.016, 0.0065, 0.005)
    lapse_per_renewal: tuple[float, float, float] = (0.10, 0.075, 0.035)
    lapse_slope: float = 0.5
    # churn without warning (acquired / out of business), per year
    no_warning_rate: tuple[float, float, float] = (0.025, 0.02, 0.015)
    no_warning_acquired_share: float = 0.55
    # save playbooks
    detect_prob: tuple[float, float, float] = (0.25, 0.5, 0.7)
    detect_prob_strategic: float = 0.9
    detect_lag_days: tuple[int, int] = (7, 42)
    control_share: float = 0.3
    playbook_effects: dict = field(default_factory=lambda: dict(DEFAULT_PLAYBOOK_EFFECTS))
    big_discount_boost: float = 1.3
    # simulation
    burn_in_days: int = 182

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["term_mix"] = [{str(k): v for k, v in mix.items()} for mix in self.term_mix]
        return out


# ---------------------------------------------------------------- the result
@dataclass
class SimulatedSaaS:
    """A simulated SaaS: the input tables and the ground truth.

    Attributes
    ----------
    accounts, subscriptions, events, interventions : the input tables, following
        :mod:`churnlab.schema` exactly.
    truth_accounts : one row per account: churned, churn_date, churn_path
        (``evaluating`` / ``renewal_lapse`` / ``no_warning``), root_cause, no_warning_churn,
        early_termination, base_health (0-100), poor_onboarding, n_evaluations and the
        last intervention's arm, playbook and true effect.
    truth_shocks : account_id, shock_time, shock_type, root_cause, effect_size (health
        drop, logit scale, negative), observed (a flag event was emitted).
    truth_account_months : per active account and month start: latent_health (0-100),
        evaluating, planned_churn_date, no_warning_pending, monthly_hazard (true P(churn
        before the next month start)) and oracle_risk_90d (true P(churn within 90 days
        | latent state at the month start)).
    truth_evaluations : one row per evaluating episode: start, planned churn date, root
        cause, churn probability q (after any intervention) and outcome.
    truth_interventions : intervention_id, account_id, root_cause, q_before, q_after,
        true_effect (q_before - q_after).
    signal_effects : per event type: family, effect, direction, lead time, decoy /
        confounded flags and the measured naive association.
    params : the simulation parameters (n_accounts, n_months, seed, start, ...).
    """

    accounts: pd.DataFrame
    subscriptions: pd.DataFrame
    events: pd.DataFrame
    interventions: pd.DataFrame
    truth_accounts: pd.DataFrame
    truth_shocks: pd.DataFrame
    truth_account_months: pd.DataFrame
    truth_evaluations: pd.DataFrame
    truth_interventions: pd.DataFrame
    signal_effects: dict
    params: dict
    _summary: dict | None = field(default=None, repr=False)

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.params["start"])

    @property
    def end(self) -> pd.Timestamp:
        """The data end (exclusive): ``start + n_months`` months."""
        return pd.Timestamp(self.params["end"])

    def input_tables(self) -> dict[str, pd.DataFrame]:
        return {S.ACCOUNTS: self.accounts, S.SUBSCRIPTIONS: self.subscriptions,
                S.EVENTS: self.events, S.INTERVENTIONS: self.interventions}

    def truth_tables(self) -> dict[str, pd.DataFrame]:
        return {"accounts": self.truth_accounts, "shocks": self.truth_shocks,
                "account_months": self.truth_account_months,
                "evaluations": self.truth_evaluations,
                "interventions": self.truth_interventions}


# ------------------------------------------------------------------ helpers
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _health_score(h):
    """Latent health on the 0-100 scale of a health score."""
    return 100.0 * _sigmoid(h)


def _ids(prefix: str, n: int, width: int = 6) -> np.ndarray:
    width = max(width, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _arrow_strings(codes: np.ndarray, labels) -> pd.Series:
    """``labels[codes]`` as a pyarrow-backed string column, without Python objects."""
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                         pa.array(list(labels), pa.string()))
    return pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.large_string())))


def _choice(rng: np.random.Generator, probs, size: int) -> np.ndarray:
    """Indices drawn with the given probabilities (vectorised)."""
    cum = np.cumsum(np.asarray(probs, dtype=float))
    return np.minimum(np.searchsorted(cum / cum[-1], rng.random(size), side="right"),
                      len(cum) - 1)


class _Calendar:
    """Day offsets from the data start, contract boundaries and simulation steps.

    Contract anniversaries fall on one day of month (1-28) per account, so the k-th
    boundary of a subscription starting on month ``mi`` is ``day(mi + k * term, dom)``.
    Month indices are relative to the month of ``start``.
    """

    def __init__(self, start: pd.Timestamp, n_months: int, months_before: int,
                 months_after: int, burn_in_days: int):
        self.start = start
        self.end = start + pd.DateOffset(months=n_months)
        self.n_days = int((self.end - start).days)
        self.mi0 = months_before
        base = start.to_period("M")
        firsts = pd.PeriodIndex([base + int(k) for k in range(-months_before,
                                                              n_months + months_after + 1)])
        self.month_first = np.asarray(
            (firsts.to_timestamp() - start).days, dtype=np.int64)
        self.month_numbers = firsts.month.to_numpy()
        # month starts inside the data window (the truth's account-month grid)
        inside = (self.month_first >= 0) & (self.month_first < self.n_days)
        self.window_month_starts = self.month_first[inside]
        # steps: weekly in the burn-in, then split at Mondays and month starts
        first_monday = (7 - start.weekday()) % 7
        self.week_starts = np.arange(first_monday, self.n_days - 6, 7, dtype=np.int64)
        cuts = set(range(-burn_in_days, 0, 7)) | {0, self.n_days}
        cuts |= set(int(d) for d in self.week_starts) | set(
            int(d) for d in self.window_month_starts)
        cuts |= set(int(d) + 7 for d in self.week_starts)
        cuts = np.array(sorted(c for c in cuts if -burn_in_days <= c <= self.n_days))
        self.steps = list(zip(cuts[:-1].tolist(), cuts[1:].tolist()))
        # seasonality of activity by day: holidays and a summer dip
        days = np.arange(-burn_in_days - 400, self.n_days + 40)
        dates = start + pd.to_timedelta(days, unit="D")
        season = np.ones(len(days))
        holidays = ((dates.month == 12) & (dates.day >= 20)) | ((dates.month == 1)
                                                                & (dates.day <= 2))
        season[holidays] = 0.55
        season[dates.month == 8] = 0.85
        self._season, self._season_0 = season, int(-days[0])

    def day(self, mi, dom):
        return self.month_first[np.asarray(mi) + self.mi0] + np.asarray(dom) - 1

    def month_of(self, day):
        return np.searchsorted(self.month_first, day, side="right") - 1 - self.mi0

    def next_anniversary(self, day, dom):
        """First day >= ``day`` that falls on day-of-month ``dom``."""
        mi = self.month_of(day)
        cand = self.day(mi, dom)
        return np.where(cand >= day, cand, self.day(mi + 1, dom)), np.where(
            cand >= day, mi, mi + 1)

    def season(self, day: int) -> float:
        return float(self._season[int(day) + self._season_0])

    def timestamps(self, seconds: np.ndarray) -> np.ndarray:
        return (np.datetime64(self.start.to_datetime64(), "ns")
                + seconds.astype(np.int64) * np.int64(1_000_000_000))


class _EventLog:
    """Events collected as numpy chunks: account index, seconds since start, type, value."""

    def __init__(self, event_types: list[str]):
        self.codes = {t: i for i, t in enumerate(event_types)}
        self.event_types = event_types
        self.acc: list[np.ndarray] = []
        self.sec: list[np.ndarray] = []
        self.typ: list[np.ndarray] = []
        self.val: list[np.ndarray] = []

    def add(self, event_type: str, acc, sec, value=1.0) -> None:
        acc = np.asarray(acc)
        if acc.size == 0:
            return
        self.acc.append(acc.astype(np.int32))
        self.sec.append(np.asarray(sec, dtype=np.int64))
        self.typ.append(np.full(acc.size, self.codes[event_type], dtype=np.int16))
        self.val.append(np.broadcast_to(np.asarray(value, dtype=np.float64), acc.shape).copy())

    def arrays(self, rank: np.ndarray):
        """All events sorted by (rank of account, time); empties the log."""
        if not self.acc:
            return (np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int16),
                    np.zeros(0))
        acc, sec = np.concatenate(self.acc), np.concatenate(self.sec)
        self.acc = self.sec = []
        order = np.argsort(rank[acc] * (1 << 34) + sec, kind="stable")
        acc, sec = acc[order], sec[order]
        typ = np.concatenate(self.typ)[order]
        self.typ = []
        val = np.concatenate(self.val)[order]
        self.val = []
        return acc, sec, typ, val


# ------------------------------------------------------------- the latent world
class _World:
    """State arrays of all accounts and the step functions that advance them."""

    def __init__(self, n_accounts: int, n_months: int, seed: int, start: pd.Timestamp,
                 params: SimulationParams, event_types: list[str]):
        self.p = params
        self.n = n_accounts
        world_seq, obs_seq, attr_seq = np.random.SeedSequence(seed).spawn(3)
        self.rng = np.random.default_rng(world_seq)      # the latent world
        self.obs = np.random.default_rng(obs_seq)        # observation noise (events)
        self.attr_rng = np.random.default_rng(attr_seq)  # names and labels
        months_before = params.initial_tenure_months[1] + 2
        self.cal = _Calendar(start, n_months, months_before, 40, params.burn_in_days)
        self.D = self.cal.n_days
        self.log = _EventLog(event_types)
        self.shock_specs = params.shocks
        self.k_po = [s.shock_type for s in params.shocks].index("poor_onboarding")
        self.k_index = {s.shock_type: k for k, s in enumerate(params.shocks)}
        self.root_index = {r: i for i, r in enumerate(S.ROOT_CAUSES)}
        self._init_accounts()
        self._init_state()
        self._records_init()

    # ------------------------------------------------------------ static draws
    def _init_accounts(self) -> None:
        p, rng, n, cal = self.p, self.rng, self.n, self.cal
        self.seg = _choice(rng, p.segment_mix, n)
        n_init = int(round(p.initial_share * n))
        self.initial = np.zeros(n, bool)
        self.initial[:n_init] = True
        rng.shuffle(self.initial)
        self.dom = rng.integers(1, 29, n)
        # acquisition: initial book 6-60 months before the start; the rest inside the window
        lo, hi = p.initial_tenure_months
        n_window_months = max(int(np.searchsorted(cal.month_first, cal.n_days)) - cal.mi0, 1)
        acq_mi = np.where(self.initial, -rng.integers(lo, hi + 1, n),
                          rng.integers(0, n_window_months, n))
        acq_day = cal.day(acq_mi, self.dom)
        for _ in range(20):  # the window may start or end mid-month: redraw outside days
            bad = ~self.initial & ((acq_day < 0) | (acq_day >= cal.n_days))
            if not bad.any():
                break
            acq_mi[bad] = rng.integers(0, n_window_months, bad.sum())
            self.dom[bad] = rng.integers(1, 29, bad.sum())
            acq_day = cal.day(acq_mi, self.dom)
        bad = ~self.initial & ((acq_day < 0) | (acq_day >= cal.n_days))
        acq_mi[bad], self.dom[bad] = 1, 1  # a window too short to redraw into
        self.acq_mi, self.acq_day = acq_mi, cal.day(acq_mi, self.dom)
        self.created_day = self.acq_day - rng.integers(0, 22, n)
        # contract
        term_values = []
        for s in range(3):
            terms = np.array(sorted(p.term_mix[s]))
            term_values.append((terms, np.array([p.term_mix[s][t] for t in terms])))
        self.term = np.zeros(n, np.int64)
        for s, (terms, probs) in enumerate(term_values):
            m = self.seg == s
            self.term[m] = terms[_choice(rng, probs, m.sum())]
        arr = np.exp(np.log(np.take(p.arr_median, self.seg))
                     + np.take(p.arr_sigma, self.seg) * rng.standard_normal(n))
        price = np.take(p.seat_price_year, self.seg) * np.exp(0.15 * rng.standard_normal(n))
        self.seats = np.maximum(1, np.round(arr / price)).astype(np.int64)
        self.seat_price = arr / self.seats / 12.0  # list MRR per seat
        disc = np.zeros(n)
        multi = self.term >= 24
        annual = self.term == 12
        r = rng.random(n)
        disc[multi] = rng.choice([10.0, 15.0, 20.0], multi.sum())
        pick = annual & (r < 0.3)
        disc[pick] = rng.choice([5.0, 10.0, 15.0], pick.sum())
        pick = (self.term == 1) & (r < 0.08)
        disc[pick] = rng.choice([5.0, 10.0], pick.sum())
        self.discount = disc
        # health and behaviour
        self.base = (np.take(p.base_health_mean, self.seg)
                     + p.base_health_sd * rng.standard_normal(n))
        self.expansion = _choice(rng, (0.35, 0.45, 0.2), n)  # low / medium / high
        growth = np.array([0.002, 0.010, 0.022])[self.expansion]
        self.growth = np.maximum(growth + 0.004 * rng.standard_normal(n), 0.0)
        self.util = np.clip(0.55 + 0.15 * rng.standard_normal(n), 0.25, 0.95)
        self.depth = np.clip(_sigmoid(-0.6 + 0.8 * (self.base - 1.0)
                                      + 0.6 * rng.standard_normal(n)), 0.05, 0.9)
        self.logins_per_user = np.exp(np.log(4.0) + 0.3 * rng.standard_normal(n))
        self.kappa = np.exp(np.log(0.008) + 0.5 * rng.standard_normal(n))  # tickets/user-week
        self.dash_rate = np.exp(np.log(10.0) + 0.8 * rng.standard_normal(n))   # decoy
        self.help_rate = np.exp(np.log(0.05) + 0.9 * rng.standard_normal(n))   # decoy, per day
        self.readers = np.exp(np.log(3.0) + 0.7 * rng.standard_normal(n))     # decoy
        self.recipients = rng.integers(1, 4, n) + np.array([0, 1, 3])[self.seg]
        self.size_factor = (self.seats / 50.0) ** 0.3
        po_share = np.take(p.poor_onboarding_share, self.seg)
        self.poor_onboarding = ~self.initial & (rng.random(n) < po_share)
        # onboarding milestones (window acquisitions only): 5 steps, slower when poor
        base_days = np.array([3, 10, 20, 35, 60], dtype=float)
        slow = np.where(self.poor_onboarding, 2.2, 1.0)[:, None]
        ms = base_days[None, :] * slow * np.exp(0.3 * rng.standard_normal((n, 5)))
        reached = rng.random((n, 5)) < np.where(self.poor_onboarding, 0.6, 0.97)[:, None]
        reached = np.cumprod(reached, axis=1).astype(bool)
        ms = np.where(reached & ~self.initial[:, None],
                      self.acq_day[:, None] + np.cumsum(ms, axis=1).astype(np.int64), NEVER)
        self.milestones = ms.astype(np.int64)
        fv = np.where(self.poor_onboarding,
                      np.where(rng.random(n) < 0.5, rng.integers(30, 121, n), NEVER),
                      rng.integers(7, 31, n))
        self.first_value_day = np.where(self.initial | (fv >= NEVER), NEVER,
                                        self.acq_day + fv)
        # strategic flags
        strat_p = np.array([0.0, 0.005, 0.05])[self.seg] * np.clip(arr / np.take(
            p.arr_median, self.seg), 0.5, 3.0)
        self.strategic = rng.random(n) < strat_p
        healthy = self.base > np.take(p.base_health_mean, self.seg) + 0.4
        self.reference = healthy & (rng.random(n) < np.array([0.02, 0.08, 0.15])[self.seg])

    def _init_state(self) -> None:
        n, p, cal = self.n, self.p, self.cal
        self.end_day = np.full(n, NEVER, np.int64)
        self.x = p.ar_sd * self.rng.standard_normal(n)
        self.shock = np.zeros((len(self.shock_specs), n))
        self.comp_root = np.zeros(n, np.int64)
        self.list_mrr = self.seats * self.seat_price
        # the contract calendar. Initial book: the current row started at the last
        # boundary on or before day 0 (annual terms) or at the last price change
        # (monthly terms: 30% changed price once since acquisition)
        last_mi = cal.month_of(np.zeros(n, np.int64))
        # (a boundary exactly on day 0 is passed inside the window, so "before" is strict)
        last_mi = np.where(cal.day(last_mi, self.dom) >= 0, last_mi - 1, last_mi)
        k_now = np.maximum(last_mi - self.acq_mi, 0) // self.term
        monthly = self.term == 1
        changed = (self.initial & monthly & (self.rng.random(n) < 0.3)
                   & (last_mi >= self.acq_mi + 1))
        change_mi = self.rng.integers(self.acq_mi + 1, np.maximum(last_mi, self.acq_mi + 1) + 1)
        self.row_start_mi = np.where(self.initial & ~monthly, self.acq_mi + k_now * self.term,
                                     np.where(changed, change_mi, self.acq_mi))
        self.row_start = cal.day(self.row_start_mi, self.dom)
        # next contract boundary, seen from the start of the burn-in (or acquisition)
        first = np.maximum(self.acq_day + 1, -p.burn_in_days)
        _, next_month_mi = cal.next_anniversary(first, self.dom)
        term_end_mi = self.row_start_mi + self.term
        prev_mi = term_end_mi - self.term
        back = (~monthly & (prev_mi > self.acq_mi) & (cal.day(prev_mi, self.dom) >= first))
        self.nb_mi = np.where(monthly, next_month_mi, np.where(back, prev_mi, term_end_mi))
        self.history = self._history_rows(changed)
        # evaluating state
        self.evaluating = np.zeros(n, bool)
        self.eval_start = np.full(n, NEVER, np.int64)
        self.planned = np.full(n, NEVER, np.int64)
        self.q0 = np.zeros(n)
        self.q = np.zeros(n)
        self.eval_root = np.zeros(n, np.int64)
        self.eval_id = np.full(n, -1, np.int64)
        self.cooldown = np.full(n, -NEVER, np.int64)
        self.iv_day = np.full(n, NEVER, np.int64)
        self.iv_arm = np.full(n, -1, np.int64)
        self.iv_id = np.full(n, -1, np.int64)
        self.iv_discount = np.zeros(n)
        self.nw_day = np.full(n, NEVER, np.int64)
        self.nw_reason = np.zeros(n, np.int64)
        self.n_eval = np.zeros(n, np.int64)
        # weekly usage accumulators
        self.acc_wau = np.zeros(n)
        self.acc_feat = np.zeros(n)
        self.acc_report = np.zeros(n)

    def _history_rows(self, changed) -> list[tuple]:
        """Subscription rows of the initial book that ended before the data start."""
        rows = []
        cal = self.cal
        mrr_now = self.list_mrr * (1 - self.discount / 100)
        for i in np.flatnonzero(self.initial):
            term = int(self.term[i])
            if term == 1:
                if changed[i]:
                    end = int(cal.day(self.row_start_mi[i], self.dom[i]))
                    mrr = mrr_now[i] / np.exp(0.1 + 0.1 * self.rng.standard_normal())
                    rows.append((i, int(self.acq_day[i]), end, mrr, 1, 0.0, int(self.seats[i])))
                continue
            mi = int(self.row_start_mi[i])
            mrr = mrr_now[i]
            while mi - term >= self.acq_mi[i]:
                mrr = mrr / np.exp(0.04 + 0.08 * self.rng.standard_normal())
                start = int(cal.day(mi - term, self.dom[i]))
                end = int(cal.day(mi, self.dom[i]))
                seats = max(1, int(round(self.seats[i] * mrr / mrr_now[i])))
                rows.append((i, start, end, mrr, term, float(self.discount[i]), seats))
                mi -= term
        return rows

    def _records_init(self) -> None:
        self.sub_cols = {k: [] for k in ("acc", "start", "end", "mrr", "term", "disc", "seats")}
        self.shock_cols = {k: [] for k in ("acc", "day", "type", "root", "effect", "observed")}
        self.month_cols = {k: [] for k in ("acc", "day", "health", "evaluating", "planned",
                                           "nw", "hazard", "risk90")}
        self.episodes: dict[str, list] = {k: [] for k in (
            "acc", "start", "planned", "root", "q0", "health")}
        self.episode_q: list[float] = []
        self.episode_outcome: list[str] = []
        self.iv_cols: dict[str, list] = {k: [] for k in (
            "acc", "day", "arm", "discount", "root", "q_before", "q_after", "episode")}
        self.iv_outcome: list[str] = []
        self.churn_path = np.zeros(self.n, np.int64)  # index into CHURN_PATHS
        self.churn_root = np.full(self.n, -1, np.int64)
        self.early_term = np.zeros(self.n, bool)

    # --------------------------------------------------------------- helpers
    def health(self, idx=slice(None)):
        return self.base[idx] + self.x[idx] + self.shock[:, idx].sum(axis=0)

    def _entry_multiplier(self, h):
        p = self.p
        return np.minimum(np.exp(-p.hazard_slope * (h - p.hazard_ref_health)), p.hazard_cap)

    def _daily_entry_rate(self, idx, h):
        """Daily hazard of entering the evaluating state (ignoring eligibility)."""
        p = self.p
        monthly = np.take(p.monthly_entry_rate, self.seg[idx]) / 30.44
        w = p.annual_window_days[1] - p.annual_window_days[0]
        renewal = -np.log1p(-np.take(p.renewal_entry_prob, self.seg[idx])) / w
        base = np.where(self.term[idx] == 1, monthly, renewal)
        return base * self._entry_multiplier(h)

    def _lapse_prob(self, idx, h):
        """P(quiet non-renewal) at one contract boundary."""
        p = self.p
        base = np.where(self.term[idx] == 1, np.take(p.lapse_per_month, self.seg[idx]),
                        np.take(p.lapse_per_renewal, self.seg[idx]))
        mult = np.minimum(np.exp(-p.lapse_slope * (h - p.hazard_ref_health)), p.hazard_cap)
        return np.minimum(base * mult, 0.9)

    def _root_cause(self, acc) -> np.ndarray:
        """The dominant recent shock's class, else the slow drift of a weak account."""
        contrib = self.shock[:, acc]
        k_dom = contrib.argmin(axis=0)
        roots = np.array([self.root_index[s.root_cause] for s in self.shock_specs])[k_dom]
        comp = k_dom == self.k_index["competitor_evaluation"]
        roots = np.where(comp, self.comp_root[acc], roots)
        drift = _choice(self.rng, (0.3, 0.25, 0.45, 0.0), acc.size)
        return np.where(contrib.min(axis=0) < -0.25, roots, drift)

    def _q_of(self, h):
        p = self.p
        return np.clip(p.q_base + p.q_slope * (1 - _sigmoid(h)), 0.05, 0.95)

    def _close_rows(self, acc, end) -> None:
        c = self.sub_cols
        c["acc"].append(acc)
        c["start"].append(self.row_start[acc].copy())
        c["end"].append(np.asarray(end, np.int64) + np.zeros(len(acc), np.int64))
        c["mrr"].append(self.list_mrr[acc] * (1 - self.discount[acc] / 100))
        c["term"].append(self.term[acc].copy())
        c["disc"].append(self.discount[acc].copy())
        c["seats"].append(self.seats[acc].copy())

    # --------------------------------------------------------------- a step
    def step(self, d0: int, d1: int) -> None:
        burn = d0 < 0
        if not burn and d0 in self._month_start_set:
            # an account whose contract ends on the month start is no longer active then
            self._boundaries(d0, d0 + 1, burn)
            self._record_month(d0)
            self._boundaries(d0 + 1, d1, burn)
        else:
            self._boundaries(d0, d1, burn)
        self._evolve_health(d0, d1, burn)
        if not burn:
            self._no_warning(d0, d1)
        self._enter_evaluating(d0, d1, burn)
        if not burn:
            self._interventions(d0, d1)
            self._emit(d0, d1)

    def run(self, progress: bool = False) -> None:
        self._month_start_set = set(int(d) for d in self.cal.window_month_starts)
        self._week_start_set = set(int(d) for d in self.cal.week_starts)
        steps = self.cal.steps
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="simulating", unit="step")
        for d0, d1 in steps:
            self.step(d0, d1)

    def _present(self, d0, d1):
        """Accounts covered by a subscription at some day of [d0, d1)."""
        return np.flatnonzero((self.acq_day < d1) & (self.end_day > np.maximum(d0, self.acq_day)))

    # ---------------------------------------------------------- boundaries
    def _boundaries(self, d0, d1, burn) -> None:
        cal, rng, p = self.cal, self.rng, self.p
        nb = cal.day(self.nb_mi, self.dom)
        live = (self.end_day == NEVER) & (self.acq_day < d1)
        # early terminations (no-warning churn between boundaries)
        et = np.flatnonzero(live & (self.nw_day >= d0) & (self.nw_day < d1) & (self.nw_day != nb))
        if et.size:
            self._churn(et, self.nw_day[et], path=2)
            self.early_term[et] = True
        at = np.flatnonzero(live & (nb >= d0) & (nb < d1) & (self.end_day == NEVER)
                            & (self.acq_day < nb))
        if at.size == 0:
            return
        b = nb[at]
        nw_churn = self.nw_day[at] == b
        decide = self.evaluating[at] & (self.planned[at] == b) & ~nw_churn
        draws = rng.random((2, at.size))
        eval_churn = decide & (draws[0] < self.q[at]) & (not burn)
        recover = decide & ~eval_churn
        lapse = (~self.evaluating[at] & (self.nw_day[at] == NEVER) & (not burn)
                 & (draws[1] < self._lapse_prob(at, self.health(at))))
        if nw_churn.any():
            self._churn(at[nw_churn], b[nw_churn], path=2)
        if eval_churn.any():
            self._churn(at[eval_churn], b[eval_churn], path=1)
        if lapse.any():
            self._churn(at[lapse], b[lapse], path=3)
        rec = at[recover]
        if rec.size:
            self._end_episode(rec, "saved" if not burn else "renewed_before_start")
            self.x[rec] += p.recovery_bump
            self.cooldown[rec] = nb[rec] + p.cooldown_days
        renew = at[~(nw_churn | eval_churn | lapse)]
        if renew.size:
            self._renew(renew, nb[renew], recovered=np.isin(renew, rec), burn=burn)

    def _churn(self, acc, day, path: int) -> None:
        self.end_day[acc] = day
        self.churn_path[acc] = path
        if path == 1:
            self.churn_root[acc] = self.eval_root[acc]
            self._end_episode(acc, "churned")
        elif path == 3:
            self.churn_root[acc] = self._root_cause(acc)
        else:
            self.churn_root[acc] = self.root_index["circumstantial"]
        self._close_rows(acc, day)

    def _end_episode(self, acc, outcome: str) -> None:
        for a in acc[self.eval_id[acc] >= 0]:
            e = int(self.eval_id[a])
            self.episode_outcome[e] = outcome
            self.episode_q[e] = float(self.q[a])
            if self.iv_id[a] >= 0:
                self.iv_outcome[int(self.iv_id[a])] = "churned" if outcome == "churned" else "saved"
        self.evaluating[acc] = False
        self.planned[acc] = NEVER
        self.iv_day[acc] = NEVER
        self.iv_id[acc] = -1
        self.eval_id[acc] = -1

    def _renew(self, acc, day, recovered, burn) -> None:
        """Pass a contract boundary: annual terms start a new row (with expansion,
        downgrade, discount or term changes); monthly ones change row only on a change."""
        rng, cal = self.rng, self.cal
        h = self.health(acc)
        u = _sigmoid(h)
        annual = self.term[acc] > 1
        k = acc.size
        r = rng.random((6, k))
        usage = self.util[acc] * (0.25 + 0.75 * u)
        expand_ok = (usage > 0.8) & (u > 0.6)
        expand = expand_ok & (r[0] < np.where(annual, 0.7, 0.2))
        down = ((u < 0.4) & (r[1] < np.where(annual, 0.3, 0.04))) | (
            recovered & (r[1] < np.where(annual, 0.5, 0.3)))
        down &= ~expand
        arm = self.iv_arm[acc]
        pricing = recovered & (arm == 1 + PLAYBOOKS.index("pricing_concession"))
        flexible = recovered & (arm == 1 + PLAYBOOKS.index("contract_flexibility"))
        to_monthly = flexible & annual & (r[2] < 0.6)
        to_annual = ~annual & (u > 0.75) & (r[3] < 0.01) & ~recovered
        uplift = annual & ~down
        change = annual | expand | down | pricing | to_monthly | to_annual
        if burn:
            change[:] = False  # the initial book's history is generated separately
        chg = acc[change]
        if chg.size:
            self._close_rows(chg, day[change])
        # new contract values
        factor = np.ones(k)
        factor[expand] = 1 + rng.uniform(0.2, 0.5, expand.sum())
        factor[down] = rng.uniform(0.6, 0.9, down.sum())
        new_seats = np.maximum(1, np.round(self.seats[acc] * factor)).astype(np.int64)
        real = new_seats / self.seats[acc]
        if not burn:
            self.util[acc] = np.clip(self.util[acc] / real, 0.1, 1.2)
            self.seats[acc] = new_seats
            self.seat_price[acc] *= np.where(uplift, 1 + 0.05 * r[4], 1.0)
            self.list_mrr[acc] = self.seats[acc] * self.seat_price[acc]
            disc = self.discount[acc]
            disc = np.where(annual & change & ~pricing & (self.term[acc] == 12)
                            & (r[5] < 0.5), 0.0, disc)
            disc = np.where(pricing, self.iv_discount[acc], disc)
            self.discount[acc] = disc
        new_term = self.term[acc].copy()
        if not burn:
            new_term[to_monthly] = np.where(self.term[acc][to_monthly] > 12, 12, 1)
            new_term[to_annual] = 12
        self.term[acc] = new_term
        self.iv_arm[acc] = np.where(recovered, -1, self.iv_arm[acc])
        start_mi = cal.month_of(day)
        if chg.size:
            self.row_start[chg] = day[change]
            self.row_start_mi[chg] = start_mi[change]
        self.nb_mi[acc] = start_mi + np.where(new_term > 1, new_term, 1)

    # --------------------------------------------------------------- health
    def _evolve_health(self, d0, d1, burn) -> None:
        p, rng = self.p, self.rng
        L = d1 - d0
        rho = p.ar_weekly ** (L / 7.0)
        self.x = rho * self.x + p.ar_sd * np.sqrt(1 - rho ** 2) * rng.standard_normal(self.n)
        for k, spec in enumerate(self.shock_specs):
            self.shock[k] *= np.exp(-L / spec.decay_days)
        idx = self._present(d0, d1)
        lo = np.maximum(d0, self.acq_day[idx])
        hi = np.minimum(d1, self.end_day[idx])
        span = np.maximum(hi - lo, 0)
        # poor onboarding hits at acquisition
        new = idx[(self.acq_day[idx] >= d0) & (self.acq_day[idx] < d1)
                  & self.poor_onboarding[idx]]
        if new.size:
            spec = self.shock_specs[self.k_po]
            eff = -np.maximum(spec.effect_mean + spec.effect_sd * rng.standard_normal(new.size),
                              0.1)
            self.shock[self.k_po, new] += eff
            self._record_shocks(new, self.acq_day[new], self.k_po,
                                np.full(new.size, self.root_index[spec.root_cause]), eff,
                                np.zeros(new.size, bool))
        for k, spec in enumerate(self.shock_specs):
            if spec.rate_per_year <= 0:
                continue
            hit = rng.random(idx.size) < 1 - np.exp(-spec.rate_per_year * span / 365.0)
            acc = idx[hit]
            if acc.size == 0:
                continue
            day = lo[hit] + (rng.random(acc.size) * span[hit]).astype(np.int64)
            weak = rng.random(acc.size) < spec.weak_share
            eff = np.where(weak, -np.abs(0.1 + 0.05 * rng.standard_normal(acc.size)),
                           -np.maximum(spec.effect_mean
                                       + spec.effect_sd * rng.standard_normal(acc.size), 0.1))
            root = np.full(acc.size, self.root_index[spec.root_cause])
            if spec.alt_root_cause:
                alt = rng.random(acc.size) < spec.alt_share
                root[alt] = self.root_index[spec.alt_root_cause]
                self.comp_root[acc] = root
            self.shock[k, acc] += eff
            observed = (rng.random(acc.size) < spec.observe_prob) & (day >= 0)
            self._record_shocks(acc, day, k, root, eff, observed)
            if spec.observed_as and observed.any() and not burn:
                self.log.add(spec.observed_as, acc[observed],
                             day[observed] * SECONDS_PER_DAY + self._tod(observed.sum()))

    def _record_shocks(self, acc, day, k, root, eff, observed) -> None:
        c = self.shock_cols
        c["acc"].append(acc)
        c["day"].append(np.asarray(day, np.int64))
        c["type"].append(np.full(acc.size, k))
        c["root"].append(np.asarray(root))
        c["effect"].append(eff)
        c["observed"].append(observed)

    def _tod(self, size) -> np.ndarray:
        """Seconds into the day, in business hours (8:00-18:00)."""
        return (8 * 3600 + self.obs.random(size) * 10 * 3600).astype(np.int64)

    # ----------------------------------------------------- no-warning churn
    def _no_warning(self, d0, d1) -> None:
        p, rng, cal = self.p, self.rng, self.cal
        idx = self._present(d0, d1)
        idx = idx[~self.evaluating[idx] & (self.nw_day[idx] == NEVER)
                  & (self.end_day[idx] == NEVER) & (self.acq_day[idx] < d0)]
        L = d1 - d0
        hit = rng.random(idx.size) < 1 - np.exp(-np.take(p.no_warning_rate, self.seg[idx])
                                                 * L / 365.0)
        acc = idx[hit]
        if acc.size == 0:
            return
        notice = d0 + (rng.random(acc.size) * L).astype(np.int64)
        acquired = rng.random(acc.size) < p.no_warning_acquired_share
        nb = cal.day(self.nb_mi[acc], self.dom[acc])
        monthly = self.term[acc] == 1
        nxt, _ = cal.next_anniversary(notice + 7, self.dom[acc])
        oob = np.minimum(notice + rng.integers(14, 46, acc.size), nb)
        acq = np.where(nb - notice <= 120, nb, notice + rng.integers(30, 91, acc.size))
        self.nw_day[acc] = np.where(monthly, nxt, np.where(acquired, acq, oob))
        self.nw_reason[acc] = np.where(acquired, 1, 2)

    # --------------------------------------------------- evaluating state
    def _enter_evaluating(self, d0, d1, burn) -> None:
        p, rng, cal = self.p, self.rng, self.cal
        idx = self._present(d0, d1)
        idx = idx[~self.evaluating[idx] & (self.nw_day[idx] == NEVER)
                  & (self.end_day[idx] == NEVER) & (self.cooldown[idx] <= d0)]
        nb = cal.day(self.nb_mi[idx], self.dom[idx])
        lo_w, hi_w = p.annual_window_days
        eligible = (self.term[idx] == 1) | ((nb - d0 >= lo_w) & (nb - d0 <= hi_w))
        idx, nb = idx[eligible], nb[eligible]
        h = self.health(idx)
        rate = self._daily_entry_rate(idx, h)
        hit = rng.random(idx.size) < 1 - np.exp(-rate * (d1 - d0))
        acc, h, nb = idx[hit], h[hit], nb[hit]
        if acc.size == 0:
            return
        start = np.maximum(d0 + (rng.random(acc.size) * (d1 - d0)).astype(np.int64),
                           self.acq_day[acc])
        lead = rng.integers(p.lead_days[0], p.lead_days[1] + 1, acc.size)
        planned_m, _ = cal.next_anniversary(start + lead, self.dom[acc])
        planned = np.where(self.term[acc] == 1, planned_m, nb)
        roots = self._root_cause(acc)
        q0 = self._q_of(h)
        self.evaluating[acc] = True
        self.eval_start[acc] = start
        self.planned[acc] = planned
        self.q0[acc] = q0
        self.q[acc] = q0
        self.eval_root[acc] = roots
        self.n_eval[acc] += (start >= 0)
        # will the CS team notice and start a playbook?
        det_p = np.where(self.strategic[acc], p.detect_prob_strategic,
                         np.take(p.detect_prob, self.seg[acc]))
        detected = rng.random(acc.size) < det_p
        lag = rng.integers(p.detect_lag_days[0], p.detect_lag_days[1] + 1, acc.size)
        iv = start + lag
        self.iv_day[acc] = np.where(detected & (iv < planned - 14) & (iv >= 0), iv, NEVER)
        first = len(self.episode_q)
        ep = self.episodes
        ep["acc"].append(acc)
        ep["start"].append(start)
        ep["planned"].append(planned)
        ep["root"].append(roots)
        ep["q0"].append(q0)
        ep["health"].append(_health_score(h))
        self.episode_q.extend(q0.tolist())
        self.episode_outcome.extend(["pending"] * acc.size)
        self.eval_id[acc] = first + np.arange(acc.size)

    def _interventions(self, d0, d1) -> None:
        p, rng = self.p, self.rng
        acc = np.flatnonzero(self.evaluating & (self.iv_day >= d0) & (self.iv_day < d1)
                             & (self.end_day == NEVER))
        if acc.size == 0:
            return
        probs = [p.control_share] + [(1 - p.control_share) / len(PLAYBOOKS)] * len(PLAYBOOKS)
        arm = _choice(rng, probs, acc.size)  # 0 = control, 1.. = PLAYBOOKS
        disc = np.zeros(acc.size)
        pricing = arm == 1 + PLAYBOOKS.index("pricing_concession")
        big = rng.random(acc.size) < 0.2
        disc[pricing] = np.where(big[pricing], rng.choice([20.0, 25.0], acc.size)[pricing],
                                 rng.choice([10.0, 12.0, 15.0], acc.size)[pricing])
        effects = np.zeros((1 + len(PLAYBOOKS), len(S.ROOT_CAUSES)))
        for j, name in enumerate(PLAYBOOKS):
            effects[j + 1] = p.playbook_effects[name]
        rel = effects[arm, self.eval_root[acc]]
        rel = np.where(pricing & (disc >= 20), np.minimum(rel * p.big_discount_boost, 0.9), rel)
        q_before = self.q[acc].copy()
        self.q[acc] = q_before * (1 - rel)
        self.iv_arm[acc] = arm
        self.iv_discount[acc] = disc
        first = len(self.iv_outcome)
        self.iv_id[acc] = first + np.arange(acc.size)
        c = self.iv_cols
        c["acc"].append(acc)
        c["day"].append(self.iv_day[acc].copy())
        c["arm"].append(arm)
        c["discount"].append(disc)
        c["root"].append(self.eval_root[acc].copy())
        c["q_before"].append(q_before)
        c["q_after"].append(self.q[acc].copy())
        c["episode"].append(self.eval_id[acc].copy())
        self.iv_outcome.extend(["pending"] * acc.size)
        self.iv_day[acc] = NEVER

    # ---------------------------------------------------------- the oracle
    def _mean_relative_effect(self) -> float:
        p = self.p
        eff = np.array([p.playbook_effects[name] for name in PLAYBOOKS]).mean()
        return (1 - p.control_share) * eff

    def oracle_risk(self, idx, m: int, horizon) -> np.ndarray:
        """True P(churn in [m, m + horizon) | latent state at m), without the coin flips.

        Known parts are exact: a scheduled no-warning churn, an evaluating account's
        planned churn date and its churn probability q (an intervention not yet started
        enters with its expected effect). Future entries into the evaluating state are
        integrated week by week over the expected (mean-reverting) health path, with the
        AR variance, the contract calendar, the lead-time distribution and the cooldown.
        Future shocks and a second no-warning draw after a recovery are ignored.
        """
        p, cal = self.p, self.cal
        horizon = np.broadcast_to(np.asarray(horizon, dtype=np.int64), idx.shape)
        end = m + horizon
        risk_known = ((self.nw_day[idx] < end)).astype(float)
        ev = self.evaluating[idx]
        det_p = np.where(self.strategic[idx], p.detect_prob_strategic,
                         np.take(p.detect_prob, self.seg[idx]))
        # a playbook not started yet may still come: its expected effect, not the draw
        lag_lo, lag_hi = p.detect_lag_days
        elapsed = m - self.eval_start[idx]
        remaining = np.clip((lag_hi - elapsed) / (lag_hi - lag_lo), 0, 1)
        p_later = det_p * remaining / (1 - det_p * (1 - remaining))
        may_come = ev & (self.iv_id[idx] < 0) & (self.planned[idx] - 14 > m)
        q_exp = self.q[idx] * np.where(may_come, 1 - p_later * self._mean_relative_effect(), 1.0)
        risk_eval = np.where(ev & (self.planned[idx] < end), q_exp, 0.0)
        free = ~ev & (self.nw_day[idx] == NEVER)
        monthly = self.term[idx] == 1
        delay = np.where(monthly, 22, 30)
        r_nw = np.take(p.no_warning_rate, self.seg[idx])
        p_nw = np.where(free, 1 - np.exp(-r_nw * np.maximum(horizon - delay, 0) / 365.0), 0.0)
        # future entries into the evaluating state
        nb = cal.day(self.nb_mi[idx], self.dom[idx])
        lo_w, hi_w = p.annual_window_days
        lead_grid = p.lead_days[0] + (np.arange(8) + 0.5) / 8 * (p.lead_days[1] - p.lead_days[0])
        surv = np.ones(idx.size)
        risk_new = np.zeros(idx.size)
        x, shock = self.x[idx], self.shock[:, idx]
        decays = np.array([s.decay_days for s in self.shock_specs])[:, None]
        max_weeks = int(np.ceil(max(int(horizon.max()) - p.lead_days[0], 0) / 7))
        for j in range(max_weeks):
            t = 7 * j + 3.5
            tau = m + int(t)
            rho = p.ar_weekly ** (t / 7)
            h = self.base[idx] + rho * x + (shock * np.exp(-t / decays)).sum(axis=0)
            var = p.ar_sd ** 2 * (1 - rho ** 2)
            rate = self._daily_entry_rate(idx, h) * np.exp(p.hazard_slope ** 2 * var / 2)
            elig = free & (self.cooldown[idx] <= tau) & (
                monthly | ((nb - tau >= lo_w) & (nb - tau <= hi_w)))
            pj = np.where(elig, 1 - np.exp(-rate * 7), 0.0)
            if monthly.any():
                frac_m = np.zeros(idx.size)
                for lead in lead_grid:
                    planned, _ = cal.next_anniversary(np.full(idx.size, tau + int(lead)),
                                                      self.dom[idx])
                    frac_m += (planned < end) / len(lead_grid)
            else:
                frac_m = 0.0
            frac = np.where(monthly, frac_m, (nb < end).astype(float))
            qj = self._q_of(h) * (1 - det_p * self._mean_relative_effect())
            risk_new += surv * pj * frac * qj
            surv *= 1 - pj
        # quiet non-renewal at the boundaries inside the horizon
        no_lapse = np.ones(idx.size)
        b = np.where(monthly, cal.next_anniversary(np.full(idx.size, m), self.dom[idx])[0], nb)
        b_mi = cal.month_of(b)
        last_mi = len(cal.month_first) - cal.mi0 - 1
        for _ in range(int(horizon.max()) // 28 + 1):
            inside = free & (b < end)
            if not inside.any():
                break
            t = np.maximum(b - m, 0).astype(float)
            rho = p.ar_weekly ** (t / 7)
            h = self.base[idx] + rho * x + (shock * np.exp(-t / decays)).sum(axis=0)
            var = p.ar_sd ** 2 * (1 - rho ** 2)
            lp = self._lapse_prob(idx, h) * np.exp(p.lapse_slope ** 2 * var / 2)
            no_lapse *= np.where(inside, 1 - np.minimum(lp, 0.9), 1.0)
            b_mi = b_mi + 1
            b = np.where(monthly, cal.day(np.minimum(b_mi, last_mi), self.dom[idx]), NEVER)
        out = 1 - (1 - risk_known) * (1 - risk_eval) * (1 - p_nw) * (1 - risk_new) * no_lapse
        return np.clip(out, 0.0, 1.0)

    def _record_month(self, m: int) -> None:
        idx = np.flatnonzero((self.acq_day <= m) & (self.end_day > m))
        mi = int(self.cal.month_of(np.array([m]))[0])
        next_start = int(self.cal.day(mi + 1, 1))
        c = self.month_cols
        c["acc"].append(idx)
        c["day"].append(np.full(idx.size, m, np.int64))
        c["health"].append(_health_score(self.health(idx)))
        c["evaluating"].append(self.evaluating[idx].copy())
        c["planned"].append(np.where(self.evaluating[idx], self.planned[idx], NEVER))
        c["nw"].append(self.nw_day[idx] < NEVER)
        c["hazard"].append(self.oracle_risk(idx, m, next_start - m))
        c["risk90"].append(self.oracle_risk(idx, m, 90))

    # ------------------------------------------------------------ events
    def _emit_poisson(self, event_type, acc, rate, lo, hi, value=None, max_one=False):
        """Poisson(rate * (hi - lo)) events per account at uniform days in [lo, hi).

        ``value`` is a callable of the positions (into ``acc``) of the emitted events,
        or a constant. Returns (positions, seconds) for linked events."""
        span = np.maximum(hi - lo, 0)
        n = self.obs.poisson(np.maximum(rate * span, 0.0))
        if max_one:
            n = np.minimum(n, 1)
        pos = np.repeat(np.arange(acc.size), n)
        if pos.size == 0:
            return pos, np.zeros(0, np.int64)
        day = lo[pos] + (self.obs.random(pos.size) * span[pos]).astype(np.int64)
        sec = day * SECONDS_PER_DAY + self._tod(pos.size)
        val = value(pos) if callable(value) else (1.0 if value is None else value)
        self.log.add(event_type, acc[pos], sec, val)
        return pos, sec

    def _emit(self, d0, d1) -> None:
        cal, obs = self.cal, self.obs
        if d0 in self._week_start_set:
            self.acc_wau[:] = 0
            self.acc_feat[:] = 0
            self.acc_report[:] = 0
        idx = self._present(d0, d1)
        if idx.size == 0:
            return
        lo = np.maximum(d0, self.acq_day[idx])
        hi = np.minimum(np.minimum(d1, self.end_day[idx]), self.D)
        L = (hi - lo).astype(float)
        mid = (d0 + d1) / 2
        h = self.health(idx)
        u = _sigmoid(h)
        ev = self.evaluating[idx]
        es, pl = self.eval_start[idx], self.planned[idx]
        dis = np.where(ev, np.clip((mid - es) / np.maximum(pl - es, 1), 0, 1), 0.0)
        root = np.where(ev, self.eval_root[idx], -1)
        tenure = mid - self.acq_day[idx]
        season = cal.season(d0)
        seg = self.seg[idx]
        shock = self.shock[:, idx]
        k = self.k_index
        svc = -(shock[k["service_failure"]] + shock[k["poor_onboarding"]])
        prod = -shock[k["product_gap"]]
        budget = -shock[k["budget_cut"]]
        # usage intensity (expected weekly active users) and its accumulators
        ramp = 1 - np.exp(-np.maximum(tenure, 0) / np.where(self.poor_onboarding[idx], 40, 18))
        act = 0.25 + 0.75 * u
        wau = self.seats[idx] * self.util[idx] * act * (1 - 0.6 * dis) * season * ramp
        self.acc_wau[idx] += wau * L
        self.acc_feat[idx] += self.depth[idx] * (0.3 + 0.7 * u) * (1 - 0.5 * dis) * ramp * L
        self.acc_report[idx] += np.clip(0.1 + 0.75 * u * (1 - 0.7 * dis), 0, 1) * L
        self.util[idx] *= np.exp(self.growth[idx] * (u - 0.3) * L / 30.44)
        self.util[idx] = np.minimum(self.util[idx], 1.2)

        def emit(event_type, rate, value=None, lo_=lo, hi_=hi, max_one=False, sel=None):
            if sel is None:
                return self._emit_poisson(event_type, idx, rate, lo_, hi_, value, max_one)
            a = idx[sel]
            r = rate[sel] if np.ndim(rate) else rate
            return self._emit_poisson(event_type, a, r, lo_[sel], hi_[sel], value, max_one)

        # ---- engagement
        cadence = np.array([1 / 90, 1 / 30, 1 / 14])[seg]
        p_hold = np.clip(0.93 - 0.35 * (1 - u) - 0.45 * dis, 0.1, 0.97)
        emit("meeting_held", cadence * p_hold * (0.5 + 0.5 * season))
        emit("meeting_cancelled", cadence * (1 - p_hold))
        train = np.where(tenure < 120, 1 / 14, 1 / 120)
        p_cancel = np.clip(0.08 + 0.3 * (1 - u) + 0.45 * dis, 0, 0.95)
        emit("training_cancelled", train * p_cancel)
        emails = np.array([1 / 21, 1 / 10, 1 / 5])[seg]
        med = 3.0 * np.exp(2.2 * (1 - u) + 2.3 * dis)
        emit("email_response_hours", emails,
             lambda pos: np.round(np.minimum(med[pos] * np.exp(0.7 * obs.standard_normal(
                 pos.size)), 24 * 14), 1))
        emit("newsletter_opened", self.readers[idx] * 0.35 / 30.44)  # decoy
        # ---- support: tickets scale with active users and the onboarding surge only
        surge = 1 + 2.0 * np.exp(-np.maximum(tenure, 0) / 45)
        t_rate = self.kappa[idx] * np.maximum(wau, 0) / 7 * surge
        pos, sec = emit("ticket_opened", t_rate)
        if pos.size:
            s_mean = 0.25 + 0.6 * (u[pos] - 0.6) - 0.5 * svc[pos] - 0.4 * dis[pos]
            has = obs.random(pos.size) < 0.6
            sent = np.clip(s_mean + 0.3 * obs.standard_normal(pos.size), -1, 1)
            self.log.add("ticket_sentiment", idx[pos[has]],
                         sec[has] + (obs.random(has.sum()) * 1800).astype(np.int64),
                         np.round(sent[has], 2))
            surveyed = obs.random(pos.size) < 0.25
            later = sec + obs.integers(1, 5, pos.size) * SECONDS_PER_DAY
            ok = surveyed & (later < np.minimum(self.end_day[idx[pos]], self.D) * SECONDS_PER_DAY)
            c_mean = 3.5 + 2.5 * (u[pos] - 0.6) - 1.0 * svc[pos] - 0.8 * dis[pos]
            csat = np.clip(np.round(c_mean + 0.8 * obs.standard_normal(pos.size)), 1, 5)
            self.log.add("csat_response", idx[pos[ok]], later[ok], csat[ok])
        size = self.size_factor[idx]
        emit("ticket_escalated", size * (0.002 + 0.02 * svc + 0.01 * prod + 0.004 * dis))
        emit("repeat_issue", size * (0.001 + 0.015 * svc + 0.012 * prod))
        po = -shock[k["poor_onboarding"]]
        emit("existing_feature_request", 0.002 + 0.02 * po + 0.006 * (1 - self.depth[idx]))
        emit("help_article_viewed", self.help_rate[idx])  # decoy
        # ---- outcomes
        emit("goal_milestone_reached", 0.012 * u ** 2 * (1 - 0.7 * dis))
        emit("outcome_kpi", np.full(idx.size, 1 / 30.44),
             lambda pos: np.round(np.clip(100 * u[pos] - 25 * dis[pos]
                                          + 8 * obs.standard_normal(pos.size), 0, 100), 1))
        # ---- sentiment: a quarterly NPS survey (Jan/Apr/Jul/Oct), three weeks to answer
        mi = int(cal.month_of(np.array([d0]))[0])
        month_first = int(cal.day(mi, 1))
        if cal.month_numbers[mi + cal.mi0] in (1, 4, 7, 10) and d0 < month_first + 21:
            p_resp = np.clip(0.35 * (0.5 + u) * (1 - 0.5 * dis), 0, 1)
            hi_s = np.minimum(hi, month_first + 21)
            emit("nps_response", p_resp / 21,
                 lambda pos: np.clip(np.round(2 + 9 * u[pos] - 3 * dis[pos]
                                              + 1.3 * obs.standard_normal(pos.size)), 0, 10),
                 hi_=hi_s, max_one=True)
        # ---- financial
        emit("pricing_question",
             0.6 / 365 + 2.0 / 365 * (self.util[idx] * act > 0.85)
             + np.where(np.isin(root, [self.root_index["value_perception"],
                                       self.root_index["circumstantial"]])
                        & (pl - mid <= 90) & (pl - mid >= 14), 1 / 20, 0.0))
        circ = root == self.root_index["circumstantial"]
        emit("budget_cut_mentioned", np.where(circ, 1 / 45, 0.0), max_one=True)
        emit("pause_request", np.where(circ & (pl - mid >= 14), 1 / 60, 0.1 / 365)
             + 0.3 / 365 * budget, max_one=True)
        # monthly invoice (all accounts are billed monthly); recorded when paid
        due = cal.day(mi, self.dom[idx])
        inv = (due >= lo) & (due < hi)
        if inv.any():
            a = np.flatnonzero(inv)
            late_mean = 1.5 + 25 * budget[a] + 8 * (1 - u[a]) + 20 * dis[a] * circ[a]
            late = np.round(obs.exponential(late_mean)).astype(np.int64)
            paid = (due[a] + late) * SECONDS_PER_DAY + self._tod(a.size)
            ok = paid < np.minimum(self.end_day[idx[a]], self.D) * SECONDS_PER_DAY
            self.log.add("invoice_days_late", idx[a[ok]], paid[ok], late[ok].astype(float))
            limit = self.util[idx[a]] * act[a] * (1 - 0.6 * dis[a]) * 115
            self.log.add("plan_limit_usage", idx[a],
                         due[a] * SECONDS_PER_DAY + self._tod(a.size),
                         np.round(np.clip(limit + 4 * obs.standard_normal(a.size), 0, 120), 1))
        # ---- competitive: mostly 14-60 days before the planned churn date
        w_lo = np.maximum(lo, pl - 60)
        w_hi = np.minimum(hi, pl - 14)
        weights = np.array([[1.0, 0.6, 0.7, 1.0],    # product_fit
                            [0.6, 0.4, 0.6, 0.1],    # service_experience
                            [0.9, 0.8, 0.6, 0.2],    # value_perception
                            [0.2, 0.1, 0.5, 0.05]])  # circumstantial
        wr = np.where(ev[:, None], weights[np.maximum(root, 0)], 0.0) / 46.0
        bg = np.array([0.08, 0.4, 0.1, 0.05]) / 365
        types = ("competitor_comparison", "competitor_webinar", "data_export_request",
                 "competitor_feature_request")
        scale = np.array([1.2, 0.8, 0.9, 1.0])
        for j, event_type in enumerate(types):
            emit(event_type, np.full(idx.size, bg[j]))
            emit(event_type, wr[:, j] * scale[j], lo_=w_lo, hi_=w_hi, sel=ev)
        # a few no-warning churners ask for their data on the way out
        nw = self.nw_day[idx] < NEVER
        emit("data_export_request", np.where(nw, 0.25 / 30, 0.0),
             lo_=np.maximum(lo, self.nw_day[idx] - 30), sel=nw, max_one=True)
        # ---- lifecycle
        for j in range(self.milestones.shape[1]):
            d = self.milestones[idx, j]
            hit = (d >= lo) & (d < hi)
            if hit.any():
                self.log.add("onboarding_milestone", idx[hit],
                             d[hit] * SECONDS_PER_DAY + self._tod(hit.sum()))
        fv = self.first_value_day[idx]
        hit = (fv >= lo) & (fv < hi)
        if hit.any():
            self.log.add("first_value_reached", idx[hit],
                         fv[hit] * SECONDS_PER_DAY + self._tod(hit.sum()))
        qbr_rate = np.array([0.2, 0.9, 1.0])[seg] / 91.0
        emit("qbr_held", qbr_rate * np.clip(0.9 - 0.4 * (1 - u) - 0.6 * dis, 0.05, 1))
        # ---- weekly aggregates, once the week is complete
        if d1 - 7 >= 0 and (d1 - 7) in self._week_start_set:
            self._emit_week(d1 - 7, cal.season(d1 - 7))

    def _emit_week(self, w: int, season: float) -> None:
        obs = self.obs
        # accounts covered at the week start; a churn inside the week gives a partial week
        full = np.flatnonzero((self.acq_day <= w) & (self.end_day > w))
        active_share = (np.minimum(self.end_day[full], w + 7) - w) / 7.0
        sec = np.full(full.size, w * SECONDS_PER_DAY, np.int64)
        wau = obs.poisson(self.acc_wau[full] / 7 * np.exp(0.1 * obs.standard_normal(full.size)))
        logins = obs.poisson(wau * self.logins_per_user[full])
        feat = np.where(wau > 0, obs.binomial(N_FEATURES, np.clip(self.acc_feat[full] / 7, 0, 1)),
                        0)
        dash = obs.poisson(self.dash_rate[full] * season * active_share)
        report = obs.binomial(self.recipients[full], np.clip(self.acc_report[full] / 7, 0, 1))
        for name, val in (("weekly_active_users", wau), ("logins", logins),
                          ("features_used", feat), ("dashboard_views", dash),
                          ("weekly_report_opened", report)):
            self.log.add(name, full, sec, val.astype(float))
        self.acc_wau[:] = 0
        self.acc_feat[:] = 0
        self.acc_report[:] = 0


# ------------------------------------------------------------ planted signal effects
LOWER, HIGHER, NONE = "lower_before_churn", "higher_before_churn", "none"


def _effect(direction: str, lead=None, mechanism: str = "", **extra) -> dict:
    out = {"effect": direction != NONE, "direction": direction,
           "lead_time_days": None if lead is None else list(lead),
           "decoy": False, "confounded": False, "confounder": None,
           "mechanism": mechanism}
    out.update(extra)
    return out


_DECOY = dict(decoy=True)
_EVAL = (60, 120)  # the evaluating state starts 60-120 days before the planned churn
_COMPETITIVE = (14, 60)

SIGNAL_EFFECTS: dict[str, dict] = {
    "weekly_active_users": _effect(LOWER, _EVAL, "seats x utilisation x (0.25 + 0.75 health), "
                                   "falling to 40% while evaluating"),
    "logins": _effect(LOWER, _EVAL, "Poisson(weekly active users x logins per user)"),
    "features_used": _effect(LOWER, _EVAL, "breadth of use: account depth x health, halved "
                             "while evaluating"),
    "dashboard_views": _effect(NONE, None, "account-specific constant rate, independent of "
                               "health, segment and churn", **_DECOY),
    "meeting_held": _effect(LOWER, _EVAL, "scheduled by segment cadence; held less often with "
                            "low health and while evaluating"),
    "meeting_cancelled": _effect(HIGHER, _EVAL, "the scheduled meetings that were not held"),
    "training_cancelled": _effect(HIGHER, _EVAL, "cancellation probability rises with low "
                                  "health and while evaluating"),
    "email_response_hours": _effect(HIGHER, _EVAL, "median 3 h x exp(2.2 (1 - health) + 2.3 "
                                    "evaluating progress)"),
    "newsletter_opened": _effect(NONE, None, "account-specific constant rate", **_DECOY),
    "ticket_opened": _effect(NONE, None, "kappa x WAU x onboarding surge (first ~90 "
                             "days); no direct link to health or churn", confounded=True,
                             confounder="weekly_active_users (heavy users file more "
                             "tickets) and tenure (onboarding surge)"),
    "ticket_escalated": _effect(HIGHER, None, "service-failure, poor-onboarding and product-gap "
                                "shocks (these lower health)"),
    "repeat_issue": _effect(HIGHER, None, "service-failure and product-gap shocks"),
    "ticket_sentiment": _effect(LOWER, _EVAL, "per ticket: health, service issues, evaluating "
                                "progress"),
    "existing_feature_request": _effect(HIGHER, None, "poor onboarding (lower health early in "
                                        "tenure) and shallow feature adoption"),
    "help_article_viewed": _effect(NONE, None, "account-specific constant rate", **_DECOY),
    "goal_milestone_reached": _effect(LOWER, _EVAL, "rate ~ health^2, cut while evaluating"),
    "outcome_kpi": _effect(LOWER, _EVAL, "monthly: 100 x health - 25 x evaluating progress "
                           "+ noise"),
    "nps_response": _effect(LOWER, _EVAL, "quarterly survey (Jan/Apr/Jul/Oct), partial "
                            "response; score 2 + 9 health - 3 evaluating progress + noise"),
    "csat_response": _effect(LOWER, _EVAL, "after ~25% of tickets; health, service issues"),
    "champion_left": _effect(HIGHER, None, "flag at the shock; 35% of champion departures "
                             "have a strong replacement and almost no health effect"),
    "champion_role_changed": _effect(HIGHER, None, "flag at the shock"),
    "new_leadership": _effect(HIGHER, None, "flag at the shock"),
    "merger_acquisition": _effect(HIGHER, None, "flag at the shock"),
    "budget_cut_mentioned": _effect(HIGHER, _EVAL, "at 60% of budget-cut shocks, and while "
                                    "evaluating for circumstantial reasons"),
    "pricing_question": _effect(HIGHER, (14, 90), "value-perception and circumstantial "
                                "evaluations ask 14-90 days before churn; loyal accounts ask "
                                "too, and accounts near their plan limit ask about upgrades"),
    "pause_request": _effect(HIGHER, _EVAL, "circumstantial evaluations; rare otherwise"),
    "invoice_days_late": _effect(HIGHER, None, "monthly invoice, recorded when paid: budget "
                                 "cuts, low health, circumstantial evaluations"),
    "competitor_comparison": _effect(HIGHER, _COMPETITIVE, "14-60 days before the planned "
                                     "churn (most for product-fit), rare background"),
    "competitor_webinar": _effect(HIGHER, _COMPETITIVE, "14-60 days before the planned churn; "
                                  "loyal accounts attend some too"),
    "data_export_request": _effect(HIGHER, _COMPETITIVE, "14-60 days before the planned churn; "
                                   "a quarter of no-warning churners in their last 30 days"),
    "competitor_feature_request": _effect(HIGHER, _COMPETITIVE, "14-60 days before the planned "
                                          "churn, mostly product-fit"),
    "onboarding_milestone": _effect(LOWER, None, "five milestones in the first ~4 months of "
                                    "new accounts; fewer and slower with poor onboarding"),
    "first_value_reached": _effect(LOWER, None, "7-30 days after signing; late or never with "
                                   "poor onboarding"),
    "weekly_report_opened": _effect(LOWER, _EVAL, "recipients x open probability (health, "
                                    "evaluating)"),
    "qbr_held": _effect(LOWER, _EVAL, "quarterly (mid-market, enterprise); skipped with low "
                        "health and while evaluating"),
    "plan_limit_usage": _effect(LOWER, _EVAL, "monthly: utilisation x activity; high and "
                                "healthy accounts expand at renewal"),
}


# ------------------------------------------------------------ output tables
_NAME_A = ("North", "Blue", "Bright", "Silver", "Summit", "Harbor", "Cedar", "Iron", "Nova",
           "Atlas", "Pioneer", "Vertex", "Crescent", "Granite", "Maple", "Orbit", "Prime",
           "Quantum", "River", "Sterling", "Urban", "Willow", "Zenith", "Apex", "Beacon",
           "Cobalt", "Delta", "Evergreen", "Falcon", "Golden")
_NAME_B = ("wind", "stone", "field", "bridge", "path", "line", "point", "works", "gate",
           "view", "wave", "peak", "forge", "light", "crest", "leaf", "port", "ridge")
_NAME_C = ("Analytics", "Logistics", "Health", "Systems", "Labs", "Partners", "Foods",
           "Retail", "Capital", "Media", "Energy", "Software", "Group", "Industries",
           "Learning", "Consulting")
_SUFFIX = ("Inc", "Ltd", "GmbH", "LLC", "SA", "BV", "plc", "Pty Ltd")
INDUSTRIES = ("Software", "Financial Services", "Healthcare", "Retail", "Manufacturing",
              "Education", "Media", "Logistics", "Professional Services", "Public Sector")
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
_REGION_MIX = (0.45, 0.30, 0.15, 0.10)
_CSM_FIRST = ("alice", "bruno", "carmen", "david", "elena", "farid", "grace", "hugo", "ines",
              "jonas", "keiko", "luis", "maya", "nikos", "olga", "pedro", "quinn", "rosa",
              "samir", "tanya", "umar", "vera", "wei", "ximena", "yusuf")
_CSM_LAST = ("moreno", "schmidt", "okafor", "tanaka", "silva", "novak", "kumar", "dubois",
             "rossi", "larsen", "garcia", "nguyen", "cohen", "ivanova", "brown", "haddad",
             "kowalski", "murphy", "santos", "berg", "ali", "fischer", "lopez", "chen", "adeyemi")
EXPANSION_LEVELS = ("low", "medium", "high")
NO_WARNING_REASONS = ("", "acquired", "out_of_business")


def _plan(seats: np.ndarray) -> np.ndarray:
    return np.select([seats < 10, seats < 50, seats < 250],
                     ["starter", "team", "business"], "enterprise").astype(object)


def _dates(cal: _Calendar, days) -> np.ndarray:
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


def _build(w: _World, n_months: int, seed: int, kinds: dict) -> SimulatedSaaS:
    cal, n, rng = w.cal, w.n, w.attr_rng
    D = cal.n_days
    # ids follow signup order
    order = np.argsort(w.created_day, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    ids = _ids("A", n)
    acc_id = ids[rank]

    # ---- accounts
    names = (np.array(_NAME_A)[rng.integers(0, len(_NAME_A), n)].astype(object)
             + np.array(_NAME_B)[rng.integers(0, len(_NAME_B), n)].astype(object) + " "
             + np.array(_NAME_C)[rng.integers(0, len(_NAME_C), n)].astype(object) + " "
             + np.array(_SUFFIX)[rng.integers(0, len(_SUFFIX), n)].astype(object))
    n_csm = int(np.clip(10 + n // 3000, 10, 25))
    csm_names = np.array([f"{_CSM_FIRST[i]}.{_CSM_LAST[(7 * i + 3) % len(_CSM_LAST)]}"
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
        S.REGION: np.array(REGIONS, dtype=object)[_choice(rng, _REGION_MIX, n)],
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
        S.SUBSCRIPTION_ID: _ids("S", len(o), 7),
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
        S.ACCOUNT_ID: _arrow_strings(rank[acc], ids),
        S.EVENT_TIME: cal.timestamps(sec),
        S.EVENT_TYPE: _arrow_strings(typ, w.log.event_types),
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
    iv_ids = _ids("I", len(o))
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
        BASE_HEALTH: np.round(_health_score(w.base), 2),
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
        S.ACCOUNT_ID: _arrow_strings(rank[m_acc[o]], ids),
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


def _naive_association(w: _World, acc, sec, typ, val, kinds: dict) -> dict:
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


# ------------------------------------------------------------------ public API
def _check_arguments(n_accounts: int, n_months: int, start) -> pd.Timestamp:
    if int(n_accounts) < 10:
        raise ValueError(f"n_accounts must be at least 10, got {n_accounts}")
    if int(n_months) < 3:
        raise ValueError(f"n_months must be at least 3, got {n_months}")
    try:
        return pd.Timestamp(start).normalize()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"start is not a date: {start!r}") from exc


def _check_signal_map(smap: S.SignalMap) -> None:
    """The generator emits exactly the event types of the default signal map."""
    mapped, emitted = set(smap.signals), set(SIGNAL_EFFECTS)
    if mapped != emitted:
        raise ValueError("the simulator and the default signal map disagree: "
                         f"not simulated {sorted(mapped - emitted)}, "
                         f"not in the map {sorted(emitted - mapped)}")


def simulate_saas(n_accounts: int = 5000, n_months: int = 36, seed: int = 42,
                  start: str = "2023-11-01", progress: bool = False,
                  params: SimulationParams | None = None) -> SimulatedSaaS:
    """Simulate a B2B SaaS with ground truth.

    Parameters
    ----------
    n_accounts : accounts in total: an initial book (``params.initial_share``, signed
        0.5-5 years before ``start``) plus accounts acquired during the window.
    n_months : length of the data window; the data end is ``start + n_months`` months.
    seed : the seed of every random draw; the same seed gives identical tables.
    start : first day of the data window (``YYYY-MM-DD``).
    progress : show a progress bar over the time steps.
    params : the mechanism's tunables (default :class:`SimulationParams`).

    Returns
    -------
    SimulatedSaaS : the input tables, the truth tables, the planted signal effects and
    the parameters.
    """
    start_ts = _check_arguments(n_accounts, n_months, start)
    params = params or SimulationParams()
    smap = S.load_signal_map(S.default_signal_map_path())
    _check_signal_map(smap)
    world = _World(int(n_accounts), int(n_months), int(seed), start_ts, params,
                   [spec.event_type for spec in smap])
    world.run(progress=progress)
    sim = _build(world, int(n_months), int(seed), {s.event_type: s.kind for s in smap})
    for name, entry in sim.signal_effects.items():
        entry["family"] = smap[name].family
    return sim


def write_simulation(sim: SimulatedSaaS, out_dir) -> Path:
    """Write the simulation to ``out_dir`` atomically (a temporary folder, then a rename).

    Layout: ``{accounts,subscriptions,events,interventions}.parquet`` and
    ``signal_map.yaml`` (the inputs churnlab reads), and ``truth/`` with
    ``accounts``, ``shocks``, ``account_months``, ``evaluations`` and ``interventions``
    Parquet files, ``signal_effects.yaml`` and ``params.json``. An existing folder is
    replaced only when it holds an earlier simulation (``truth/params.json``); any
    other non-empty folder raises ``FileExistsError``.
    """
    out = Path(out_dir)
    replace = out.is_dir() and (out / TRUTH_DIR / PARAMS_FILE).is_file()
    with atomic_dir(out, overwrite=replace) as tmp:
        for name, df in sim.input_tables().items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        shutil.copyfile(S.default_signal_map_path(), tmp / S.SIGNAL_MAP_FILE)
        truth = tmp / TRUTH_DIR
        truth.mkdir()
        for name, df in sim.truth_tables().items():
            df.to_parquet(truth / f"{name}.parquet", index=False)
        with (truth / SIGNAL_EFFECTS_FILE).open("w") as fh:
            yaml.safe_dump({"version": 1, "event_types": sim.signal_effects}, fh,
                           sort_keys=False, allow_unicode=True)
        (truth / PARAMS_FILE).write_text(json.dumps(sim.params, indent=2, sort_keys=True)
                                         + "\n")
    return out


# ------------------------------------------------------------------ calibration
def annual_logo_churn(sim: SimulatedSaaS) -> pd.DataFrame:
    """Logo churn over the last 12 complete months, by segment.

    Accounts active at the start of the year (their first subscription had started and
    they had not churned) form the base; churners are those of them whose churn date
    falls inside the year. Columns: segment, active_at_start, churned, churn_rate.
    """
    end = sim.end
    t0 = end - pd.DateOffset(months=12)
    first = sim.subscriptions.groupby(S.ACCOUNT_ID)[S.START_DATE].min()
    truth = sim.truth_accounts.set_index(S.ACCOUNT_ID)
    df = truth.join(first.rename("first_start"))
    active = (df["first_start"] <= t0) & (df[CHURN_DATE].isna() | (df[CHURN_DATE] > t0))
    churned = active & (df[CHURN_DATE] < end)
    rows = []
    for seg in (*S.SEGMENTS, "all"):
        m = active if seg == "all" else active & (df[S.SEGMENT] == seg)
        n_active, n_churned = int(m.sum()), int((churned & m).sum())
        rows.append({S.SEGMENT: seg, "active_at_start": n_active, "churned": n_churned,
                     "churn_rate": n_churned / n_active if n_active else float("nan")})
    return pd.DataFrame(rows)


def oracle_evaluation(sim: SimulatedSaaS, horizon_days: int = 90, n_month_starts: int = 12,
                      max_rows: int = 300_000) -> dict:
    """How well the oracle (``oracle_risk_90d``) ranks observed churn within 90 days.

    Uses the last ``n_month_starts`` month starts whose 90-day follow-up ends inside the
    data. Returns Harrell's C (time to churn censored at the horizon), ROC AUC of churn
    within the horizon, the mean predicted risk and the observed rate.
    """
    from lifelines.utils import concordance_index
    from sklearn.metrics import roc_auc_score

    months = sim.truth_account_months
    starts = np.sort(months[MONTH_START].unique())
    ok = starts[starts + np.timedelta64(horizon_days, "D") <= np.datetime64(sim.end)]
    chosen = ok[-n_month_starts:]
    df = months.loc[months[MONTH_START].isin(chosen), [S.ACCOUNT_ID, MONTH_START,
                                                       ORACLE_RISK_90D]]
    if len(df) > max_rows:
        df = df.sample(max_rows, random_state=0)
    churn = sim.truth_accounts.set_index(S.ACCOUNT_ID)[CHURN_DATE]
    cd = churn.reindex(df[S.ACCOUNT_ID].astype(str)).to_numpy()
    days = (cd - df[MONTH_START].to_numpy()) / np.timedelta64(1, "D")
    event = np.nan_to_num(days, nan=np.inf) < horizon_days
    duration = np.where(event, days, horizon_days)
    risk = df[ORACLE_RISK_90D].to_numpy()
    if event.all() or not event.any():
        return {"oracle_concordance": float("nan"), "oracle_auc": float("nan")}
    return {
        "oracle_concordance": float(concordance_index(duration, -risk, event)),
        "oracle_auc": float(roc_auc_score(event, risk)),
        "oracle_mean_risk": float(risk.mean()),
        "observed_rate": float(event.mean()),
        "window": f"{pd.Timestamp(chosen[0]).date()}..{pd.Timestamp(chosen[-1]).date()}",
        "rows": int(len(df)),
    }


def summarise_simulation(sim: SimulatedSaaS) -> dict:
    """The numbers to quote: table sizes, annual logo churn by segment, the churn mix
    and the oracle's concordance (see :func:`annual_logo_churn`,
    :func:`oracle_evaluation`). Computed once and cached on ``sim``."""
    if sim._summary is None:
        churn = annual_logo_churn(sim).set_index(S.SEGMENT)["churn_rate"]
        oracle = oracle_evaluation(sim)
        truth = sim.truth_accounts
        year = truth[CHURN_DATE] >= sim.end - pd.DateOffset(months=12)
        churners = truth[truth[CHURNED] & year]
        summary = {
            "accounts": len(sim.accounts),
            "active_at_end": int((~truth[CHURNED]).sum()),
            "subscriptions": len(sim.subscriptions),
            "events": len(sim.events),
            "interventions": len(sim.interventions),
        }
        for seg, rate in churn.items():
            summary[f"annual_logo_churn[{seg}]"] = round(float(rate), 4)
        summary["no_warning_share_of_churn"] = round(float(
            churners[NO_WARNING_CHURN].mean()), 4) if len(churners) else float("nan")
        for key in ("oracle_concordance", "oracle_auc", "oracle_mean_risk", "observed_rate"):
            if key in oracle:
                name = key if key.startswith("oracle") else "observed_churn_90d"
                summary[f"{name}"] = round(oracle[key], 4)
        if "window" in oracle:
            summary["oracle_window"] = oracle["window"]
        sim._summary = summary
    return dict(sim._summary)
