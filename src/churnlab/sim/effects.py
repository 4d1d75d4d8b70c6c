"""Planted signal effects and the names the simulator draws from."""

from __future__ import annotations

# ------------------------------------------------------------ planted signal effects
LOWER, HIGHER, NONE = "lower_before_churn", "higher_before_churn", "none"


def _effect(direction: str, lead=None, mechanism: str = "", **extra) -> dict:
    out = {"effect": direction != NONE, "direction": direction,
           "lead_time_days": None if lead is None else list(lead),
           "decoy": False, "confounded": False, "confounder": None,
           "mechanism": mechanism}
    out.update(extra)
    return out


_DECOY = dict(decoy=True)


_EVAL = (60, 120)  # the evaluating state starts 60-120 days before the planned churn


_COMPETITIVE = (14, 60)


SIGNAL_EFFECTS: dict[str, dict] = {
    "weekly_active_users": _effect(LOWER, _EVAL, "seats x utilisation x (0.25 + 0.75 health), "
                                   "falling to 40% while evaluating"),
    "logins": _effect(LOWER, _EVAL, "Poisson(weekly active users x logins per user)"),
    "features_used": _effect(LOWER, _EVAL, "breadth of use: account depth x health, halved "
                             "while evaluating"),
    "dashboard_views": _effect(NONE, None, "account-specific constant rate, independent of "
                               "health, segment and churn", **_DECOY),
    "meeting_held": _effect(LOWER, _EVAL, "scheduled by segment cadence; held less often with "
                            "low health and while evaluating"),
    "meeting_cancelled": _effect(HIGHER, _EVAL, "the scheduled meetings that were not held"),
    "training_cancelled": _effect(HIGHER, _EVAL, "cancellation probability rises with low "
                                  "health and while evaluating"),
    "email_response_hours": _effect(HIGHER, _EVAL, "median 3 h x exp(2.2 (1 - health) + 2.3 "
                                    "evaluating progress)"),
    "newsletter_opened": _effect(NONE, None, "account-specific constant rate", **_DECOY),
    "ticket_opened": _effect(NONE, None, "kappa x WAU x onboarding surge (first ~90 "
                             "days); no direct link to health or churn", confounded=True,
                             confounder="weekly_active_users (heavy users file more "
                             "tickets) and tenure (onboarding surge)"),
    "ticket_escalated": _effect(HIGHER, None, "service-failure, poor-onboarding and product-gap "
                                "shocks (these lower health)"),
    "repeat_issue": _effect(HIGHER, None, "service-failure and product-gap shocks"),
    "ticket_sentiment": _effect(LOWER, _EVAL, "per ticket: health, service issues, evaluating "
                                "progress"),
    "existing_feature_request": _effect(HIGHER, None, "poor onboarding (lower health early in "
                                        "tenure) and shallow feature adoption"),
    "help_article_viewed": _effect(NONE, None, "account-specific constant rate", **_DECOY),
    "goal_milestone_reached": _effect(LOWER, _EVAL, "rate ~ health^2, cut while evaluating"),
    "outcome_kpi": _effect(LOWER, _EVAL, "monthly: 100 x health - 25 x evaluating progress "
                           "+ noise"),
    "nps_response": _effect(LOWER, _EVAL, "quarterly survey (Jan/Apr/Jul/Oct), partial "
                            "response; score 2 + 9 health - 3 evaluating progress + noise"),
    "csat_response": _effect(LOWER, _EVAL, "after ~25% of tickets; health, service issues"),
    "champion_left": _effect(HIGHER, None, "flag at the shock; 35% of champion departures "
                             "have a strong replacement and almost no health effect"),
    "champion_role_changed": _effect(HIGHER, None, "flag at the shock"),
    "new_leadership": _effect(HIGHER, None, "flag at the shock"),
    "merger_acquisition": _effect(HIGHER, None, "flag at the shock"),
    "budget_cut_mentioned": _effect(HIGHER, _EVAL, "at 60% of budget-cut shocks, and while "
                                    "evaluating for circumstantial reasons"),
    "pricing_question": _effect(HIGHER, (14, 90), "value-perception and circumstantial "
                                "evaluations ask 14-90 days before churn; loyal accounts ask "
                                "too, and accounts near their plan limit ask about upgrades"),
    "pause_request": _effect(HIGHER, _EVAL, "circumstantial evaluations; rare otherwise"),
    "invoice_days_late": _effect(HIGHER, None, "monthly invoice, recorded when paid: budget "
                                 "cuts, low health, circumstantial evaluations"),
    "competitor_comparison": _effect(HIGHER, _COMPETITIVE, "14-60 days before the planned "
                                     "churn (most for product-fit), rare background"),
    "competitor_webinar": _effect(HIGHER, _COMPETITIVE, "14-60 days before the planned churn; "
                                  "loyal accounts attend some too"),
    "data_export_request": _effect(HIGHER, _COMPETITIVE, "14-60 days before the planned churn; "
                                   "a quarter of no-warning churners in their last 30 days"),
    "competitor_feature_request": _effect(HIGHER, _COMPETITIVE, "14-60 days before the planned "
                                          "churn, mostly product-fit"),
    "onboarding_milestone": _effect(LOWER, None, "five milestones in the first ~4 months of "
                                    "new accounts; fewer and slower with poor onboarding"),
    "first_value_reached": _effect(LOWER, None, "7-30 days after signing; late or never with "
                                   "poor onboarding"),
    "weekly_report_opened": _effect(LOWER, _EVAL, "recipients x open probability (health, "
                                    "evaluating)"),
    "qbr_held": _effect(LOWER, _EVAL, "quarterly (mid-market, enterprise); skipped with low "
                        "health and while evaluating"),
    "plan_limit_usage": _effect(LOWER, _EVAL, "monthly: utilisation x activity; high and "
                                "healthy accounts expand at renewal"),
}


