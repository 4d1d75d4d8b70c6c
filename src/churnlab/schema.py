"""The input contract: table and column names, logical types, and the signal map.

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
from pathlib import Path
from typing import Mapping

import yaml

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
    optional={INTERVENTION_ID: STRING, DISCOUNT_PCT: FLOAT, ARM: STRING, OUTCOME: STRING},
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

# The articles' suggested health-score weights (mid-points of their ranges, scaled to
# sum to 1). Ranges: usage 30-40%, engagement 20-25%, support 15-20%, outcomes 15-20%,
# sentiment 10-15%.
DEFAULT_WEIGHT_RANGES = {
    "usage": (0.30, 0.40), "engagement": (0.20, 0.25), "support": (0.15, 0.20),
    "outcomes": (0.15, 0.20), "sentiment": (0.10, 0.15),
}
HEALTH_TIERS = (("green", 80.0), ("yellow", 60.0), ("red", 0.0))


# --------------------------------------------------------------------- signal map
@dataclass(frozen=True)
class SignalSpec:
    """What one event type means.

    Attributes
    ----------
    event_type : name as it appears in ``events.event_type``.
    family : one of :data:`FAMILIES`.
    kind : ``count`` (values add up), ``gauge`` (a level: averaged) or ``flag``
        (something happened: presence matters).
    label : plain-language name used in sentences ("weekly active users").
    unit : optional unit for sentences ("hours", "days").
    grain : ``event`` (one row per occurrence) or ``weekly``/``daily`` pre-aggregated.
    min_value, max_value : optional allowed range of ``value`` (e.g. NPS 0-10).
    alert_below, alert_above : optional thresholds at which one reading of a gauge is
        a warning sign in itself (an NPS below 7 is a detractor; invoices more than 30
        days late). Used by the signal analysis and for alerts.
    """

    event_type: str
    family: str
    kind: str
    label: str
    unit: str = ""
    grain: str = "event"
    min_value: float | None = None
    max_value: float | None = None
    alert_below: float | None = None
    alert_above: float | None = None


class SignalMapError(ValueError):
    """The signal map YAML does not follow its contract."""


@dataclass(frozen=True)
class SignalMap:
    signals: Mapping[str, SignalSpec]

    def __contains__(self, event_type: str) -> bool:
        return event_type in self.signals

    def __getitem__(self, event_type: str) -> SignalSpec:
        return self.signals[event_type]

    def __iter__(self):
        return iter(self.signals.values())

    def __len__(self) -> int:
        return len(self.signals)

    def by_family(self, family: str) -> list[SignalSpec]:
        return [s for s in self.signals.values() if s.family == family]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([s.__dict__ for s in self.signals.values()])

    def to_dict(self) -> dict:
        out = {}
        for s in self.signals.values():
            d = {"family": s.family, "kind": s.kind, "label": s.label}
            if s.unit:
                d["unit"] = s.unit
            if s.grain != "event":
                d["grain"] = s.grain
            if s.min_value is not None:
                d["min"] = s.min_value
            if s.max_value is not None:
                d["max"] = s.max_value
            if s.alert_below is not None:
                d["alert_below"] = s.alert_below
            if s.alert_above is not None:
                d["alert_above"] = s.alert_above
            out[s.event_type] = d
        return {"version": 1, "event_types": out}


def parse_signal_map(raw: Mapping) -> SignalMap:
    """Build a :class:`SignalMap` from the parsed YAML, checking every entry."""
    if not isinstance(raw, Mapping) or "event_types" not in raw:
        raise SignalMapError("signal map: top-level key 'event_types' is missing")
    entries = raw["event_types"]
    if not isinstance(entries, Mapping) or not entries:
        raise SignalMapError("signal map: 'event_types' must be a non-empty mapping")
    problems: list[str] = []
    signals: dict[str, SignalSpec] = {}
    for name, spec in entries.items():
        if not isinstance(spec, Mapping):
            problems.append(f"{name}: entry must be a mapping")
            continue
        family, kind, label = spec.get("family"), spec.get("kind"), spec.get("label")
        if family not in FAMILIES:
            problems.append(f"{name}: family {family!r} is not one of {', '.join(FAMILIES)}")
        if kind not in KINDS:
            problems.append(f"{name}: kind {kind!r} is not one of {', '.join(KINDS)}")
        if not label or not isinstance(label, str):
            problems.append(f"{name}: a plain-language 'label' is required")
        lo, hi = spec.get("min"), spec.get("max")
        if lo is not None and hi is not None and float(lo) > float(hi):
            problems.append(f"{name}: min {lo} is above max {hi}")
        alerts = {k: spec.get(k) for k in ("alert_below", "alert_above")}
        for key, threshold in alerts.items():
            if threshold is not None and kind != "gauge":
                problems.append(f"{name}: {key} applies to gauges only (kind is {kind!r})")
        if problems and problems[-1].startswith(f"{name}:"):
            continue
        signals[str(name)] = SignalSpec(
            event_type=str(name), family=family, kind=kind, label=label,
            unit=str(spec.get("unit", "")), grain=str(spec.get("grain", "event")),
            min_value=None if lo is None else float(lo),
            max_value=None if hi is None else float(hi),
            alert_below=None if alerts["alert_below"] is None else float(alerts["alert_below"]),
            alert_above=None if alerts["alert_above"] is None else float(alerts["alert_above"]),
        )
    if problems:
        raise SignalMapError("signal map has invalid entries:\n  " + "\n  ".join(problems))
    return SignalMap(signals)


def load_signal_map(path: str | Path) -> SignalMap:
    """Read and check a signal map YAML file."""
    path = Path(path)
    if not path.exists():
        raise SignalMapError(f"signal map not found: {path}")
    with path.open() as fh:
        raw = yaml.safe_load(fh)
    return parse_signal_map(raw)


def default_signal_map_path() -> Path:
    """The signal map shipped with churnlab (the demo SaaS's event types)."""
    return Path(__file__).parent / "resources" / "signal_map.yaml"
