"""The simulated SaaS world: accounts, state, and the daily loop."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.sim.dynamics import LifecycleMixin
from churnlab.sim.emission import EmissionMixin
from churnlab.sim.params import NEVER, SimulationParams
from churnlab.sim.parts import Calendar, EventLog, choice, sigmoid
from churnlab.sim.shocks import ShocksMixin


class World(LifecycleMixin, ShocksMixin, EmissionMixin):
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
        self.cal = Calendar(start, n_months, months_before, 40, params.burn_in_days)
        self.D = self.cal.n_days
        self.log = EventLog(event_types)
        self.shock_specs = params.shocks
        self.k_po = [s.shock_type for s in params.shocks].index("poor_onboarding")
        self.k_index = {s.shock_type: k for k, s in enumerate(params.shocks)}
        self.root_index = {r: i for i, r in enumerate(S.ROOT_CAUSES)}
        self._init_accounts()
        self._init_state()
        self._records_init()

    def _init_accounts(self) -> None:
        p, rng, n, cal = self.p, self.rng, self.n, self.cal
        self.seg = choice(rng, p.segment_mix, n)
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
            self.term[m] = terms[choice(rng, probs, m.sum())]
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
        self.expansion = choice(rng, (0.35, 0.45, 0.2), n)  # low / medium / high
        growth = np.array([0.002, 0.010, 0.022])[self.expansion]
        self.growth = np.maximum(growth + 0.004 * rng.standard_normal(n), 0.0)
        self.util = np.clip(0.55 + 0.15 * rng.standard_normal(n), 0.25, 0.95)
        self.depth = np.clip(sigmoid(-0.6 + 0.8 * (self.base - 1.0)
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
        # the day of each account's latest value milestone with a planted expansion effect
        self.last_milestone = {k: np.full(n, -NEVER, np.int64)
                               for k in self.p.milestone_expansion_effects}
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
            "acc", "day", "arm", "discount", "root", "q_before", "q_after", "episode",
            "respond")}
        self.iv_outcome: list[str] = []
        self.churn_path = np.zeros(self.n, np.int64)  # index into CHURN_PATHS
        self.churn_root = np.full(self.n, -1, np.int64)
        self.early_term = np.zeros(self.n, bool)

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
