"""Playbooks, their text and talking points, and discount guidance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.actions.root_cause import UNCLEAR

PLAYBOOKS = {
    "product_fit": ["product_team_involvement", "contract_flexibility"],
    "service_experience": ["immediate_problem_resolution"],
    "value_perception": ["executive_engagement", "pricing_concession"],
    "circumstantial": ["contract_flexibility", "pricing_concession"],
    UNCLEAR: ["save_conversation"],
}


PLAYBOOK_TEXT = {
    "product_team_involvement": "Product team involvement: PM review of the gap, an engineer "
                                "on the next call, roadmap preview, workarounds now",
    "contract_flexibility": "Contract flexibility: shorter term, performance guarantee, "
                            "paid pilot or easier exit clause",
    "immediate_problem_resolution": "Immediate problem resolution: top 3 problems, an owner "
                                    "each, fixed in 48-72 hours, verified with the customer",
    "executive_engagement": "Executive engagement: exec-to-exec call after diagnosis, "
                            "before they decide",
    "pricing_concession": "Pricing concession (see discount guidance), tied to a commitment",
    "save_conversation": "Save conversation: diagnose the cause first",
}


TALKING_POINTS = (
    "Open with honesty: name what went wrong and that you want to fix it.",
    "Listen first: ask what changed and what success looks like now; acknowledge concerns.",
    "Propose a specific plan: what happens in 48 hours, in 30 days, on pricing, and what "
    "you ask in return, each with an owner and a date.",
    "Secure mutual commitment, and accept an honest \"it's over\" if that is the answer.",
)


# ------------------------------------------------------------------ discounts
def discount_guidance(root_cause, save_class, competitor, budget, price_questions,
                      is_strategic) -> pd.DataFrame:
    """Discount guidance per DOMAIN.md (vectorised over accounts).

    No discount unless the cause is value perception or circumstantial *and* there is
    price evidence (pricing questions, budget signals, competitive pressure).
    Standard 10-15%; significant 20-25% when the save class is low or a competitor is
    committed; 30%+ emergency only for strategic accounts with a committed competitor,
    and only with executive approval. Always tied to a commitment.

    Returns discount_max_pct (0 / 15 / 25 / 30), needs_exec_approval, discount_guidance.
    """
    cause = np.asarray(root_cause, dtype=object)
    save_class = np.asarray(save_class, dtype=object)
    competitor, budget = np.asarray(competitor), np.asarray(budget)
    price = np.asarray(price_questions) > 0
    strategic = np.asarray(is_strategic, dtype=bool)
    eligible_cause = np.isin(cause, ["value_perception", "circumstantial"])
    evidence = price | (budget > 0) | (competitor > 0)
    eligible = eligible_cause & evidence
    emergency = eligible & strategic & (competitor == 2)
    significant = eligible & ~emergency & ((save_class == "low") | (competitor == 2))
    pct = np.select([emergency, significant, eligible], [30, 25, 15], 0)
    text = []
    for i in range(len(cause)):
        if not eligible_cause[i]:
            why = cause[i].replace("_", " ")
            text.append(f"No discount: the cause is {why}, not price; fix the cause.")
        elif not evidence[i]:
            text.append("No discount: no price, budget or competitive pressure seen; "
                        "show the value first.")
        elif emergency[i]:
            text.append("Emergency concession 30% or more: EXECUTIVE APPROVAL REQUIRED; only "
                        "against a 2-year commitment or a case study.")
        elif significant[i]:
            text.append("Significant concession 20-25%, tied to a commitment (2-year term "
                        "or case study).")
        else:
            text.append("Standard at-risk discount 10-15%, tied to a commitment (2-year "
                        "term or case study).")
    return pd.DataFrame({"discount_max_pct": pct, "needs_exec_approval": pct >= 30,
                         "discount_guidance": text})