# ------------------------------------------------------------ output tables
NAME_A = ("North", "Blue", "Bright", "Silver", "Summit", "Harbor", "Cedar", "Iron", "Nova",
           "Atlas", "Pioneer", "Vertex", "Crescent", "Granite", "Maple", "Orbit", "Prime",
           "Quantum", "River", "Sterling", "Urban", "Willow", "Zenith", "Apex", "Beacon",
           "Cobalt", "Delta", "Evergreen", "Falcon", "Golden")


NAME_B = ("wind", "stone", "field", "bridge", "path", "line", "point", "works", "gate",
           "view", "wave", "peak", "forge", "light", "crest", "leaf", "port", "ridge")


NAME_C = ("Analytics", "Logistics", "Health", "Systems", "Labs", "Partners", "Foods",
           "Retail", "Capital", "Media", "Energy", "Software", "Group", "Industries",
           "Learning", "Consulting")


SUFFIX = ("Inc", "Ltd", "GmbH", "LLC", "SA", "BV", "plc", "Pty Ltd")


INDUSTRIES = ("Software", "Financial Services", "Healthcare", "Retail", "Manufacturing",
              "Education", "Media", "Logistics", "Professional Services", "Public Sector")


REGIONS = ("NA", "EMEA", "APAC", "LATAM")


REGION_MIX = (0.45, 0.30, 0.15, 0.10)


CSM_FIRST = ("alice", "bruno", "carmen", "david", "elena", "farid", "grace", "hugo", "ines",
              "jonas", "keiko", "luis", "maya", "nikos", "olga", "pedro", "quinn", "rosa",
              "samir", "tanya", "umar", "vera", "wei", "ximena", "yusuf")


CSM_LAST = ("moreno", "schmidt", "okafor", "tanaka", "silva", "novak", "kumar", "dubois",
             "rossi", "larsen", "garcia", "nguyen", "cohen", "ivanova", "brown", "haddad",
             "kowalski", "murphy", "santos", "berg", "ali", "fischer", "lopez", "chen", "adeyemi")


EXPANSION_LEVELS = ("low", "medium", "high")


NO_WARNING_REASONS = ("", "acquired", "out_of_business")
