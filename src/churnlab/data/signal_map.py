"""The signal map: what each event type means (family, kind, role, direction, label)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml

from churnlab.catalog import DEFAULT_SIGNAL_MAP
from churnlab.data.contract import (
    DIRECTIONS,
    FAMILIES,
    FAMILY_ROOT_CAUSE,
    KINDS,
    ROLES,
    ROOT_CAUSES,
)
from churnlab.errors import DataError


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
    role : optional; what a feature of churnlab relies on this event type for (one of
        :data:`ROLES`: ``nps``, ``active_users``, ``plan_limit`` ...).
    root_cause : the root cause it points at when it raises the risk (one of
        :data:`ROOT_CAUSES`; default: its family's, :data:`FAMILY_ROOT_CAUSE`).
    direction : ``risk`` (more of it raises churn risk), ``protective`` (lowers it) or
        ``unknown`` (default).
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
    role: str = ""
    root_cause: str = ""
    direction: str = "unknown"


class SignalMapError(DataError):
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

    def by_role(self, role: str) -> list[SignalSpec]:
        """The event types declared with ``role`` (in map order)."""
        return [s for s in self.signals.values() if s.role == role]

    def role(self, role: str) -> str | None:
        """The event type that plays ``role`` (the first declared), or None."""
        found = self.by_role(role)
        return found[0].event_type if found else None

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
            if s.role:
                d["role"] = s.role
            if s.root_cause != FAMILY_ROOT_CAUSE.get(s.family):
                d["root_cause"] = s.root_cause
            if s.direction != "unknown":
                d["direction"] = s.direction
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
        role, direction = spec.get("role", ""), spec.get("direction", "unknown")
        cause = spec.get("root_cause", FAMILY_ROOT_CAUSE.get(family, ""))
        if role and role not in ROLES:
            problems.append(f"{name}: role {role!r} is not one of {', '.join(ROLES)}")
        if cause not in ROOT_CAUSES:
            problems.append(f"{name}: root_cause {cause!r} is not one of {', '.join(ROOT_CAUSES)}")
        if direction not in DIRECTIONS:
            problems.append(f"{name}: direction {direction!r} is not one of "
                            f"{', '.join(DIRECTIONS)}")
        if problems and problems[-1].startswith(f"{name}:"):
            continue
        signals[str(name)] = SignalSpec(
            event_type=str(name), family=family, kind=kind, label=label,
            unit=str(spec.get("unit", "")), grain=str(spec.get("grain", "event")),
            min_value=None if lo is None else float(lo),
            max_value=None if hi is None else float(hi),
            alert_below=None if alerts["alert_below"] is None else float(alerts["alert_below"]),
            alert_above=None if alerts["alert_above"] is None else float(alerts["alert_above"]),
            role=str(role or ""), root_cause=str(cause), direction=str(direction),
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
    return DEFAULT_SIGNAL_MAP
