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

# %% [markdown] tags=["remove-cell"]
# # Monthly churn-risk report (papermill template)
#
# Rendered by `churnlab report --month YYYY-MM --data DIR`, which computes the month once
# (`churnlab.pipeline.month.compute_month`: data opened and validated once, model loaded
# once) and executes this notebook to present it; the HTML for leadership has no code and
# no parameters. Every sentence and number comes from `churnlab.present.report_text` and
# `churnlab.present.report_plots`. Parameters (`churnlab.pipeline.render.PARAMETERS`):
# month, data_dir, model_path, month_file, out_dir, previous_dir, horizon_days, segment,
# top_n. With `month_file` empty the notebook computes the month itself from `data_dir`
# and `model_path` (for an analyst opening it in Jupyter).

# %% tags=["parameters"]
month = "2026-10"
data_dir = "data/raw/demo"
model_path = "models/demo"
month_file = ""
out_dir = ""
previous_dir = ""
horizon_days = 90
segment = ""
top_n = 15

# %% tags=["remove-cell"]
# %matplotlib inline
import warnings

from IPython.display import HTML, Markdown

from churnlab.pipeline.month import load_month
from churnlab.present.expansion import attribution_table, comparison_words, summary_words
from churnlab.present.experiments import plot_arm_effects, plot_qini, targeting_table
from churnlab.present.html import table_html
from churnlab.present.outputs import write_outputs
from churnlab.present.report_plots import (
    plot_families,
    plot_forecast,
    plot_movements,
    plot_root_causes,
    plot_tiers,
)
from churnlab.present.report_text import (
    detractor_table,
    executive_summary,
    expansion_table,
    experiments_table,
    experiments_words,
    families_words,
    forecast_words,
    headline,
    method_note,
    playbook_table,
    tier_summary_table,
    title,
    top_accounts,
    uplift_words,
)

warnings.filterwarnings("ignore")
r = load_month(month_file, month=month, data_dir=data_dir, model_path=model_path,
               horizon_days=horizon_days, segment=segment, top_n=top_n,
               previous_dir=previous_dir or None)
figures = write_outputs(r, out_dir) if out_dir else headline(r)

# %%
Markdown(title(r))

# %% [markdown]
# ## Executive summary

# %%
Markdown(executive_summary(r))

# %% [markdown]
# ## Risk tiers and how accounts moved since last month

# %%
plot_tiers(r)

# %%
plot_movements(r)

# %%
HTML(table_html(tier_summary_table(r), tier_col="tier"))

# %% [markdown]
# ## Top at-risk accounts by expected ARR lost

# %%
HTML(table_html(top_accounts(r, top_n)))

# %% [markdown]
# ## What drives risk this month, next to the articles' weights

# %%
plot_families(r)

# %%
Markdown(families_words(r))

# %% [markdown]
# ## Last month's forecast vs what happened

# %%
Markdown(forecast_words(r))

# %%
plot_forecast(r)

# %% [markdown]
# ## Root causes and playbooks

# %%
plot_root_causes(r)

# %%
HTML(table_html(playbook_table(r), tier_col=None))

# %% [markdown]
# ## Save experiments: do the plays work?

# %%
Markdown(experiments_words(r))

# %%
plot_arm_effects(r.experiments) if r.experiments is not None and r.experiments.randomised else None

# %%
HTML(table_html(experiments_table(r), tier_col=None)) if len(experiments_table(r)) else None

# %% [markdown]
# ## Targeting by the plays' effect, beside risk

# %%
Markdown(uplift_words(r))

# %%
plot_qini(r.uplift) if r.uplift is not None and r.uplift.curve is not None else None

# %%
targets = targeting_table(r.targeting, top_n)
HTML(table_html(targets, tier_col=None)) if len(targets) else None

# %% [markdown]
# ## NPS detractors and their open tasks

# %%
HTML(table_html(detractor_table(r, top_n)))

# %% [markdown]
# ## Expansion: ARR won, the milestones before it, and candidates

# %%
Markdown(summary_words(r.growth) + "\n\n" + comparison_words(r.growth)) \
    if r.growth is not None else None

# %%
attribution = attribution_table(r.growth) if r.growth is not None else None
HTML(table_html(attribution, tier_col=None)) if attribution is not None and len(attribution) else None

# %%
HTML(table_html(expansion_table(r, top_n)))

# %%
Markdown(method_note(r))
