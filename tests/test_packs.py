"""Per-CSM packs: only the owner's accounts, escaped text, safe file names, CSV/JSON
twins, tier changes, atomic replacement."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from test_triage import AS_OF, SMAP, book

from churnlab.actions.triage import triage_accounts
from churnlab.data import contract as S
from churnlab.present.packs import PackInputError, slugify, tier_changes, write_csm_packs

HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']


def triaged(n: int = 8):
    scores, expl, snap = book(n, seed=1)
    snap[S.CSM_OWNER] = ["ann", "bob", "../../etc/passwd", "Zoë O'Brien"] * (n // 4)
    accounts = pd.DataFrame({S.ACCOUNT_ID: scores[S.ACCOUNT_ID],
                             S.NAME: [HOSTILE[i % 2] + f" #{i}" for i in range(n)]})
    expl["drivers"] = [[f"<b>driver</b> of A{i}"] for i in range(n)]
    scores["p_churn_90d"] = 0.3                       # everyone red/yellow: every card shown
    return triage_accounts(scores, expl, snap, accounts=accounts, signal_map=SMAP)


def test_each_csm_file_holds_only_that_owners_accounts(tmp_path):
    tri = triaged()
    paths = write_csm_packs(tri, tmp_path / "packs", AS_OF)
    assert len(paths) == tri[S.CSM_OWNER].nunique()
    index = json.loads((tmp_path / "packs" / "index.json").read_text())["owners"]
    for owner, entry in index.items():
        mine = set(tri.loc[tri[S.CSM_OWNER] == owner, S.ACCOUNT_ID])
        others = set(tri[S.ACCOUNT_ID]) - mine
        page = (tmp_path / "packs" / f"{entry['file']}.html").read_text()
        csv = pd.read_csv(tmp_path / "packs" / f"{entry['file']}.csv")
        js = pd.read_json(tmp_path / "packs" / f"{entry['file']}.json")
        assert set(csv[S.ACCOUNT_ID]) == mine == set(js[S.ACCOUNT_ID])
        shown = set(re.findall(r"\bA\d+\b", page))
        assert mine <= shown and not (shown & others)
        assert list(csv["priority"]) == sorted(csv["priority"])     # ordered by priority


def test_hostile_account_names_and_free_text_are_escaped(tmp_path):
    tri = triaged()
    paths = write_csm_packs(tri, tmp_path / "packs", AS_OF)
    for path in paths:
        page = path.read_text()
        assert "<script>" not in page and "<img" not in page and "<b>driver" not in page
        assert "onerror=alert(1)>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page or \
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
        assert "http://" not in page and "https://" not in page    # nothing fetched
    csv = pd.read_csv(paths[0].with_suffix(".csv"))
    assert csv[S.NAME].str.contains("<script>|<img", regex=True).any()   # data twin keeps text


def test_owner_names_become_safe_unique_file_names(tmp_path):
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("Zoë O'Brien") == "zoe-o-brien"
    assert slugify("///") == "owner"
    tri = triaged()
    tri.loc[tri[S.CSM_OWNER] == "bob", S.CSM_OWNER] = "Ann"    # slug collides with "ann"
    paths = write_csm_packs(tri, tmp_path / "packs", AS_OF)
    names = [p.name for p in paths]
    assert len(set(names)) == len(names) == tri[S.CSM_OWNER].nunique()
    for p in paths:
        assert p.parent == tmp_path / "packs"
        assert re.fullmatch(r"[a-z0-9-]+\.html", p.name)
        assert p.is_file()
    assert not (tmp_path / "etc").exists()


def test_tier_change_against_a_previous_triage_is_shown(tmp_path):
    tri = triaged(4)
    first = tri.iloc[0]
    previous = pd.DataFrame({S.ACCOUNT_ID: [first[S.ACCOUNT_ID]], "tier": ["green"]})
    out = tier_changes(tri, previous).set_index(S.ACCOUNT_ID)
    assert out.loc[first[S.ACCOUNT_ID], "tier_change"] == ("worse" if first["tier"] != "green"
                                                           else "same")
    assert (out.drop(index=first[S.ACCOUNT_ID])["tier_change"] == "new").all()
    paths = write_csm_packs(tri, tmp_path / "packs", AS_OF, previous=previous)
    owner_page = next(p for p in paths if p.stem == slugify(first[S.CSM_OWNER]))
    assert "was green" in owner_page.read_text()


def test_rewriting_the_packs_replaces_the_folder_and_a_failure_leaves_the_old_one(tmp_path):
    tri = triaged()
    write_csm_packs(tri, tmp_path / "packs", AS_OF)
    before = sorted(p.name for p in (tmp_path / "packs").iterdir())
    with pytest.raises(PackInputError, match="missing column"):
        write_csm_packs(tri.drop(columns="tier"), tmp_path / "packs", AS_OF)
    assert sorted(p.name for p in (tmp_path / "packs").iterdir()) == before
    only_ann = tri[tri[S.CSM_OWNER] == "ann"]
    write_csm_packs(only_ann, tmp_path / "packs", AS_OF)
    assert sorted(p.name for p in (tmp_path / "packs").iterdir()) == \
        ["ann.csv", "ann.html", "ann.json", "ann.tasks.csv", "index.json"]


def test_the_page_carries_the_save_conversation_and_the_discount_rule(tmp_path):
    tri = triaged(4)
    paths = write_csm_packs(tri, tmp_path / "packs", AS_OF)
    page = paths[0].read_text()
    for phrase in ("Open with honesty", "Listen first", "owner and a date",
                   "Chance of churn by renewal", "Next step:", "due ", "Root cause",
                   "Discount"):
        assert phrase in page
    assert "@media print" in page
