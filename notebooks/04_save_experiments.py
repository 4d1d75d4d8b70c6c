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
# # 04 · Save experiments: which play keeps more customers than doing nothing?
#
# The report's "saved / churned" per playbook compares groups the CSMs chose, so it
# cannot say whether a play works. Where the plays were **randomised** (the
# interventions' `arm` column has a control arm), this notebook reads them out as a
# trial:
#
# 1. time to churn from the play's start, per arm (Kaplan-Meier), each account at its
#    first assignment (intention to treat);
# 2. per play against control: the change in churn risk at 90 and 180 days and the days
#    kept as a customer out of them (restricted mean survival time), with 95% intervals;
#    the log-rank test (Holm-adjusted over the plays) and the Cox hazard ratio; the ARR
#    the difference keeps (before the cost of any discount);
# 3. with a model, the same difference adjusted for each account's risk before its play
#    started (CUPED): unbiased whatever the covariate, narrower when it predicts;
# 4. guards: no winner before enough accounts were followed for the read-out horizon,
#    with contaminated arms (accounts assigned twice) or with arms that differed before
#    assignment more than chance allows;
# 5. the planner: how many accounts, and how many months of enrolment at the current
#    at-risk inflow, a new test needs.
#
# Where the plays were not randomised, only descriptive numbers are shown.

# %% tags=["parameters"]
data_dir = "../data/raw/demo"
as_of = None
model_path = "../models/demo"
readout_days = 180
min_per_arm = 30
effect = 0.10
truth_dir = None

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown

from churnlab.actions.experiments import Guards
from churnlab.data import lifecycle
from churnlab.data.validation import require_valid
from churnlab.data.warehouse import open_warehouse
from churnlab.models.registry import load_model
from churnlab.pipeline.experiments import plan_next, run_experiments
from churnlab.present.experiments import (
    adjustment_sentence,
    plot_arm_curves,
    plot_arm_effects,
    readout_table,
)
from churnlab.sim.truth import arm_effects_from_truth

# %%
wh = open_warehouse(data_dir)
validation = require_valid(wh)
model = load_model(model_path) if model_path else None
as_of = pd.Timestamp(as_of) if as_of else lifecycle.observation_end(wh)
guards = Guards(readout_days=readout_days, min_per_arm=min_per_arm)
readout = run_experiments(wh, as_of, model, guards)
print(f"read out as of {as_of.date()}: {len(readout.enrolment)} accounts enrolled")

# %% [markdown]
# ## The read-out

# %%
Markdown(readout.verdict + "".join(f"\n- {n}" for n in readout.notes))

# %%
readout_table(readout)

# %%
plot_arm_curves(readout)

# %%
plot_arm_effects(readout)

# %%
Markdown(adjustment_sentence(readout) or "No pre-assignment adjustment was made.")

# %% [markdown]
# ## The next test

# %%
plan = plan_next(readout, effect)
Markdown(plan.sentence() if plan else "No play has been started: there is no inflow to "
         "plan a test from.")

# %% [markdown]
# ## Against the planted effects (synthetic SaaS only)
# The simulator records each play's effect on each enrolled account's churn probability;
# here is the true change in churn risk beside the estimate.

# %%
truth = (arm_effects_from_truth(truth_dir, readout.enrolment)
         if truth_dir and readout.randomised else None)
(readout.arms.merge(truth, on=["arm", "horizon"])[
    ["arm", "horizon", "risk_diff", "risk_diff_lo", "risk_diff_hi", "true_risk_diff",
     "rmst_diff", "true_rmst_diff"]].round(3) if truth is not None else None)
