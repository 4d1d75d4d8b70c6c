"""Notebook 01's findings in words, generated from the numbers."""

from __future__ import annotations

import pandas as pd

from churnlab.data import contract as S
from churnlab.evaluation.health import HealthEvaluation
from churnlab.fmt import pct
from churnlab.models.health_families import DEFAULT, LEARNED, LEARNED_CORE

# --------------------------------------------------------------------------- findings


def findings_markdown(signal_summary: pd.DataFrame, cohort: pd.DataFrame | None = None,
                      evaluation: HealthEvaluation | None = None,
                      adjustment_text: str | None = None, top: int = 5,
                      alpha: float = 0.05) -> str:
    """Written findings of notebook 01, generated from the numbers.

    Parameters
    ----------
    signal_summary : :func:`churnlab.signals.summarise_signals`.
    cohort : :func:`churnlab.signals.make_cohort` (``evidence.cohort``), for the
        cohort sentence.
    evaluation : :func:`evaluate_out_of_time`, for the health-score paragraphs.
    adjustment_text : :func:`churnlab.signals.describe_adjustment` of the confounded
        signal.
    top : how many leading signals to list.
    """
    lines = ["## Findings", ""]
    if cohort is not None:
        churn = cohort[cohort["is_churner"]]
        stay = cohort[~cohort["is_churner"]]
        lines += [f"**Cohort.** {len(churn):,} accounts churned in the year before the as-of "
                  f"date (ARR ${churn[S.ARR].sum():,.0f}); they are compared with "
                  f"{len(stay):,} accounts that renewed over the same months, each seen at "
                  f"one of its renewal dates.", ""]
    risk = signal_summary[signal_summary["direction"] == "risk"].sort_values("rank")
    prot = signal_summary[signal_summary["direction"] == "protective"]
    none = signal_summary[(signal_summary["direction"] == "none")
                          & signal_summary["lift"].notna()]
    lines.append(f"**Leading signals.** {len(risk)} of {len(signal_summary)} signals "
                 f"warn of churn after Benjamini-Hochberg control (q < {alpha:g}); the "
                 f"strongest and earliest:")
    lines.append("")
    for _, row in risk.head(top).iterrows():
        lines.append(f"{int(row['rank'])}. {row['sentence']}")
    if len(risk):
        listed = risk.head(top)
        early = (listed.loc[listed["lead_median"].idxmax()]
                 if listed["lead_median"].notna().any() else None)
        fam = risk.groupby("family").size().sort_values(ascending=False)
        lines += ["", "Risk signals by family: "
                  + ", ".join(f"{f} {n}" for f, n in fam.items()) + "."]
        if early is not None:
            lines.append(f"Of these, the earliest warning is *{early['label']}*, a median "
                         f"{early['lead_median']:.0f} days before churn: time enough for a "
                         f"save play if it triggers one.")
    lines.append("")
    if len(prot):
        lines.append("**Signs of health.** " + " ".join(prot["sentence"].head(3)))
        lines.append("")
    lines.append(f"**Not findings.** {len(none)} signals show no reliable difference between "
                 f"churners and renewals once multiple testing is accounted for"
                 + (": " + ", ".join(none["label"].head(6)) + ("..." if len(none) > 6 else "")
                    if len(none) else "") + ".")
    lines.append("")
    if adjustment_text:
        lines += ["**A confounded signal.** " + adjustment_text, ""]
    if evaluation is not None:
        w = evaluation.weights.set_index("family")
        learned = w.sort_values(LEARNED, ascending=False)
        lines.append("**Health-score weights.** Learned from last year's churners (95% "
                     "bootstrap intervals) vs the articles' defaults: "
                     + "; ".join(f"{f} {pct(r[LEARNED])} ({pct(r['learned_lo'])}-"
                                 f"{pct(r['learned_hi'])}) vs {pct(r[DEFAULT])}"
                                 for f, r in learned.iterrows()) + ".")
        lines.append("")
        m = evaluation.metrics.set_index("weighting")
        d = evaluation.differences.set_index("metric")
        h = evaluation.horizon_days
        verdict = ("beat" if d.loc["concordance", "lo"] > 0 else
                   "did worse than" if d.loc["concordance", "hi"] < 0 else
                   "did not reliably differ from")
        lines.append(
            f"**Out of time.** Scored on {evaluation.score_date.date()} and judged on what "
            f"happened next (to {evaluation.outcome_end.date()}), learned weights {verdict} "
            f"the default weights: concordance {m.loc[LEARNED, 'concordance']:.3f} vs "
            f"{m.loc[DEFAULT, 'concordance']:.3f} (difference "
            f"{d.loc['concordance', 'learned_minus_default']:+.3f}, 95% CI "
            f"{d.loc['concordance', 'lo']:+.3f} to {d.loc['concordance', 'hi']:+.3f}); AUC for "
            f"churn within {h} days {m.loc[LEARNED, f'auc_{h}d']:.3f} vs "
            f"{m.loc[DEFAULT, f'auc_{h}d']:.3f}. Weights learned over the five core families "
            f"only reach a concordance of {m.loc[LEARNED_CORE, 'concordance']:.3f}.")
        lines.append("")
        fl = evaluation.flagged.set_index(["weighting", "scheme"])
        th = evaluation.model.thresholds_.get(LEARNED, {})
        t = evaluation.tiers
        red_art = t[(t["weighting"] == LEARNED) & (t["scheme"] == "articles")
                    & (t["tier"] == "red")].iloc[0]
        lines.append(
            f"**Tiers.** With the articles' cuts (green >= 80, yellow 60-79, red < 60) the "
            f"learned score put "
            f"{pct(fl.loc[(LEARNED, 'articles'), 'share_churned_arr_red_or_yellow'])} "
            f"of the next {h} days' churned ARR in red or yellow beforehand (red alone: "
            f"{red_art['n']:,} accounts, churn rate {pct(red_art['churn_rate'])}). The data "
            f"suggests red below {th.get('yellow', float('nan')):.1f} and yellow below "
            f"{th.get('green', float('nan')):.1f} (churn risk above twice / once the base "
            f"rate of {pct(evaluation.model.base_rate_)}); with those cuts "
            f"{pct(fl.loc[(LEARNED, 'data'), 'share_churned_arr_red_or_yellow'])} of churned "
            f"ARR and {pct(fl.loc[(LEARNED, 'data'), 'share_churners_red_or_yellow'])} of "
            f"churned accounts had been red or yellow, while "
            f"{pct(fl.loc[(LEARNED, 'data'), 'share_accounts_red_or_yellow'])} of all accounts "
            f"were.")
    return "\n".join(lines).rstrip() + "\n"
