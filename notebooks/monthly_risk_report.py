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
# Rendered by `churnlab report --month YYYY-MM --data DIR`, which executes this notebook
# with the parameters below and turns it into leadership's HTML (no code, no parameters).
# Every sentence and number comes from `churnlab.report`; see its module doc for what a
# month means. Parameters (`churnlab.report.PARAMETERS`): month, data_dir, model_path,
# out_dir, previous_dir, horizon_days, segment, top_n.

# %% tags=["parameters"]
month = "2026-10"
data_dir = "../data/raw/demo"
model_path = "../models/demo"
out_dir = ""
previous_dir = ""
horizon_days = 90
segment = ""
top_n = 15

# %% tags=["remove-cell"]
# %matplotlib inline
import warnings

from IPython.display import HTML, Markdown

from churnlab import report
from churnlab.survival import load_model
from churnlab.validate import require_valid
from churnlab.warehouse import open_warehouse

warnings.filterwarnings("ignore")
wh = open_warehouse(data_dir)
validation = require_valid(wh)
model = load_model(model_path)
r = report.compute_month(wh, month, model, horizon_days=horizon_days, segment=segment,
                         top_n=top_n, previous_dir=previous_dir or None)
figures = report.write_outputs(r, out_dir) if out_dir else report.headline(r)

# %%
Markdown(report.title(r))

# %% [markdown]
# ## Executive summary

# %%
Markdown(report.executive_summary(r))

# %% [markdown]
# ## Health tiers and how accounts moved since last month

# %%
report.plot_tiers(r)

# %%
report.plot_movements(r)

# %%
HTML(report.table_html(report.tier_summary_table(r), tier_col="tier"))

# %% [markdown]
# ## Top at-risk accounts by expected ARR lost

# %%
HTML(report.table_html(report.top_accounts(r, top_n)))

# %% [markdown]
# ## What drives risk this month, next to the articles' weights

# %%
report.plot_families(r)

# %%
Markdown(report.families_words(r))

# %% [markdown]
# ## Last month's forecast vs what happened

# %%
Markdown(report.forecast_words(r))

# %%
report.plot_forecast(r)

# %% [markdown]
# ## Root causes and playbooks

# %%
report.plot_root_causes(r)

# %%
HTML(report.table_html(report.playbook_table(r), tier_col=None))

# %% [markdown]
# ## NPS detractors and their open tasks

# %%
HTML(report.table_html(report.detractor_table(r, top_n)))

# %% [markdown]
# ## Expansion candidates

# %%
HTML(report.table_html(report.expansion_table(r, top_n)))

# %%
Markdown(report.method_note(r))
