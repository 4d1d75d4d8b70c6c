"""The simulator's parameters, shocks and result container."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnlab.data import contract as S

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


BIG_DISCOUNT_SHARE = 0.2   # pricing concessions of 20-25% (their effect x big_discount_boost)


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


# how much of the root-cause effect each playbook keeps by segment (SMB, Mid-Market,
# Enterprise): executives and the product team move big accounts, price moves small ones.
# Planted with ``growth_effects()``; the default world keeps every factor at 1 (so the
# demo world, and every test pinned to it, stays the one it was).
SEGMENT_FACTORS = {
    "immediate_problem_resolution": (1.0, 1.0, 1.0),
    "executive_engagement": (0.2, 1.0, 1.8),
    "product_team_involvement": (0.5, 1.0, 1.5),
    "pricing_concession": (1.6, 1.0, 0.4),
    "contract_flexibility": (1.3, 1.0, 0.7),
}
MAX_RELATIVE_EFFECT = 0.9


def relative_effect(params, name: str, root, segment, big=False) -> np.ndarray:
    """The planted relative cut of the churn probability q by playbook ``name`` for
    accounts of root cause index ``root`` and segment index ``segment`` (``big``: a
    20-25% pricing concession). ``params``: SimulationParams or its recorded dict."""
    get = params.get if isinstance(params, dict) else lambda k: getattr(params, k)
    by_root = np.asarray(get("playbook_effects")[name], dtype=float)
    factors = (get("playbook_segment_factors") or {}).get(name, (1.0, 1.0, 1.0))
    rel = by_root[np.asarray(root)] * np.asarray(factors, dtype=float)[np.asarray(segment)]
    rel = np.where(big, rel * get("big_discount_boost"), rel)
    return np.minimum(rel, MAX_RELATIVE_EFFECT)


def responsiveness(params, score) -> np.ndarray:
    """The share of a play's planted effect an account of 0-100 latent health ``score``
    receives (1 everywhere unless ``responsive_health`` is set)."""
    get = params.get if isinstance(params, dict) else lambda k: getattr(params, k)
    band = get("responsive_health")
    score = np.asarray(score, dtype=float)
    if not band:
        return np.ones_like(score)
    lo, hi = band
    return np.clip((score - lo) / (hi - lo), 0.0, 1.0)


def effect_if(playbook: str) -> str:
    """The truth column of a play's expected cut of the churn probability."""
    return f"effect_if__{playbook}"


def expected_relative_effect(params, name: str, root, segment) -> np.ndarray:
    """:func:`relative_effect` averaged over the discount sizes a play draws."""
    if name != "pricing_concession":
        return relative_effect(params, name, root, segment)
    return ((1 - BIG_DISCOUNT_SHARE) * relative_effect(params, name, root, segment)
            + BIG_DISCOUNT_SHARE * relative_effect(params, name, root, segment, big=True))


@dataclass(frozen=True)
class SimulationParams:
    """Every tunable of the simulator (recorded in ``truth/params.json``).

    Per-segment tuples follow :data:`churnlab.data.contract.SEGMENTS` (SMB, Mid-Market,
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
    playbook_segment_factors: dict = field(default_factory=dict)
    big_discount_boost: float = 1.3
    # Ascarza's retention futility (futility_effects(); None: off): a play's relative effect
    # times (health score - lo) / (hi - lo), clipped to [0, 1], when the play starts
    responsive_health: tuple[float, float] | None = None
    # value milestones (planted with growth_effects()): a QBR held in the window before a
    # contract boundary multiplies the chance that a healthy account near its plan limit
    # expands (capped at 95%) and lowers the usage bar
    # (monthly, longer terms): the base chance before any milestone effect
    expansion_prob: tuple[float, float] = (0.2, 0.7)
    milestone_expansion_effects: dict = field(default_factory=dict)
    milestone_window_days: int = 120
    # simulation
    burn_in_days: int = 182

    @classmethod
    def growth_effects(cls, **overrides) -> "SimulationParams":
        """The world with the retention-as-growth effects planted: play effects that vary
        by segment (SEGMENT_FACTORS) and a QBR effect on expansion (x1.8)."""
        base = dict(playbook_segment_factors=dict(SEGMENT_FACTORS),
                    milestone_expansion_effects={"qbr_held": 1.8})
        base.update(overrides)
        return cls(**base)

    @classmethod
    def futility_effects(cls, lo: float = 40.0, hi: float = 70.0, **overrides
                         ) -> "SimulationParams":
        """The growth world where a play's effect scales with engagement (Ascarza 2018):
        the accounts most at risk are the ones the plays change least."""
        return cls.growth_effects(responsive_health=(lo, hi), **overrides)

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
        :mod:`churnlab.data.contract` exactly.
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
