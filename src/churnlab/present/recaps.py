"""The value recap a CSM can send the customer: one offline, escaped HTML page per
account (content from :func:`churnlab.actions.value_recap.value_recaps`).

Nothing internal is on it: no risk score, churn probability, tier, health score, root
cause, playbook or discount (``tests/test_recaps.py`` checks the rendered pages)."""

from __future__ import annotations

import html

import pandas as pd

RECAP_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#263238;
max-width:720px;margin:24px auto;padding:0 16px;line-height:1.5}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 6px;color:#1f5f8b}
.meta{color:#607d8b;font-size:13px}ul{padding-left:20px}li{margin:4px 0}
.none{color:#607d8b}
@media print{body{margin:10mm}}
"""


def _section(title: str, lines, none: str) -> str:
    items = "".join(f"<li>{html.escape(str(x))}</li>" for x in (lines or []))
    body = f"<ul>{items}</ul>" if items else f'<p class="none">{html.escape(none)}</p>'
    return f"<h2>{html.escape(title)}</h2>{body}"


def render_recap(recap: dict, name: str, csm: str, as_of) -> str:
    """The page for one account: ``recap`` has ``use``, ``milestones`` and ``next``;
    ``as_of`` is the day after the data end (the page says "through" the day before)."""
    through = (pd.Timestamp(as_of) - pd.Timedelta(days=1)).date()
    esc = html.escape
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Your results with us: {esc(str(name))} (through {through})</title>
<style>{RECAP_CSS}</style></head><body>
<h1>Your results with us, {esc(str(name))}</h1>
<div class="meta">Through {through} · prepared by {esc(str(csm))}, your Customer Success
Manager</div>
{_section("How your team used the product", recap.get("use"),
          "We have no usage figures to show for this period.")}
{_section("Milestones reached", recap.get("milestones"),
          "No milestone recorded in the last year: let us plan the next one together.")}
{_section("What to try next", recap.get("next"),
          "You are making full use of what we track: tell us what you would like to "
          "achieve next.")}
<p class="meta">Questions or ideas? Reply to {esc(str(csm))} and we will set up a call.</p>
</body></html>
"""
