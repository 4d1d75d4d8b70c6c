"""The input contract: table and column names, logical types, families and tiers.

Every other module takes column names from here, never from string literals of its
own. The contract follows the event-log shape used across churn analytics
(accounts, subscriptions, events, optional interventions) plus a YAML signal map
that says what each event type means.

Conventions
-----------
* A subscription covers the half-open interval ``[start_date, end_date)``; a null
  ``end_date`` means open-ended (evergreen, still running). Its renewal dates are
  ``start_date + k * term_months`` for k = 1, 2, ...
* An account has churned when its last subscription ends and no new one starts
  within ``GRACE_DAYS``; the churn date is that last ``end_date``.
* Event ``value`` is a count, amount or score; a null value means 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# --------------------------------------------------------------------------- tables
ACCOUNTS = "accounts"


SUBSCRIPTIONS = "subscriptions"


EVENTS = "events"


INTERVENTIONS = "interventions"


SIGNAL_MAP_FILE = "signal_map.yaml"


# accounts
ACCOUNT_ID = "account_id"


NAME = "name"


SEGMENT = "segment"


INDUSTRY = "industry"


REGION = "region"


CSM_OWNER = "csm_owner"


CREATED_AT = "created_at"


IS_STRATEGIC_LOGO = "is_strategic_logo"


IS_REFERENCE = "is_reference"


EXPANSION_POTENTIAL = "expansion_potential"


# subscriptions
SUBSCRIPTION_ID = "subscription_id"


PLAN = "plan"


START_DATE = "start_date"


END_DATE = "end_date"


MRR = "mrr"


ARR = "arr"


TERM_MONTHS = "term_months"


DISCOUNT_PCT = "discount_pct"


SEATS = "seats"


# events
EVENT_TIME = "event_time"


EVENT_TYPE = "event_type"


VALUE = "value"


# interventions
INTERVENTION_ID = "intervention_id"


STARTED_AT = "started_at"


PLAYBOOK = "playbook"


ARM = "arm"


OUTCOME = "outcome"


# the root cause the CSM diagnosed when starting the play (one of ROOT_CAUSES): the
# effect modifier plays are designed around, which the signals alone barely reveal
DIAGNOSED_CAUSE = "diagnosed_cause"


# logical types understood by the validator
STRING, DATE, TIMESTAMP, FLOAT, INTEGER, BOOLEAN = (
    "string", "date", "timestamp", "float", "integer", "boolean")


@dataclass(frozen=True)
class TableSpec:
    """Columns of one input table.

    Parameters
    ----------
    name : table name (also the file stem: ``accounts.parquet`` / ``accounts.csv``).
    required : column -> logical type; all must be present.
    optional : column -> logical type; may be absent, checked when present.
    key : columns that must be unique together (empty for no key).
    """

    name: str
    required: Mapping[str, str]
    optional: Mapping[str, str] = field(default_factory=dict)
    key: tuple[str, ...] = ()

    @property
    def columns(self) -> dict[str, str]:
        return {**self.required, **self.optional}


ACCOUNTS_SPEC = TableSpec(
    ACCOUNTS,
    required={ACCOUNT_ID: STRING, NAME: STRING, SEGMENT: STRING, INDUSTRY: STRING,
              REGION: STRING, CSM_OWNER: STRING, CREATED_AT: DATE},
    optional={IS_STRATEGIC_LOGO: BOOLEAN, IS_REFERENCE: BOOLEAN,
              EXPANSION_POTENTIAL: STRING},
    key=(ACCOUNT_ID,),
)


# mrr is required unless arr is given (the loader derives mrr = arr / 12).
SUBSCRIPTIONS_SPEC = TableSpec(
    SUBSCRIPTIONS,
    required={SUBSCRIPTION_ID: STRING, ACCOUNT_ID: STRING, PLAN: STRING,
              START_DATE: DATE, END_DATE: DATE, MRR: FLOAT, TERM_MONTHS: INTEGER},
    optional={DISCOUNT_PCT: FLOAT, SEATS: INTEGER, ARR: FLOAT},
    key=(SUBSCRIPTION_ID,),
)


EVENTS_SPEC = TableSpec(
    EVENTS,
    required={ACCOUNT_ID: STRING, EVENT_TIME: TIMESTAMP, EVENT_TYPE: STRING},
    optional={VALUE: FLOAT},
)


INTERVENTIONS_SPEC = TableSpec(
    INTERVENTIONS,
    required={ACCOUNT_ID: STRING, STARTED_AT: DATE, PLAYBOOK: STRING},
    optional={INTERVENTION_ID: STRING, DISCOUNT_PCT: FLOAT, ARM: STRING, OUTCOME: STRING,
              DIAGNOSED_CAUSE: STRING},
)


TABLE_SPECS: dict[str, TableSpec] = {
    s.name: s for s in (ACCOUNTS_SPEC, SUBSCRIPTIONS_SPEC, EVENTS_SPEC, INTERVENTIONS_SPEC)
}


REQUIRED_TABLES = (ACCOUNTS, SUBSCRIPTIONS, EVENTS)


OPTIONAL_TABLES = (INTERVENTIONS,)


SEGMENTS = ("SMB", "Mid-Market", "Enterprise")


INTERVENTION_OUTCOMES = ("saved", "churned", "pending")


# ------------------------------------------------------------------ domain constants
GRACE_DAYS = 30


"""A new subscription starting within this many days of the last one's end continues
the account; a longer gap (or none) is churn at the last end date."""


FAMILIES = ("usage", "engagement", "support", "outcomes", "sentiment",
            "relationship", "financial", "competitive", "lifecycle")


KINDS = ("count", "gauge", "flag")


ROOT_CAUSES = ("product_fit", "service_experience", "value_perception", "circumstantial")


# The root cause an event type points at unless the signal map says otherwise.
FAMILY_ROOT_CAUSE = {
    "usage": "value_perception", "engagement": "value_perception",
    "outcomes": "value_perception", "lifecycle": "value_perception",
    "relationship": "value_perception", "support": "service_experience",
    "sentiment": "service_experience", "financial": "circumstantial",
    "competitive": "product_fit",
}


# What features of the product rely on, declared per event type in the signal map
# (``role:``). Each role is optional: a section that needs a role the data lack says so.
ROLES = {
    "nps": "NPS answers (0-10): detractors, promoters, NPS tasks",
    "csat": "CSAT answers",
    "active_users": "active users: the usage level other signals are adjusted for",
    "plan_limit": "share of the plan's limit in use (%): expansion candidates",
    "first_value": "the first-value step of onboarding (activated the key feature)",
    "onboarding": "onboarding milestones completed",
    "qbr": "quarterly business reviews held (a value milestone)",
    "value_report": "value reports sent or opened (a value milestone)",
    "expert_service": "expert sessions or training delivered (a value milestone)",
}


# The expected effect of more of an event type on churn risk (``direction:``).
DIRECTIONS = ("risk", "protective", "unknown")


# The articles' suggested health-score weights (mid-points of their ranges, scaled to
# sum to 1). Ranges: usage 30-40%, engagement 20-25%, support 15-20%, outcomes 15-20%,
# sentiment 10-15%.
DEFAULT_WEIGHT_RANGES = {
    "usage": (0.30, 0.40), "engagement": (0.20, 0.25), "support": (0.15, 0.20),
    "outcomes": (0.15, 0.20), "sentiment": (0.10, 0.15),
}


HEALTH_TIERS = (("green", 80.0), ("yellow", 60.0), ("red", 0.0))
