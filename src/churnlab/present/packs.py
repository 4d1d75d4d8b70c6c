"""Per-CSM packs: for each account owner, one self-contained HTML page (inline CSS, no
external fetches, print-friendly) and CSV / JSON twins for CRM import, with the
owner's accounts in triage priority order.

Each account shows its risk (P(churn within 90 days), P(churn before the next
renewal), the ARR expected to be lost before the renewal), its tier and the tier's
change since a previous triage (when given), the sentences explaining why, the root
cause, the save class, the playbook, the discount guidance (with the executive-approval
flag) and talking points for the save conversation (DOMAIN.md: open with honesty,
listen first, propose a specific plan with owners and dates).

Safety: a CSM's files hold only the accounts whose ``csm_owner`` is that CSM; every
account field is HTML-escaped; file names are slugs of the owner name (letters, digits
and ``-`` only, never a path), made unique with a numeric suffix. The folder is written
atomically (:func:`churnlab.storage.atomic_dir`): a reader sees the old packs or the
complete new ones.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.actions.playbooks import TALKING_POINTS
from churnlab.actions.tasks import crm_tasks, make_tasks, next_steps
from churnlab.data import contract as S
from churnlab.errors import InputError
from churnlab.fmt import money, pct
from churnlab.present.recaps import render_recap
from churnlab.present.style import NEUTRAL, PALETTE
from churnlab.storage import atomic_dir

TIER_RANK = {"green": 0, "yellow": 1, "red": 2}


LIST_COLUMNS = ("drivers", "protective", "contract_drivers", "save_evidence")


PACK_COLUMNS = [
    "priority", S.ACCOUNT_ID, S.NAME, S.SEGMENT, S.ARR, "tier", "previous_tier",
    "tier_change", "health", "tier_reason", "p_churn_decision", "p_churn_90d",
    "p_churn_before_renewal", "next_renewal", "expected_arr_lost_decision",
    "next_step_due", "expected_arr_saved", "save_class",
    "save_probability", "root_cause", "root_cause_basis", "playbook", "discount_guidance",
    "needs_exec_approval", "action", "drivers", "protective", "contract_drivers",
    "is_strategic", "active_playbook"]


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#263238;
margin:24px;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
.meta{color:#607d8b;font-size:13px}
.summary{display:flex;gap:24px;margin:12px 0 16px}
.summary div{background:#eceff1;padding:8px 12px;border-radius:6px}
.summary b{display:block;font-size:18px}
.card{border:1px solid #cfd8dc;border-left:6px solid #9e9e9e;border-radius:6px;
padding:10px 14px;margin:0 0 12px;page-break-inside:avoid}
.card h3{margin:0 0 4px;font-size:16px}
.badge{display:inline-block;color:#fff;border-radius:4px;padding:1px 7px;font-size:12px;
font-weight:600}
.grid{display:grid;grid-template-columns:repeat(4,1fr);gap:6px;font-size:13px;margin:6px 0}
.grid span{color:#607d8b;display:block;font-size:11px}
ul{margin:4px 0 4px 18px;padding:0}li{margin:2px 0;font-size:13px}
.warn{color:#c62828;font-weight:600}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border-bottom:1px solid #eceff1;padding:4px 6px;text-align:left}
.small{font-size:12px;color:#607d8b}
td{overflow-wrap:anywhere}
@media (max-width:600px){body{margin:12px}.summary{flex-wrap:wrap;gap:8px}
.grid{grid-template-columns:repeat(2,1fr)}table{font-size:11px}th,td{padding:3px}}
@media print{body{margin:8mm}.card{break-inside:avoid}a{color:inherit}}
"""


class PackInputError(InputError):
    """A triage table the packs cannot be written from."""


