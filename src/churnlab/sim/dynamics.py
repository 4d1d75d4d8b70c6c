"""Account lifecycle in the simulated world: health, entries, renewals, churn."""

from __future__ import annotations

import numpy as np

from churnlab.sim.params import NEVER, PLAYBOOKS
from churnlab.sim.parts import choice, sigmoid


class LifecycleMixin:
    """Part of the simulated world (see ``sim.world``)."""

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
        drift = choice(self.rng, (0.3, 0.25, 0.45, 0.0), acc.size)
        return np.where(contrib.min(axis=0) < -0.25, roots, drift)

    def _q_of(self, h):
        p = self.p
        return np.clip(p.q_base + p.q_slope * (1 - sigmoid(h)), 0.05, 0.95)

    def _close_rows(self, acc, end) -> None:
        c = self.sub_cols
        c["acc"].append(acc)
        c["start"].append(self.row_start[acc].copy())
        c["end"].append(np.asarray(end, np.int64) + np.zeros(len(acc), np.int64))
        c["mrr"].append(self.list_mrr[acc] * (1 - self.discount[acc] / 100))
        c["term"].append(self.term[acc].copy())
        c["disc"].append(self.discount[acc].copy())
        c["seats"].append(self.seats[acc].copy())

    def _present(self, d0, d1):
        """Accounts covered by a subscription at some day of [d0, d1)."""
        return np.flatnonzero((self.acq_day < d1) & (self.end_day > np.maximum(d0, self.acq_day)))

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

    def _expansion_prob(self, acc, day, annual) -> tuple[np.ndarray, np.ndarray]:
        """Chance that a healthy account near its plan limit expands at this boundary,
        times the planted effect of each value milestone held in the window before; and
        whether a milestone with an effect above 1 was held (it also lowers the bar)."""
        prob = np.where(annual, self.p.expansion_prob[1], self.p.expansion_prob[0])
        boosted = np.zeros(acc.size, dtype=bool)
        for name, effect in self.p.milestone_expansion_effects.items():
            recent = day - self.last_milestone[name][acc] <= self.p.milestone_window_days
            prob = np.where(recent, prob * effect, prob)
            boosted |= recent & (effect > 1)
        return np.minimum(prob, 0.95), boosted

    def _renew(self, acc, day, recovered, burn) -> None:
        """Pass a contract boundary: annual terms start a new row (with expansion,
        downgrade, discount or term changes); monthly ones change row only on a change."""
        rng, cal = self.rng, self.cal
        h = self.health(acc)
        u = sigmoid(h)
        annual = self.term[acc] > 1
        k = acc.size
        r = rng.random((6, k))
        usage = self.util[acc] * (0.25 + 0.75 * u)
        prob, milestone = self._expansion_prob(acc, day, annual)
        # a recent value milestone also brings accounts with some headroom left to expand
        expand_ok = (usage > np.where(milestone, 0.6, 0.8)) & (u > np.where(milestone, 0.5, 0.6))
        expand = expand_ok & (r[0] < prob)
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
