"""Report months: parsing, dates, the data's range and the latest complete month."""

from __future__ import annotations

import re

import pandas as pd

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.errors import InputError

HORIZONS = (30, 90, 180)


MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


TIERS = ("green", "yellow", "red")


NPS_DETRACTOR_MAX = 6


NPS_PROMOTER_MIN = 9


PLAN_LIMIT_NEAR = 85.0


# explanation families that describe the contract calendar, not the customer's behaviour
CONTRACT_FAMILIES = ("contract",)  # churnlab.explain.attribution.CONTRACT


class ReportInputError(InputError):
    """A month, folder or model the report cannot be made from (says which and why)."""


# ------------------------------------------------------------------ months
def parse_month(text: str) -> pd.Period:
    """``YYYY-MM`` -> a monthly Period; anything else is a :class:`ReportInputError`."""
    m = MONTH_RE.match(str(text).strip())
    if not m:
        raise ReportInputError(f"month {text!r} is not in YYYY-MM form (e.g. 2026-10)")
    return pd.Period(f"{m.group(1)}-{m.group(2)}", freq="M")


def month_dates(month) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(as-of date of last month's report, as-of date of this month's report): the
    first day of the month and the first day of the next month."""
    month = parse_month(month) if isinstance(month, str) else month
    return month.start_time.normalize(), (month + 1).start_time.normalize()


def data_range(wh) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first subscription start, observation end = the day after the data ends)."""
    first = wh.con.execute(f"SELECT min({S.START_DATE}) FROM {S.SUBSCRIPTIONS}").fetchone()[0]
    if first is None:
        raise ReportInputError("table subscriptions is empty: there is nothing to report on")
    return pd.Timestamp(first), lifecycle.observation_end(wh)


def check_month(wh, month) -> None:
    """Refuse a month the data cannot support, naming the month and the data's range.

    The month must be complete in the data (its as-of date, the first day of the next
    month, at or before the observation end), and the month before it must already
    have active accounts (the report compares the two)."""
    month = parse_month(month) if isinstance(month, str) else month
    prev, as_of = month_dates(month)
    first, end = data_range(wh)
    span = f"the data covers {first.date()} to {(end - pd.Timedelta(days=1)).date()}"
    if as_of > end:
        last = end.to_period("M") - 1
        raise ReportInputError(f"month {month} is beyond the data: {span}, so the latest "
                               f"complete month is {last}")
    if prev <= first:
        raise ReportInputError(f"month {month} has no data before it: {span}; the first "
                               f"month that can be reported is {first.to_period('M') + 1}")
    n = wh.con.execute(f"SELECT count(*) FROM ({lifecycle.active_accounts_sql(prev)})").fetchone()[0]
    if n == 0:
        raise ReportInputError(f"month {month}: no account was active on {prev.date()} ({span})")


def latest_complete_month(wh) -> pd.Period:
    """The last month whose every day is in the data."""
    _, end = data_range(wh)
    return end.to_period("M") - 1
