"""The value recap a CSM sends the customer (issue 15, item 4): what they used against
their own past, milestones reached, what to try next, and nothing internal."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from churnlab.actions.value_recap import value_recaps
from churnlab.data import contract as S
from churnlab.data.signal_map import load_signal_map
from churnlab.present.packs import write_csm_packs
from churnlab.present.recaps import render_recap

AS_OF = pd.Timestamp("2026-06-01")
# words that would leak the internal view of the account onto a customer's page
INTERNAL = re.compile(r"\b(risk\w*|churn\w*|tiers?|health|probabilit\w*|root cause|"
                      r"discount\w*|playbooks?|save|priority|red|yellow|green|concession)\b",
                      re.I)

MAP = """
version: 1
event_types:
  sessions:      {family: usage, kind: count, label: sessions, min: 0, direction: protective}
  seats_active:  {family: usage, kind: gauge, label: active seats, unit: seats, role: active_users}
  export_jobs:   {family: usage, kind: count, label: scheduled exports, min: 0}
  errors_seen:   {family: usage, kind: count, label: errors seen, min: 0, direction: risk}
  review_held:   {family: engagement, kind: count, label: business reviews held, role: qbr}
  kickoff_done:  {family: lifecycle, kind: flag, label: kickoff completed, role: first_value}
"""


@pytest.fixture()
def smap(tmp_path):
    path = tmp_path / "signal_map.yaml"
    path.write_text(MAP)
    return load_signal_map(path)


def _snapshot():
    # three customers: "up" uses a lot and more than before, "low" barely exports and
    # never held a review, "new" is 40 days old and has not completed its kickoff
    return pd.DataFrame({
        S.ACCOUNT_ID: ["up", "low", "new"],
        "tenure_days": [900, 700, 40],
        "sessions__sum_90d": [1200.0, 300.0, 80.0], "sessions__trend": [np.log(1.3), 0.0, 0.0],
        "seats_active__mean_30d": [42.0, 7.0, 3.0], "seats_active__trend": [0.10, -0.2, 0.0],
        "export_jobs__sum_90d": [40.0, 1.0, 10.0], "export_jobs__trend": [0.0, 0.0, 0.0],
        "errors_seen__sum_90d": [5.0, 90.0, 2.0],
        "review_held__days_since": [20.0, 365.0, 365.0], "review_held__sum_180d": [2.0, 0, 0],
        "kickoff_done__days_since": [365.0, 365.0, 365.0]})


def test_the_recap_reads_use_milestones_and_next_steps_from_the_signal_map(smap):
    rec = value_recaps(_snapshot(), smap, AS_OF).set_index(S.ACCOUNT_ID)
    up = rec.loc["up"]
    assert "Sessions: 1,200 in the last 90 days, up 30% on the months before." in up["use"]
    assert any(line.startswith("Active seats: 42 seats on average") and "up 10%" in line
               for line in up["use"])
    assert not any("rrors" in line for line in up["use"])     # a declared risk is not value
    assert up["milestones"] == ["Business reviews held: 2 in the last 180 days, most "
                                "recently on 2026-05-12."]
    assert up["next"] == []
    low = rec.loc["low"]
    # the book's median of exports is 10 a quarter; 1 is under a quarter of it
    assert any(line.startswith("Try scheduled exports") and "about 10 a quarter" in line
               for line in low["next"])
    assert any("business review" in line for line in low["next"])
    assert not any("kickoff" in line for line in low["next"])    # not in its first months
    assert any("kickoff completed" in line for line in rec.loc["new", "next"])
    assert all(len(n) <= 3 for n in rec["next"])


def test_the_page_is_escaped_offline_and_holds_nothing_internal(smap):
    rec = value_recaps(_snapshot(), smap, AS_OF).set_index(S.ACCOUNT_ID)
    page = render_recap(rec.loc["low"].to_dict(), "<script>alert(1)</script> Ltd",
                        "ann <b>", AS_OF)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "default-src 'none'" in page and "http" not in page.split("</head>")[1]
    text = re.sub(r"<[^>]+>", " ", page.split("<body>")[1])
    assert not INTERNAL.search(text), INTERNAL.search(text)
    empty = render_recap({}, "Quiet Co", "ann", AS_OF)
    assert "We have no usage figures to show for this period." in empty


def test_each_pack_links_a_recap_for_each_of_its_accounts_and_only_those(smap, tmp_path):
    snap = _snapshot()
    tri = pd.DataFrame({S.ACCOUNT_ID: ["up", "low", "new"], S.NAME: ["Up Co", "Low Co",
                                                                     "New Co"],
                        S.CSM_OWNER: ["ann", "bob", "ann"], "priority": [1, 2, 3],
                        "tier": ["red", "yellow", "green"], S.ARR: [1e4, 2e4, 3e3],
                        "p_churn_90d": [0.3, 0.1, 0.01], "action": ["a", "b", "c"],
                        "drivers": [[], [], []], "nps_detractor": False,
                        "competitive_events_30d": 0})
    recaps = value_recaps(snap, smap, AS_OF)
    write_csm_packs(tri, tmp_path / "packs", AS_OF, recaps=recaps)
    ann = sorted(p.name for p in (tmp_path / "packs" / "ann.recaps").iterdir())
    assert ann == ["new.html", "up.html"]
    assert [p.name for p in (tmp_path / "packs" / "bob.recaps").iterdir()] == ["low.html"]
    pack = (tmp_path / "packs" / "ann.html").read_text()
    assert 'href="ann.recaps/up.html"' in pack
    assert "Up Co" in (tmp_path / "packs" / "ann.recaps" / "up.html").read_text()