def slugify(owner: str) -> str:
    """A file-name-safe slug of an owner name: ASCII letters, digits and ``-`` only
    (``../../etc/passwd`` -> ``etc-passwd``); ``owner`` when nothing is left."""
    text = unicodedata.normalize("NFKD", str(owner)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return text[:80] or "owner"


def _esc(x) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    return html.escape(str(x), quote=True)






def as_list(x) -> list:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return []
    return [str(v) for v in x] if isinstance(x, (list, tuple, np.ndarray)) else [str(x)]


def tier_changes(tri: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """previous_tier and tier_change (``new`` / ``worse`` / ``better`` / ``same``) per
    account against a previous triage (account_id, tier); empty when none given."""
    out = tri.copy()
    if previous is None:
        out["previous_tier"], out["tier_change"] = None, ""
        return out
    if S.ACCOUNT_ID not in previous or "tier" not in previous:
        raise PackInputError("previous: needs columns account_id and tier")
    prev = previous.drop_duplicates(S.ACCOUNT_ID).set_index(S.ACCOUNT_ID)["tier"]
    out["previous_tier"] = prev.reindex(out[S.ACCOUNT_ID]).to_numpy()
    now = out["tier"].map(TIER_RANK)
    before = out["previous_tier"].map(TIER_RANK)
    out["tier_change"] = np.select([before.isna(), now > before, now < before],
                                   ["new", "worse", "better"], "same")
    return out


def _talking_points(r: dict) -> list[str]:
    drivers = as_list(r.get("drivers"))
    first = drivers[0].rstrip(".") if drivers else "what has changed on their side"
    plan = str(r.get("playbook", "")).split("; ")[0].replace("_", " ") or "a plan"
    return [
        f"{TALKING_POINTS[0]} (what we see: {first.lower()}).",
        TALKING_POINTS[1],
        f"{TALKING_POINTS[2]} Start from {plan}.",
        TALKING_POINTS[3],
    ]


def _recap_link(r: dict) -> str:
    f = r.get("recap_file")
    if not isinstance(f, str) or not f:
        return ""
    return (f'<p class="small">Value recap to send the customer (nothing internal on it): '
            f'<a href="{_esc(f)}">{_esc(f.split("/")[-1])}</a></p>')


def _card(r: dict) -> str:
    tier = str(r.get("tier", ""))
    colour = PALETTE.get(tier, NEUTRAL)
    change = r.get("tier_change") or ""
    change_txt = {"worse": f" ▲ worse (was {r.get('previous_tier')})",
                  "better": f" ▼ better (was {r.get('previous_tier')})",
                  "new": " (new on the list)", "same": ""}.get(change, "")
    drivers = "".join(f"<li>{_esc(s)}</li>" for s in as_list(r.get("drivers"))) or \
        "<li>No signal raises the risk</li>"
    protective = "".join(f"<li>{_esc(s)}</li>" for s in as_list(r.get("protective")))
    contract = "; ".join(_esc(s) for s in as_list(r.get("contract_drivers")))
    talk = "".join(f"<li>{_esc(s)}</li>" for s in _talking_points(r))
    exec_flag = ' <span class="warn">Executive approval required</span>' \
        if bool(r.get("needs_exec_approval")) else ""
    active = (f'<p class="small">Save play already running: {_esc(r.get("active_playbook"))}</p>'
              if r.get("active_playbook") not in (None, "") and pd.notna(r.get("active_playbook"))
              else "")
    strategic = " · strategic account" if bool(r.get("is_strategic")) else ""
    health = r.get("health")
    health_txt = f" · health {float(health):.0f}" if health is not None and pd.notna(health) else ""
    reason = r.get("tier_reason") or ""
    reason_txt = f'<p class="small"><b>Why this tier:</b> {_esc(reason)}</p>' if reason else ""
    due = r.get("next_step_due")
    due_txt = (f" <span class=\"small\">· owner {_esc(r.get('csm_owner'))} · due "
               f"{pd.Timestamp(due).date()}</span>" if due is not None and pd.notna(due) else "")
    renewal = r.get("next_renewal")
    renewal_txt = str(pd.Timestamp(renewal).date()) if renewal is not None and pd.notna(renewal) \
        else "n/a"
    return f"""
<div class="card" style="border-left-color:{colour}">
<h3>#{int(r['priority'])} {_esc(r.get('name'))}
<span class="badge" style="background:{colour}">{_esc(tier)}</span>{_esc(change_txt)}</h3>
<div class="small">{_esc(r.get('account_id'))} · {_esc(r.get('segment'))}{strategic}{health_txt}</div>
<p><b>Next step:</b> {_esc(r.get('action'))}{due_txt}</p>
<div class="grid">
<div><span>ARR</span>{money(r.get('arr'))}</div>
<div><span>Chance of churn by renewal ({renewal_txt})</span>{pct(r.get('p_churn_decision'))}</div>
<div><span>of which in the next 90 days</span>{pct(r.get('p_churn_90d'))}</div>
<div><span>ARR at risk by renewal</span>{money(r.get('expected_arr_lost_decision'))}</div>
</div>
{reason_txt}
<b>Why at risk</b><ul>{drivers}</ul>
{f'<b>Working in their favour</b><ul>{protective}</ul>' if protective else ''}
{f'<p class="small">Contract: {contract}</p>' if contract else ''}
<p><b>Root cause:</b> {_esc(str(r.get('root_cause', '')).replace('_', ' '))}
{f'<span class="small">({_esc(r.get("root_cause_basis"))})</span>' if r.get('root_cause_basis') else ''} ·
<b>save chance:</b> {_esc(r.get('save_class'))} ({pct(r.get('save_probability'))})</p>
<p><b>Playbook:</b> {_esc(r.get('playbook_text') or r.get('playbook'))}</p>
<p><b>Discount:</b> {_esc(r.get('discount_guidance'))}{exec_flag}</p>
{active}
{_recap_link(r)}
<b>Talking points</b><ul>{talk}</ul>
</div>"""


def render_pack(rows: pd.DataFrame, owner: str, as_of, max_cards: int = 40,
                tier_note: str = "") -> str:
    """The HTML page of one owner's accounts (already filtered and ordered)."""
    as_of = pd.Timestamp(as_of).date()
    records = rows.to_dict("records")
    focus = [r for r in records if r.get("tier") != "green"
             or (r.get("next_step_due") is not None and pd.notna(r.get("next_step_due")))]
    focus = sorted(focus, key=lambda r: (pd.Timestamp(r["next_step_due"])
                                         if pd.notna(r.get("next_step_due"))
                                         else pd.Timestamp.max, r["priority"]))[:max_cards]
    shown = {r["account_id"] for r in focus}
    rest = [r for r in records if r["account_id"] not in shown]
    at_risk = float(rows.get("expected_arr_lost_decision", pd.Series(0.0)).sum())
    red = int((rows["tier"] == "red").sum()) if len(rows) else 0
    table = "".join(
        f"<tr><td>{int(r['priority'])}</td><td>{_esc(r.get('name'))}</td>"
        f"<td>{_esc(r.get('tier'))}</td><td>{money(r.get('arr'))}</td>"
        f"<td>{pct(r.get('p_churn_90d'))}</td><td>{_esc(r.get('action'))}</td></tr>"
        for r in rest)
    cards = "".join(_card(r) for r in focus) or "<p>No account in the red or yellow tier.</p>"
    points = "".join(f"<li>{_esc(t)}</li>" for t in TALKING_POINTS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>At-risk accounts: {_esc(owner)} ({as_of})</title>
<style>{CSS}</style></head><body>
<h1>At-risk accounts of {_esc(owner)}</h1>
<div class="meta">As of {as_of} · accounts to work in the order to work them: by due date,
then by expected ARR saved (P(churn in 90 days) x save probability x ARR) ·
churnlab{(" · " + _esc(tier_note)) if tier_note else ""}</div>
<div class="summary"><div><b>{len(rows)}</b>accounts</div><div><b>{red}</b>red tier</div>
<div><b>{money(at_risk)}</b>ARR expected to be lost by renewal</div></div>
<h2>The save conversation</h2><ul>{points}</ul>
<h2>Accounts to work ({len(focus)})</h2>
{cards}
{f'<h2>Other accounts ({len(rest)})</h2><table><tr><th>#</th><th>account</th><th>tier</th><th>ARR</th><th>P(churn 90d)</th><th>next step</th></tr>{table}</table>' if rest else ''}
</body></html>
"""


def _write_recaps(rows: pd.DataFrame, by_id: dict, folder: Path, as_of) -> list[str]:
    """One value recap page per account of ``rows`` into ``folder`` (``by_id``: account
    id -> its recap); returns the file names (slugs of the account ids, made unique),
    aligned with ``rows``."""
    folder.mkdir()
    names, used = [], set()
    for r in rows.itertuples(index=False):
        stem, k = slugify(str(r.account_id)), 2
        while stem in used:
            stem, k = f"{slugify(str(r.account_id))}-{k}", k + 1
        used.add(stem)
        rec = by_id.get(r.account_id, {})
        (folder / f"{stem}.html").write_text(render_recap(rec, r.name, r.csm_owner, as_of),
                                             encoding="utf-8")
        names.append(f"{stem}.html")
    return names


def pack_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The CSV/JSON twin: :data:`PACK_COLUMNS` (present ones), list columns joined by
    `` | ``."""
    out = rows[[c for c in PACK_COLUMNS if c in rows.columns]].copy()
    for c in LIST_COLUMNS:
        if c in out.columns:
            out[c] = [" | ".join(as_list(v)) for v in out[c]]
    return out


def write_csm_packs(tri: pd.DataFrame, out_dir, as_of, previous: pd.DataFrame | None = None,
                    max_cards: int = 40, tier_note: str = "",
                    tasks: pd.DataFrame | None = None,
                    recaps: pd.DataFrame | None = None) -> list[Path]:
    """Write one HTML + CSV + JSON pack per ``csm_owner`` into ``out_dir`` (replaced
    atomically), a CRM task import per owner (``<owner>.tasks.csv``, a dot no slug holds, columns
    :data:`churnlab.actions.tasks.CRM_COLUMNS`), plus ``index.json`` (owner -> file
    stem, account count).

    Parameters
    ----------
    tri : :func:`churnlab.actions.triage.triage_accounts` output.
    out_dir : folder of the packs (created or replaced).
    as_of : the triage date (shown on the page).
    previous : optional earlier triage (account_id, tier) for the tier change.
    max_cards : accounts shown in full (red/yellow, by priority); the rest as a table.
    tier_note : one line on what the tiers mean (e.g. the cut-offs used).
    tasks : the book's alert tasks (:func:`make_tasks`; made from ``tri`` when None),
        which set each account's next-step due date.
    recaps : optional :func:`churnlab.actions.value_recap.value_recaps`; each owner's
        accounts then get a value recap page to send the customer, in
        ``<owner>.recaps/<account>.html`` (a dot no slug holds), linked from the card.

    Returns
    -------
    list of the HTML paths (final locations), one per owner, in owner order.
    """
    need = [S.ACCOUNT_ID, S.CSM_OWNER, "priority", "tier", S.NAME]
    missing = [c for c in need if c not in tri.columns]
    if missing:
        raise PackInputError(f"triage table: missing column(s) {missing}")
    tri = tier_changes(tri.sort_values("priority"), previous)
    steps = next_steps(tri, make_tasks(tri, as_of) if tasks is None else tasks, as_of)
    tri["next_step_due"] = tri[S.ACCOUNT_ID].map(
        steps.set_index(S.ACCOUNT_ID)["due_date"]) if len(steps) else pd.NaT
    if "expected_arr_lost_decision" not in tri and "p_churn_decision" in tri:
        tri["expected_arr_lost_decision"] = tri["p_churn_decision"] * tri[S.ARR]
    owners = sorted(tri[S.CSM_OWNER].fillna("unassigned").astype(str).unique())
    out_dir = Path(out_dir)
    stems, used = {}, set()
    for owner in owners:
        stem, k = slugify(owner), 2
        while stem in used:
            stem, k = f"{slugify(owner)}-{k}", k + 1
        used.add(stem)
        stems[owner] = stem
    paths = []
    index = {}
    by_id = ({rec.pop(S.ACCOUNT_ID): rec     # the first recap of each account
              for rec in recaps.drop_duplicates(S.ACCOUNT_ID).to_dict("records")}
             if recaps is not None and len(recaps) else None)
    with atomic_dir(out_dir, overwrite=True) as tmp:
        tmp.chmod(0o755)
        owner_col = tri[S.CSM_OWNER].fillna("unassigned").astype(str)
        for owner in owners:
            rows = tri[owner_col == owner]
            stem = stems[owner]
            if by_id is not None:
                files = _write_recaps(rows, by_id, tmp / f"{stem}.recaps", as_of)
                rows = rows.assign(recap_file=[f"{stem}.recaps/{f}" for f in files])
            (tmp / f"{stem}.html").write_text(render_pack(rows, owner, as_of, max_cards,
                                                          tier_note),
                                              encoding="utf-8")
            frame = pack_frame(rows)
            frame.to_csv(tmp / f"{stem}.csv", index=False)
            frame.to_json(tmp / f"{stem}.json", orient="records", date_format="iso", indent=1)
            mine = steps[steps[S.ACCOUNT_ID].isin(set(rows[S.ACCOUNT_ID]))]
            crm_tasks(mine, rows).to_csv(tmp / f"{stem}.tasks.csv", index=False)
            index[owner] = {"file": stem, "accounts": int(len(rows))}
            paths.append(out_dir / f"{stem}.html")
        (tmp / "index.json").write_text(json.dumps({"as_of": str(pd.Timestamp(as_of).date()),
                                                    "owners": index}, indent=2,
                                                   sort_keys=True) + "\n")
    return paths
