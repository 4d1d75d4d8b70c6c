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
# # 05 · Expansion: what grew, what came before it, and who may grow next
#
# Retention is also growth: the second article asks to credit each expansion to "the
# last value milestone completed" (a QBR held, an expert session or training, an
# onboarding milestone, a value report) and to watch who is ready to expand.
#
# 1. **Contract changes** from the subscriptions: MRR up (expansion) or down
#    (contraction) within a service span, at a renewal or mid-term;
# 2. **attribution**: each expansion credited to the last value milestone in the window
#    before it. *Attribution is bookkeeping, not causation*: milestones happen more to
#    accounts that are doing well, and those accounts expand anyway;
# 3. **a stratified comparison**: accounts with and without each milestone at monthly
#    as-of dates, expanding in the next window, within strata of segment, term, first
#    year and plan-limit use (Mantel-Haenszel). Closer to an effect than attribution,
#    still not a randomised one: account health is not in the strata;
# 4. **propensity**: who is likely to expand in the next window, with the signals behind
#    each score, validated on the latest as-of dates (trained on the earlier ones).
#
# The milestones come from the signal map's roles (`qbr`, `value_report`,
# `expert_service`, `onboarding`, `first_value`), never from event names.

# %% tags=["parameters"]
data_dir = "../data/raw/demo"
as_of = None
window_days = 120
top_n = 15
truth_dir = None

# %%
# %matplotlib inline
from IPython.display import Markdown

from churnlab.data.validation import require_valid
from churnlab.data.warehouse import open_warehouse
from churnlab.pipeline.expansion import run_expansion
from churnlab.present.expansion import (
    attribution_table,
    comparison_words,
    plot_expansion_by_month,
    plot_milestone_ratios,
    summary_words,
)
from churnlab.sim.truth import planted_milestone_effects

# %%
wh = open_warehouse(data_dir)
validation = require_valid(wh)
expansion = run_expansion(wh, as_of, window_days=window_days, top=top_n)
Markdown(summary_words(expansion))

# %% [markdown]
# ## Contract changes by month

# %%
plot_expansion_by_month(expansion)

# %% [markdown]
# ## Attribution: the last milestone before each expansion

# %%
attribution_table(expansion)

# %% [markdown]
# ## Accounts with and without each milestone

# %%
plot_milestone_ratios(expansion)

# %%
Markdown(comparison_words(expansion))

# %% [markdown]
# ## Who may expand next

# %%
Markdown(f"Propensity checked on the latest as-of dates (trained on the earlier ones): "
         f"AUC {expansion.propensity_auc:.2f}.")

# %%
expansion.candidates

# %% [markdown]
# ## Against the planted milestone effects (synthetic SaaS only)

# %%
planted_milestone_effects(truth_dir) if truth_dir else None
