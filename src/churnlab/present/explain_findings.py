"""Notebook 03's findings in words."""

from __future__ import annotations

import pandas as pd

from churnlab.fmt import words


def findings_markdown(importance: pd.DataFrame, tri: pd.DataFrame, top: int = 5) -> str:
    """Findings written from the numbers (learned vs default weights, the queue)."""
    core = importance.dropna(subset=["default_share"]).set_index("family")
    lines = ["## Findings", ""]
    first = importance.iloc[0]
    lines.append(f"- The strongest driver family is **{first['family']}** "
                 f"({first['learned_share']:.0%} of mean |SHAP|).")
    if len(core):
        gaps = (core["learned_share_core"] - core["default_share"]).sort_values()
        up, down = gaps.index[-1], gaps.index[0]
        lines.append(f"- Among the articles' five families, the data weighs **{up}** "
                     f"{core.loc[up, 'learned_share_core']:.0%} vs the default "
                     f"{core.loc[up, 'default_share']:.0%}, and **{down}** "
                     f"{core.loc[down, 'learned_share_core']:.0%} vs "
                     f"{core.loc[down, 'default_share']:.0%}.")
    red = tri[tri["tier"] == "red"]
    lost = red["p_churn_decision"] * red["arr"]
    lines.append(f"- {len(red)} of {len(tri)} accounts are in the red tier (a chance of "
                 f"churning by the next renewal at or above the red cut-off), holding "
                 f"${lost.sum():,.0f} of ARR expected to be lost by renewal.")
    mix = tri.loc[tri["tier"] != "green", "root_cause"].value_counts(normalize=True)
    if len(mix):
        lines.append("- Root causes of the red/yellow accounts: " + ", ".join(
            f"{words(k)} {v:.0%}" for k, v in mix.items()) + ".")
    lines.append(f"- Expected ARR saved if the top {top} accounts are worked: "
                 f"${tri['expected_arr_saved'].head(top).sum():,.0f} "
                 f"(of ${tri['expected_arr_saved'].sum():,.0f} for the whole book).")
    disc = int((tri["discount_max_pct"] > 0).sum())
    lines.append(f"- {disc} accounts qualify for a discount; "
                 f"{int(tri['needs_exec_approval'].sum())} would need executive approval.")
    return "\n".join(lines)


def walkthrough_markdown(r) -> str:
    """One account of the queue as a CSM reads it (a row of the triage table)."""
    reason = f"\n\n{r.tier_reason}" if getattr(r, "tier_reason", "") else ""
    return (f"**{r.name}** · {r.tier} (health {r.health:.0f}) · ARR ${r.arr:,.0f} · chance of "
            f"churn by renewal {r.p_churn_decision:.0%} ({r.p_churn_90d:.0%} in 90 days) · "
            f"root cause {words(r.root_cause)} · save chance {r.save_class}{reason}\n\n"
            + "\n".join(f"- {s}" for s in r.drivers)
            + f"\n\n*Playbook*: {r.playbook_text}\n\n*Discount*: {r.discount_guidance}")
