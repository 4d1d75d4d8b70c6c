"""The simulator's profiles other than the demo: products shaped unlike it, each with its truth.

Every profile is a monthly world (:mod:`churnlab.sim.profiles`): each account has a latent
engagement ``e`` (AR(1) by month) and, per event type ``k``, a log-rate
``load_k * e + u_ik`` (``u_ik`` a fixed account-level taste), so that event types move
together with engagement in proportion to their load. At each contract boundary the
account churns with probability ``sigmoid(logit)``::

    logit = alpha + sum_k beta_k * z_ik + tenure_slope * log(months of tenure)
            + first_value_beta * [first value not reached]

where ``z_ik`` is event type k's standardised log-rate this month. ``beta_k`` is the
planted *adjusted* effect of event type k (its sign is the truth an analysis must find
with the other event types held fixed); an event type with ``beta_k = 0`` carries no
signal of its own even when it moves with engagement. Longer terms decide at their
renewal with the probability of the whole term. ``random_intent`` replaces the logit:
a monthly intent to leave, drawn at random and carried to the next renewal.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventSpec:
    """One simulated event type: its signal-map entry and its planted mechanism."""

    name: str
    family: str
    label: str
    base_per_month: float       # mean occurrences per month at e = 0, u = 0
    load: float = 0.0           # how its rate moves with engagement
    beta: float = 0.0           # planted adjusted effect on the churn logit (per sd)
    kind: str = "count"
    role: str = ""
    taste_sd: float = 0.5       # sd of an account's fixed taste for it (log-rate)
    extra: dict = field(default_factory=dict)   # other signal-map keys (min, max, ...)

    @property
    def true_direction(self) -> str:
        return "risk" if self.beta > 0 else "protective" if self.beta < 0 else "none"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    events: tuple[EventSpec, ...]
    plans: tuple[tuple[str, int, float, float], ...]   # (plan, term months, mrr, share)
    segments: tuple[tuple[str, float], ...]            # (segment, share)
    alpha: float                 # churn logit at e = 0, first month
    tenure_slope: float = 0.0    # per log(months of tenure)
    first_value_days: int = 0    # a first-value step expected within this many days
    first_value_beta: float = 0.0
    random_intent: float = 0.0   # monthly intent to leave (random-churn)
    initial_share: float = 0.5
    initial_tenure_months: tuple[int, int] = (1, 30)
    seats: tuple[int, int] = (1, 1)
    ar: float = 0.85
    ar_sd: float = 0.45


def _usage(name, label, base, load, beta=0.0, family="usage"):
    return EventSpec(name, family, label, base, load, beta, extra={"grain": "daily", "min": 0})


CONSUMER = Profile(
    "consumer",
    "a consumer subscription app: one plan, one price, monthly only, single user; churn "
    "driven by low use and a missed first step, falling with tenure, most of it early",
    events=(
        _usage("app_session", "app sessions", 14.0, 0.9, -0.45),
        _usage("lesson_completed", "lessons completed", 6.0, 0.8, -0.55),
        _usage("reminder_dismissed", "reminders dismissed", 3.0, -0.7, 0.40,
               family="engagement"),
        EventSpec("payment_failed", "financial", "failed card payments", 0.25, 0.0, 0.7,
                  taste_sd=1.2, extra={"min": 0}),
        _usage("shared_progress", "progress shared with friends", 1.0, 0.0, 0.0),
        EventSpec("first_lesson_done", "lifecycle", "first lesson finished", 0.0, kind="flag",
                  role="first_value"),
    ),
    plans=(("Premium", 1, 12.99, 1.0),),
    segments=(("Consumer", 1.0),),
    alpha=-2.0, tenure_slope=-0.55, first_value_days=14, first_value_beta=0.9,
    initial_share=0.35, initial_tenure_months=(1, 24),
)


_USAGE_ONLY_EVENTS = (
    # (name, label, base per month, load, beta)
    ("project_created", "projects created", 4.0, 0.8, -0.35),
    ("file_uploaded", "files uploaded", 12.0, 0.7, 0.0),
    ("report_exported", "reports exported", 3.0, 0.9, -0.30),
    ("comment_added", "comments added", 10.0, 0.6, 0.0),
    ("search_run", "searches run", 25.0, 0.5, 0.0),
    ("board_viewed", "boards viewed", 30.0, 0.8, -0.25),
    ("api_request", "API requests", 40.0, 0.4, -0.30),
    ("integration_synced", "integration syncs", 8.0, 0.3, 0.0),
    ("invite_sent", "invitations sent", 1.0, 0.6, 0.0),
    ("template_used", "templates used", 2.0, 0.5, 0.0),
    ("task_completed", "tasks completed", 20.0, 0.9, -0.30),
    ("calendar_synced", "calendar syncs", 6.0, 0.0, 0.0),
    ("mobile_session", "mobile sessions", 9.0, 0.4, 0.0),
    ("desktop_session", "desktop sessions", 18.0, 0.7, 0.0),
    ("filter_saved", "filters saved", 1.5, 0.2, 0.0),
    ("alert_configured", "alerts configured", 0.8, 0.0, 0.0),
    ("csv_imported", "CSV imports", 1.2, 0.0, 0.0),
    ("link_shared", "links shared", 2.5, 0.5, 0.0),
    ("automation_run", "automation runs", 15.0, 0.6, -0.25),
    ("dark_mode_toggled", "theme changes", 0.6, 0.0, 0.0),
    ("error_page_seen", "error pages seen", 2.0, -0.5, 0.35),
    ("permission_denied", "permission-denied messages", 1.0, -0.4, 0.0),
)


USAGE_ONLY = Profile(
    "usage-only",
    "a product whose export holds only product usage: 22 event types as daily counts, no "
    "engagement, support, sentiment, relationship, financial or competitive events, no "
    "interventions; three plans billed monthly, every six months or yearly",
    events=tuple(_usage(*e) for e in _USAGE_ONLY_EVENTS),
    plans=(("Starter", 1, 49.0, 0.35), ("Starter", 6, 44.0, 0.10),
           ("Team", 1, 190.0, 0.15), ("Team", 12, 160.0, 0.20),
           ("Business", 6, 520.0, 0.05), ("Business", 12, 480.0, 0.15)),
    segments=(("Self-serve", 0.6), ("Sales-led", 0.4)),
    alpha=-3.6, tenure_slope=-0.15, seats=(1, 40),
)


RANDOM_CHURN = Profile(
    "random-churn",
    "behaviour carries no signal: churn is a random monthly intent to leave, carried to "
    "the next renewal (monthly plans leave at once, annual plans at their renewal)",
    events=(
        _usage("page_viewed", "pages viewed", 40.0, 0.6),
        _usage("record_created", "records created", 8.0, 0.7),
        _usage("report_run", "reports run", 3.0, 0.5),
        EventSpec("support_request", "support", "support requests", 0.6, 0.0,
                  extra={"min": 0}),
        EventSpec("survey_score", "sentiment", "survey score", 0.25, 0.0, kind="gauge",
                  role="nps", extra={"min": 0, "max": 10, "alert_below": 7,
                                     "unit": "(0-10)"}),
    ),
    plans=(("Basic", 1, 79.0, 0.5), ("Plus", 12, 640.0, 0.35), ("Plus", 1, 75.0, 0.15)),
    segments=(("Small", 0.7), ("Large", 0.3)),
    alpha=0.0, random_intent=0.022, seats=(1, 25),
)


PROFILES = {p.name: p for p in (CONSUMER, USAGE_ONLY, RANDOM_CHURN)}
