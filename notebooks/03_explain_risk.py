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
# # 03 · Why each account is at risk, and what to do about it
#
# The champion time-to-churn model (notebook 02) ranks the book; this notebook explains
# it. SHAP values of the model (TreeSHAP for the boosted hazard, exact for linear
# models) are on the model's risk scale: the log-odds of churning in the month after
# `as_of`, and they add up exactly to each account's risk score.
#
# 1. **Learned weights**: which signal families drive churn, beside the articles'
#    default health-score weights;
# 2. **walk-throughs** of the accounts at the top of the queue (waterfall plots and the
#    sentences their CSM reads);
# 3. **root causes** and **the priority queue**: expected ARR saved =
#    P(churn within 90 days) x save probability x ARR, with playbook and discount
#    guidance (../shared/DOMAIN.md);
# 4. on the synthetic SaaS only (`truth_dir`), how often the drivers name a planted
#    shock's family and how often the root cause matches the true class.

# %% tags=["parameters"]
data_dir = "../data/raw/demo"
as_of = None
model_path = "../models/demo"
top_n = 3
n_walkthroughs = 3
n_queue = 20
truth_dir = None

# %%
# %matplotlib inline
import pandas as pd
import shap
from IPython.display import Markdown, display

from churnlab.data import lifecycle
from churnlab.data.validation import require_valid
from churnlab.data.warehouse import open_warehouse
from churnlab.explain.accounts import feature_importance
from churnlab.explain.attribution import feature_label
from churnlab.models.registry import load_model
from churnlab.pipeline.book import book as book_at
from churnlab.present.explain_findings import findings_markdown, walkthrough_markdown
from churnlab.present.explain_plots import plot_family_weights, plot_root_cause_mix
from churnlab.sim.truth import (
    planted_shocks,
    planted_truth_sentence,
    root_cause_agreement,
    shock_hit_rate,
)

# %%
wh = open_warehouse(data_dir)
validation = require_valid(wh)
model = load_model(model_path)
as_of = pd.Timestamp(as_of) if as_of else lifecycle.observation_end(wh)
print(f"model {model.card['model_id']} ({model.kind}), as of {as_of.date()}")

# %%
book = book_at(wh, model, as_of, drivers=top_n)

# %% [markdown]
# ## Learned weights beside the articles' defaults
# *mean_abs_shap*: mean over accounts of the absolute summed SHAP of the family (risk
# scale). *learned_share*: its share of the total (contract calendar included);
# *learned_share_core*: the share among the five families the articles weigh, to read
# beside *default_share*.

# %%
book.importance.round(3)

# %%
plot_family_weights(book.importance)

# %%
explanation = book.explanation(wh.signal_map)     # a shap.Explanation: shap.plots.* work
shap.plots.beeswarm(explanation, max_display=12)

# %%
top_signals = feature_importance(book.phi, wh.signal_map).query(
    "family != 'contract'")["feature"].head(3).tolist()

# %%
for name in top_signals:
    shap.plots.scatter(explanation[:, feature_label(name, wh.signal_map)])

# %% [markdown]
# ## Walk-throughs: the top of the queue
# Each waterfall starts at the base value (the average account) and adds the largest
# contributions; below it, what the CSM reads.

# %%
row_of = pd.Index(book.snapshot["account_id"])
for r in book.triage.head(n_walkthroughs).itertuples():
    shap.plots.waterfall(explanation[row_of.get_loc(r.account_id)], max_display=10)
    display(Markdown(walkthrough_markdown(r)))

# %% [markdown]
# ## Root causes

# %%
book.triage.groupby(["root_cause", "save_class"]).size().unstack(fill_value=0)

# %%
plot_root_cause_mix(book.triage)

# %% [markdown]
# ## The priority queue

# %%
book.triage.head(n_queue)[["priority", "name", "csm_owner", "arr", "tier", "p_churn_90d",
                           "save_class", "expected_arr_saved", "root_cause", "playbook",
                           "discount_max_pct", "action"]]

# %%
book.tasks.groupby(["source", "priority"]).size()

# %% [markdown]
# ## Against the planted truth (synthetic SaaS only)

# %%
shocks = planted_shocks(truth_dir, as_of) if truth_dir else None
hit_rate = shock_hit_rate(book.explanations, shocks) if truth_dir else None
agreement = root_cause_agreement(book.triage, shocks) if truth_dir else None
hit_rate

# %%
agreement["confusion"] if truth_dir else None

# %%
Markdown(findings_markdown(book.importance, book.triage)
         + (planted_truth_sentence(hit_rate, agreement) if truth_dir else ""))
