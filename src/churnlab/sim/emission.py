"""Observable events emitted by the simulated world."""

from __future__ import annotations

import numpy as np

from churnlab.sim.params import N_FEATURES, NEVER, SECONDS_PER_DAY
from churnlab.sim.parts import health_score, sigmoid


class EmissionMixin:
    """Part of the simulated world (see ``sim.world``)."""

    def _record_month(self, m: int) -> None:
        idx = np.flatnonzero((self.acq_day <= m) & (self.end_day > m))
        mi = int(self.cal.month_of(np.array([m]))[0])
        next_start = int(self.cal.day(mi + 1, 1))
        c = self.month_cols
        c["acc"].append(idx)
        c["day"].append(np.full(idx.size, m, np.int64))
        c["health"].append(health_score(self.health(idx)))
        c["evaluating"].append(self.evaluating[idx].copy())
        c["planned"].append(np.where(self.evaluating[idx], self.planned[idx], NEVER))
        c["nw"].append(self.nw_day[idx] < NEVER)
        c["hazard"].append(self.oracle_risk(idx, m, next_start - m))
        c["risk90"].append(self.oracle_risk(idx, m, 90))

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

    def _mark_milestone(self, event_type, acc, sec) -> None:
        """Remember the latest day of a milestone whose expansion effect is planted."""
        if event_type in self.last_milestone and acc.size:
            days = sec // SECONDS_PER_DAY
            np.maximum.at(self.last_milestone[event_type], acc, days)

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
        u = sigmoid(h)
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
        pos, sec = emit("qbr_held", qbr_rate * np.clip(0.9 - 0.4 * (1 - u) - 0.6 * dis, 0.05, 1))
        self._mark_milestone("qbr_held", idx[pos], sec)
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
