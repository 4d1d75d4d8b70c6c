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
# # 02 · Time to churn: who leaves, when, and how sure we are
#
# Notebook 01 found *which* signals precede churn. This one asks *when*: how likely each
# account is to churn in the next 90 days and before its next renewal, and how much ARR
# that puts at risk. On the data in `data_dir`, as of `as_of` (default: the day after the
# data ends):
#
# 1. **observed** survival curves (Kaplan-Meier) by segment, contract term and the
#    report's risk tier;
# 2. **explanatory** models: a Cox model (hazard ratios, with the proportional-hazards
#    check acted on) and a parametric AFT model (Weibull or log-normal, by AIC);
# 3. a **rolling-origin backtest** of every model against the health score, a 90-day
#    logistic baseline and (with `truth_dir`, evaluation only) the simulator's oracle;
# 4. the **champion** chosen by that backtest, its calibration, its model card, its scores
#    today and what they mean in words.
#
# The champion is a discrete-time monthly hazard on the contract calendar: it knows that an
# annual account can only leave at its renewal date (see `churnlab.models`'s module doc).

# %% tags=["parameters"]
data_dir = "../data/raw/demo"
as_of = None
model_dir = "../models/demo"
n_origins = 3
n_estimators = None
truth_dir = None
seed = 0

# %%
# %matplotlib inline
from IPython.display import Markdown

from churnlab.data.validation import require_valid
from churnlab.data.warehouse import open_warehouse
from churnlab.features.snapshot import make_snapshot
from churnlab.models.scoring import score_accounts
from churnlab.pipeline.train import load_or_train
from churnlab.present.survival_findings import (
    backtest_metrics,
    backtest_table,
    card_table,
    describe_aft,
    describe_ph_check,
    fit_cox_and_aft,
    group_survival,
    kaplan_meier,
    km_landmark,
    landmark_groups,
    leadership_findings,
    origin_tiers,
    pooled_calibration,
    risk_tiers,
    validation_words,
)
from churnlab.present.survival_plots import (
    plot_backtest_metrics,
    plot_calibration,
    plot_hazard_ratios,
    plot_kaplan_meier,
    plot_score_distribution,
)
from churnlab.sim.truth import oracle_metrics

# %%
wh = open_warehouse(data_dir)
validation = require_valid(wh)

# %% [markdown]
# ## The champion and its backtest
# Reused from `model_dir` when it was trained at this as-of date on these data with these
# settings (`n_estimators = None`: the defaults of `churnlab train` and `make demo`),
# trained (and saved there) otherwise: every model is trained on landmarks before each
# origin, with labels as they were observable then, scored at the origin and judged on
# what happened after.

# %%
model = load_or_train(wh, as_of, model_dir, n_origins=n_origins,
                      n_estimators=n_estimators, random_state=seed)

# %%
card = model.card

# %%
backtest = model.backtest_

# %%
Markdown(validation_words(card))

# %%
oracle = oracle_metrics(backtest, truth_dir) if truth_dir and backtest else None

# %% [markdown]
# ## Observed survival curves
# Accounts active at the first backtest origin, followed up to the as-of date. The risk
# tier is the report's (docs/risk_language.md: a band of the chance of churning by the next
# renewal), from the champion kind's backtest model at that origin, trained before it: these
# curves are out of time.

# %%
km_date = km_landmark(backtest, wh, card["as_of"])

# %%
tiers_then = origin_tiers(backtest, card["kind"], km_date)

# %%
groups = landmark_groups(wh, km_date, card["as_of"], tiers=tiers_then)

# %%
plot_kaplan_meier(groups, "segment")

# %%
plot_kaplan_meier(groups, "term", label="contract term")

# %% [markdown]
# Monthly accounts leave any month; annual and multi-year accounts leave in steps, at
# their renewal dates. This is why the models work on the contract calendar.

# %%
plot_kaplan_meier(groups, "tier", label="risk tier")

# %%
km_tiers = kaplan_meier(groups, "tier", times=(90, 180))

# %%
km_tiers.round(3)

# %% [markdown]
# ## Hazard ratios (Cox) and the parametric AFT model
# Fitted on the champion's training rows (landmarks of the last 12 months, labels seen at
# the as-of date), on standardised inputs, with errors clustered by account (an account
# appears at every landmark).

# %%
cox, aft, training = fit_cox_and_aft(wh, card["as_of"])

# %%
Markdown(describe_ph_check(cox))

# %%
plot_hazard_ratios(cox.hazard_ratios())

# %%
cox.hazard_ratios().round(3)

# %%
Markdown(describe_aft(aft))

# %% [markdown]
# ## Backtest: every model at every origin
# Harrell's and Uno's concordance of the time to churn (censored at 90 days), AUC at 90 and
# 180 days, the integrated Brier score (30-180 days; `ibs_km` is the Kaplan-Meier curve with
# no model: lower than it = useful), the calibration error at 90 days, the top-decile lift
# and the share of churned ARR in the top 10%. `health` and `logistic_90d` are the
# baselines; `oracle` (if shown) ranks by the simulator's true hazard.

# %%
backtest_table(backtest, oracle).round(3)

# %%
plot_backtest_metrics(backtest_metrics(backtest), oracle, champion=card["kind"])

# %%
backtest_table(backtest, oracle, per_origin=True).round(3)

# %% [markdown]
# ## Calibration of the champion at 90 days
# Predicted vs observed share churned within 90 days by decile of prediction, over every
# origin's accounts; the bars are +/- 1.96 binomial standard errors of a calibrated decile.

# %%
calibration = pooled_calibration(backtest, card["kind"])

# %%
plot_calibration(calibration, label=card["kind"])

# %% [markdown]
# ## The champion's model card

# %%
card_table(card)

# %% [markdown]
# ## Today's scores
# Every active account at the as-of date: P(churn within 30/90/180 days), P(churn before
# its next renewal), remaining lifetime and expected ARR lost (`churnlab score` writes the
# same table).

# %%
snapshot = make_snapshot(wh, card["as_of"])

# %%
scores = score_accounts(model, snapshot, card["as_of"])

# %%
tiers_now = risk_tiers(model, snapshot)

# %%
plot_score_distribution(scores, tiers_now)

# %%
tier_curves = group_survival(model, snapshot, tiers_now)

# %%
tier_curves.round(3)

# %%
scores.sort_values("risk_rank").head(10).round(3)

# %% [markdown]
# ## What it means

# %%
findings = leadership_findings(backtest, card["kind"], oracle, tier_curves, scores,
                                        tiers_now, km_tiers)

# %%
Markdown("## Findings\n\n" + "\n".join(f"- {line}" for line in findings))
