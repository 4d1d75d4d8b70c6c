# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Leading signals of last year's churners, and a health score learned from them
#
# *"Don't guess the weights: analyse the customers who churned in the last 12 months and
# see which signals appeared first."* This notebook does exactly that on the data in
# `data_dir`, as of `as_of` (default: the day after the data ends):
#
# 1. **who** churned in the year before, compared with the accounts that renewed over the
#    same months (each seen at one of its own renewal dates);
# 2. **which signals** appeared before churn, how much more often than before a renewal
#    (lift, 95% CI, Benjamini-Hochberg q-values), **how early** (lead time) and how much
#    churned ARR they preceded;
# 3. a **trap**: a signal that only looks like a warning because of usage;
# 4. a **health score** whose family weights are learned from those churners, compared
#    out of time with the articles' default weights.
#
# All numbers come from `churnlab`; the findings at the end are written from them.

# %% tags=["parameters"]
data_dir = "../data/raw/demo"
as_of = None
windows = [[0, 30], [30, 90], [90, 180]]
seed = 42
confounded_event = None   # None: the event type whose raw and adjusted views disagree most
cohort_metric = None   # a snapshot column; None = the 90-day mean of the active-users role
horizon_days = 180
n_bootstrap = 200
training_step_months = 1
max_landmark_rows = 8000

# %%
# %matplotlib inline
from IPython.display import Markdown

from churnlab.data.validation import require_valid
from churnlab.data.warehouse import open_warehouse
from churnlab.evaluation.health import evaluate_out_of_time
from churnlab.present.health_findings import findings_markdown
from churnlab.present.signal_plots import (
    plot_adjusted,
    plot_adjusted_directions,
    plot_lead_times,
    plot_lift_by_family,
    plot_metric_cohorts,
    plot_score_comparison,
    plot_tier_churn,
    plot_weights,
)
from churnlab.signals.adjusted import confounding_view, metric_cohorts
from churnlab.signals.analysis import analyse_signals
from churnlab.signals.evidence import collect_evidence
from churnlab.signals.multivariable import direction_table
from churnlab.signals.peers import PEER_KINDS
from churnlab.signals.summary import lead_time_table, summarise_families, summarise_signals

# %%
wh = open_warehouse(data_dir)
validation = require_valid(wh)

# %% [markdown]
# ## Last year's churners and the renewals they are compared with

# %%
evidence = collect_evidence(wh, as_of, windows=windows, seed=seed,
                                    max_landmark_rows=max_landmark_rows)

# %%
evidence.cohort.groupby("group").agg(accounts=("account_id", "size"), arr=("arr", "sum"))

# %% [markdown]
# ## Which signals appeared before churn
# One row per signal (its strongest window). *lift* = how many times more common among
# churners than among renewals in that window; *q* = p-value after Benjamini-Hochberg
# control over every signal and window; *coverage* = share of churned ARR the signal
# preceded (within the longest window); *lead* = median days between its first
# appearance and the churn; *hr* = hazard ratio of churn in the next 180 days for
# accounts showing it, on monthly snapshots of the whole base.

# %%
table = analyse_signals(evidence=evidence)

# %%
summary = summarise_signals(table)

# %%
summary[["rank", "family", "label", "direction", "named_as", "window", "lift", "lift_lo",
         "lift_hi",
         "q_value", "coverage_arr_any", "lead_median", "lead_q25", "lead_q75", "hr",
         "hr_lo", "hr_hi"]].head(15).round(3)

# %% [markdown]
# ### Level against peers, and first steps never taken
# Change signals need a baseline, so they miss accounts that never got going. These
# compare an account with active accounts at the same tenure (bottom or top fifth, by
# segment where there are enough), and check whether a first-value or onboarding step
# came within 30 days of the start.

# %%
summary[summary["kind"].isin(PEER_KINDS)][["label", "named_as", "window", "lift", "lift_lo",
                                            "lift_hi", "q_value", "coverage_arr_any"]].round(3)

# %% [markdown]
# ### Each event type with the others held fixed
# A raw lift looks at one signal at a time, so an event type that comes with overall
# activity can look protective even when it raises the risk. One penalised Cox model on
# monthly snapshots of the whole base holds every other event type and tenure fixed: its
# hazard ratio per standard deviation (interval, and q-value controlled together with
# every lift test above) is what names a signal a risk or a protective one.

# %%
directions = direction_table(table)

# %%
plot_adjusted_directions(directions)

# %%
directions.round(3)

# %% [markdown]
# ### Signal timeline before churn
# When each warning sign first appeared, for the churners who showed it.

# %%
plot_lead_times(lead_time_table(evidence), summary,
                      horizon=max(end for _, end in windows))

# %% [markdown]
# ### Lift by family

# %%
plot_lift_by_family(summary)

# %%
summarise_families(summary)

# %% [markdown]
# ### Churn rate by cohort of a metric
# Accounts active a year ago, split into deciles of the metric at that date: the share of
# each decile that churned within the year.

# %%
plot_metric_cohorts(metric_cohorts(wh, as_of, cohort_metric))

# %% [markdown]
# ## A trap: a signal confounded by usage
# Busy accounts generate more of almost everything (and busy accounts rarely churn). Seen
# naively, such an event type says more about usage than about risk; per active user, or
# comparing accounts with the same usage (Mantel-Haenszel over usage quintiles), the
# question becomes fair. The example is the event type whose raw and adjusted views
# disagree most (or `confounded_event`).

# %%
adjusted, confounded_label, adjustment_text = confounding_view(evidence, table,
                                                               confounded_event)

# %%
plot_adjusted(adjusted, confounded_label)

# %%
Markdown(adjustment_text)

# %% [markdown]
# ## A health score with weights learned from the churners
# Sub-scores 0-100 per signal family (100 x the chance of *not* churning within the
# horizon, judged by that family alone, with directions learned from the data); the
# overall score weighs them either with the articles' defaults or with weights learned
# from last year's churners. To judge them fairly, the score is fitted on what was known
# at a date T, computed at T, and compared with what happened after T.

# %%
evaluation = evaluate_out_of_time(wh, as_of, horizon_days=horizon_days,
                                         step_months=training_step_months,
                                         n_bootstrap=n_bootstrap, random_state=seed)

# %%
plot_weights(evaluation.weights)

# %%
evaluation.weights.round(3)

# %%
plot_score_comparison(evaluation.metrics)

# %%
evaluation.metrics.round(3)

# %%
evaluation.differences.round(3)

# %% [markdown]
# ### Tiers: the articles' cuts and the cuts the data suggests

# %%
plot_tier_churn(evaluation.tiers, "learned")

# %%
evaluation.flagged.round(3)

# %%
Markdown(findings_markdown(summary, evidence.cohort, evaluation, adjustment_text))
