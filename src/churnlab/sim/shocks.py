"""Shocks, evaluations, interventions and the oracle risk of the simulated world."""

from __future__ import annotations

import numpy as np

from churnlab.data import contract as S
from churnlab.sim.params import (
    BIG_DISCOUNT_SHARE,
    NEVER,
    PLAYBOOKS,
    SECONDS_PER_DAY,
    relative_effect,
    responsiveness,
)
from churnlab.sim.parts import choice, health_score


class ShocksMixin:
    """Part of the simulated world (see ``sim.world``)."""

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
        ep["health"].append(health_score(h))
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
        arm = choice(rng, probs, acc.size)  # 0 = control, 1.. = PLAYBOOKS
        disc = np.zeros(acc.size)
        pricing = arm == 1 + PLAYBOOKS.index("pricing_concession")
        big = rng.random(acc.size) < BIG_DISCOUNT_SHARE
        disc[pricing] = np.where(big[pricing], rng.choice([20.0, 25.0], acc.size)[pricing],
                                 rng.choice([10.0, 12.0, 15.0], acc.size)[pricing])
        roots, segs = self.eval_root[acc], self.seg[acc]
        rel = np.zeros(acc.size)
        for j, name in enumerate(PLAYBOOKS):
            m = arm == j + 1
            rel[m] = relative_effect(p, name, roots[m], segs[m], big=disc[m] >= 20)
        respond = responsiveness(p, health_score(self.health(acc)))
        rel = rel * respond
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
        c["respond"].append(respond)
        self.iv_outcome.extend(["pending"] * acc.size)
        self.iv_day[acc] = NEVER

    def _mean_relative_effect(self) -> float:
        p = self.p
        roots, segs = np.arange(len(S.ROOT_CAUSES)), np.arange(3)
        eff = np.mean([relative_effect(p, name, roots[:, None], segs[None, :]).mean()
                       for name in PLAYBOOKS])
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
