"""Self-contained HTML: tables and the report notebook without code."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from churnlab.pipeline.months import ReportInputError


def table_html(df: pd.DataFrame, tier_col: str | None = "tier") -> str:
    """An escaped HTML table; tier cells show a badge in their tier colour; short
    columns do not wrap, long text wraps (sentences get a readable width)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    kind = {}
    for c in df.columns:
        length = df[c].astype(str).str.len().mean() if len(df) else 0
        kind[c] = ' class="prose"' if length > 60 else ' class="text"' if length > 16 else ""
    rows = []
    for _, row in df.iterrows():
        cells = []
        for c, v in row.items():
            text = html.escape("" if v is None else str(v))
            if c == tier_col:
                cells.append(f'<td><span class="tier tier-{text}">{text}</span></td>')
            else:
                cells.append(f"<td{kind[c]}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap"><table class="report-table"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>')


# ------------------------------------------------------------------ HTML
CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#263238;
max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}
h1{font-size:1.7em;border-bottom:3px solid #263238;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #cfd8dc}
img{max-width:100%;height:auto}
table.report-table{border-collapse:collapse;font-size:.82em;width:100%;margin:.6em 0}
.report-table th,.report-table td{border-bottom:1px solid #eceff1;padding:.3em .5em;text-align:left;
vertical-align:top}
.report-table th{background:#eceff1}
.report-table td{white-space:nowrap}.report-table th{vertical-align:bottom}
.report-table td.text{white-space:normal;min-width:7em}
.report-table td.prose{white-space:normal;min-width:15em}
.table-wrap{overflow-x:auto}
.tier{display:inline-block;padding:0 .55em;border-radius:.7em}
.tier-green{color:#fff;background:#2e7d32}.tier-yellow{background:#f9a825}
.tier-red{color:#fff;background:#c62828}
.footer{color:#78909c;font-size:.8em;margin-top:3em}
@media print{body{max-width:none;margin:0;font-size:10pt}h2{page-break-after:avoid}
img,tr{page-break-inside:avoid}a{color:inherit;text-decoration:none}
.table-wrap{overflow:visible}
table.report-table{font-size:7pt}
.report-table td,.report-table td.text,.report-table td.prose,.report-table th{
white-space:normal;min-width:0;padding:.15em .25em;overflow-wrap:anywhere}}
"""


HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}


def notebook_html(nb, title: str, footer: str = "") -> str:
    """Leadership's HTML from an executed notebook: markdown cells and rich outputs
    only (no code, no parameters, no stream output); refuses a notebook with an error."""
    import mistune
    import nbformat

    if isinstance(nb, (str, Path)):
        nb = nbformat.read(str(nb), as_version=4)
    md = mistune.create_markdown(plugins=["table"])
    parts = []
    for cell in nb.cells:
        if HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        if cell.cell_type == "markdown":
            parts.append(md(cell.source))
            continue
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                raise ReportInputError(f"the report notebook failed: {out.get('ename')}: "
                                       f"{out.get('evalue')}")
            if kind not in ("display_data", "execute_result"):
                continue           # stdout/stderr: progress and warnings are not content
            data = out.get("data", {})
            if "text/html" in data:
                parts.append(_text(data["text/html"]))
            elif "image/png" in data:
                png = _text(data["image/png"]).replace("\n", "")
                base64.b64decode(png, validate=True)
                parts.append(f'<p><img alt="figure" src="data:image/png;base64,{png}"></p>')
            elif "text/markdown" in data:
                parts.append(md(_text(data["text/markdown"])))
            elif "text/plain" in data:
                parts.append(f"<pre>{html.escape(_text(data['text/plain']))}</pre>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f'<body>\n{body}\n<div class="footer">{html.escape(footer)}</div></body></html>\n')


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)
