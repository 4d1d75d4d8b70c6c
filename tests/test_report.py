"""The monthly report: month parsing and checks, the forecast check, the HTML renderer,
the template's parameters, and an end-to-end render on the simulated SaaS whose
figures are checked against numbers computed independently from the scores."""

from __future__ import annotations

import base64
import html as html_lib
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from _simdata import simulated_data, trained

from churnlab.catalog import REPORT_TEMPLATE
from churnlab.cli import EXIT_USAGE, main
from churnlab.data import contract as S
from churnlab.data.warehouse import open_warehouse
from churnlab.fmt import money_short as money
from churnlab.pipeline.experiments import run_experiments
from churnlab.pipeline.month import compute_month, forecast_check, movement_matrix
from churnlab.pipeline.months import (
    TIERS,
    ReportInputError,
    check_month,
    data_range,
    latest_complete_month,
    month_dates,
    parse_month,
)
from churnlab.pipeline.render import PARAMETERS, _sha256, render_report
from churnlab.present.html import notebook_html


# ------------------------------------------------------------------ months
@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-10", "October", "2026-10-01", ""])
def test_a_bad_month_string_is_refused_with_the_expected_form(text):
    with pytest.raises(ReportInputError, match="YYYY-MM"):
        parse_month(text)


def test_a_month_is_reported_as_of_the_first_day_of_the_next():
    prev, as_of = month_dates("2026-12")
    assert (prev, as_of) == (pd.Timestamp("2026-12-01"), pd.Timestamp("2027-01-01"))


def test_months_outside_the_data_are_refused_naming_the_data_range(tiny_data):
    from churnlab.data.warehouse import open_warehouse

    with open_warehouse(tiny_data) as wh:
        first, end = data_range(wh)
        last = end.to_period("M") - 1
        with pytest.raises(ReportInputError, match=rf"beyond the data: the data covers "
                                                     rf"{first.date()}.*month is {last}"):
            check_month(wh, str(last + 1))
        with pytest.raises(ReportInputError, match="no data before it"):
            check_month(wh, str(first.to_period("M")))
        check_month(wh, str(last))                # the latest complete month is fine
        assert latest_complete_month(wh) == last


# ------------------------------------------------------------------ forecast check
def test_the_forecast_check_covers_a_calibrated_forecast_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered, n_sims = 0, 400
    for _ in range(n_sims):
        p = rng.beta(1, 30, 2000)
        left = rng.random(2000) < p
        fc = pd.DataFrame({S.ACCOUNT_ID: [f"A{i}" for i in range(2000)], S.ARR: 1.0, "p": p})
        active = set(fc.loc[~left, S.ACCOUNT_ID])
        out, bins = forecast_check(fc, active)
        assert out["observed_churns"] == left.sum()
        covered += out["within_interval"]
    # binomial: 95% nominal coverage, 3 standard errors of a proportion over 400 runs
    assert abs(covered / n_sims - 0.95) < 3 * np.sqrt(0.95 * 0.05 / n_sims)


def test_the_forecast_check_sees_a_forecast_that_is_three_times_too_low():
    rng = np.random.default_rng(1)
    p = rng.beta(1, 30, 3000)
    left = rng.random(3000) < np.minimum(3 * p, 1)
    fc = pd.DataFrame({S.ACCOUNT_ID: np.arange(3000).astype(str), S.ARR: 1.0, "p": p})
    out, bins = forecast_check(fc, set(fc.loc[~left, S.ACCOUNT_ID]))
    assert not out["within_interval"] and out["observed_churns"] > out["expected_hi"]
    assert out["auc"] > 0.6
    assert (bins["observed"] > bins["predicted"]).mean() >= 0.8


def test_movement_matrix_counts_new_and_departed_accounts():
    prev = pd.DataFrame({S.ACCOUNT_ID: ["a", "b", "c", "d"], "tier": ["green", "green", "red", "yellow"]})
    now = pd.DataFrame({S.ACCOUNT_ID: ["a", "b", "d", "e"], "tier": ["green", "yellow", "red", "green"]})
    m = movement_matrix(prev, now)
    assert m.loc["green", "green"] == 1 and m.loc["green", "yellow"] == 1
    assert m.loc["red", "left"] == 1 and m.loc["yellow", "red"] == 1 and m.loc["new", "green"] == 1
    assert m.to_numpy().sum() == 5


# ------------------------------------------------------------------ HTML
def _nb_with(outputs_by_cell):
    nb = nbformat.v4.new_notebook()
    for tags, source, outputs in outputs_by_cell:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        cell.outputs = outputs
        nb.cells.append(cell)
    return nb


PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")).decode()


def test_the_html_has_no_code_no_parameters_no_streams_and_embeds_images():
    nb = _nb_with([
        (["parameters"], "month = '2026-10'", []),
        (["injected-parameters"], "month = '2026-09'", []),
        ([], "secret_code = 42\nprint('progress 50%')", [
            nbformat.v4.new_output("stream", name="stderr", text="Warning: noisy\n"),
            nbformat.v4.new_output("display_data", data={"text/markdown": "**ARR $1.2M**"}),
            nbformat.v4.new_output("display_data", data={"image/png": PNG}),
        ]),
    ])
    page = notebook_html(nb, "Report <2026-10>")
    assert "<strong>ARR $1.2M</strong>" in page
    assert f"data:image/png;base64,{PNG}" in page
    for absent in ("secret_code", "2026-09", "month =", "Warning: noisy", "progress 50%"):
        assert absent not in page
    assert "<title>Report &lt;2026-10&gt;</title>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@media print" in page


def test_a_notebook_with_an_error_output_is_not_rendered():
    nb = _nb_with([([], "1/0", [nbformat.v4.new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero", traceback=["..."])])])
    with pytest.raises(ReportInputError, match="ZeroDivisionError"):
        notebook_html(nb, "x")


def test_papermill_inspection_returns_exactly_the_documented_parameters():
    from churnlab.present.notebook import notebook_parameters

    assert set(notebook_parameters(REPORT_TEMPLATE)) == set(PARAMETERS)


def test_the_template_ships_inside_the_package_not_beside_it():
    import churnlab

    package = Path(churnlab.__file__).resolve().parent
    assert REPORT_TEMPLATE.is_file() and package in REPORT_TEMPLATE.resolve().parents


# ------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> str:
    return str(simulated_data(tmp_path_factory.getbasetemp() / "churnlab-sim"))


@pytest.fixture(scope="module")
def rendered(sim, tmp_path_factory):
    model, card, model_dir, snapshot, scores = trained(sim)
    out = tmp_path_factory.mktemp("reports")
    month = str(pd.Timestamp(card["as_of"]).to_period("M") - 1)
    target = render_report(month, sim, out=out, model=model_dir)
    return target, month, model, snapshot, scores, out, model_dir


@pytest.mark.slow
def test_the_report_folder_holds_every_promised_file(rendered):
    target, month, *_ = rendered
    for name in ("report.html", "report.ipynb", "accounts.parquet", "accounts.csv",
                 "accounts.json", "tasks.csv", "summary.json", "manifest.json"):
        assert (target / name).is_file(), name
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["month"] == month
    assert set(manifest["parameters"]) == set(PARAMETERS)
    assert manifest["model_id"] and manifest["data_fingerprint"]
    for rel, digest in manifest["files"].items():
        assert _sha256(target / rel) == digest
    assert list((target / "packs").glob("*.html"))


@pytest.mark.slow
def test_the_report_figures_match_numbers_computed_from_the_scores(rendered):
    target, month, model, snapshot, scores, *_ = rendered
    summary = json.loads((target / "summary.json").read_text())
    # the scores at the report's as-of date are the fixture's (same model, same date)
    assert summary["as_of"] == str(scores["as_of"].iloc[0].date())
    assert summary["accounts"] == len(scores)
    assert summary["arr"] == pytest.approx(scores[S.ARR].sum(), rel=1e-9)
    expected_lost = float((scores["p_churn_90d"] * scores[S.ARR]).sum())
    assert summary["expected_arr_lost_horizon"] == pytest.approx(expected_lost, rel=1e-9)
    accounts = pd.read_parquet(target / "accounts.parquet")
    counts = accounts["tier"].value_counts()
    assert summary["tiers"] == {t: int(counts.get(t, 0)) for t in TIERS}
    page = (target / "report.html").read_text()
    assert money(expected_lost) in page
    assert f"{summary['accounts']:,} active accounts" in page
    top = accounts.sort_values("expected_arr_lost_90d", ascending=False).head(3)
    for name in top[S.NAME]:
        assert name.replace("&", "&amp;") in page


@pytest.mark.slow
def test_the_report_reads_out_the_save_experiments_beside_the_playbook_counts(rendered, sim):
    target, month, *_ = rendered
    page = html_lib.unescape((target / "report.html").read_text())
    with open_warehouse(sim) as wh:
        readout = run_experiments(wh, pd.Period(month).end_time.normalize()
                                  + pd.Timedelta(days=1))
    assert "Save experiments: do the plays work?" in page
    assert readout.verdict in page
    if readout.randomised:
        assert "CSMs chose who got which play" in page
        assert "Do the plays work:" in page
    assert "Targeting by the plays' effect, beside risk" in page
    assert ("Too few randomised accounts" in page or "held-out accounts" in page
            or "needs randomised plays" in page)


@pytest.mark.slow
def test_every_row_of_the_accounts_and_packs_follows_the_one_risk_language(rendered):
    """Tier, health and probability never contradict each other (issue 16): on every row
    of accounts.parquet and of every pack's CSV the tier is the band of the health and the
    health is the chance of churning by the renewal on the articles' scale; where the
    90-day probability alone would give another band the row says why in words. Every
    pack names the rule, and the CRM import has its documented columns."""
    from churnlab.actions.risk_language import DEFAULT_CUTS, check_risk_language
    from churnlab.actions.tasks import CRM_COLUMNS

    target = rendered[0]
    accounts = pd.read_parquet(target / "accounts.parquet")
    assert check_risk_language(accounts) == []
    assert set(accounts["tier"]) <= set(TIERS)
    for page in (target / "packs").glob("*.html"):
        assert DEFAULT_CUTS.words() in html_lib.unescape(page.read_text()), page.name
        rows = pd.read_csv(page.with_suffix(".csv"), keep_default_na=False,
                           na_values=[""])
        rows["tier_reason"] = rows["tier_reason"].fillna("")
        assert check_risk_language(rows) == [], page.name
        crm = pd.read_csv(page.with_name(page.stem + ".tasks.csv"))
        assert list(crm.columns) == CRM_COLUMNS
        assert set(crm["account_id"]) <= set(rows["account_id"])
    crm = pd.read_csv(target / "crm_tasks.csv")
    worked = accounts[accounts["tier"] != "green"]
    assert set(worked["account_id"]) <= set(crm["account_id"])
    assert crm["due_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


@pytest.mark.slow
def test_every_account_has_a_value_recap_with_nothing_internal_on_it(rendered):
    """Issue 15, item 4: one page per account in its CSM's pack, offline, and without
    the account's risk, probability, tier, health, root cause, playbook or discount."""
    from test_recaps import INTERNAL

    target = rendered[0]
    accounts = pd.read_parquet(target / "accounts.parquet")
    pages = sorted((target / "packs").glob("*.recaps/*.html"))
    assert len(pages) == len(accounts)
    with_use = 0
    for page in pages:
        text = page.read_text()
        assert "default-src 'none'" in text
        name = html_lib.unescape(re.search(r"<h1>Your results with us, (.*)</h1>", text)[1])
        body = html_lib.unescape(re.sub(r"<[^>]+>", " ", text.split("<body>")[1]))
        body = body.replace(name, " ")          # a customer may be called "... Health"
        assert not INTERNAL.search(body), (page.name, INTERNAL.search(body))
        with_use += "in the last 90 days" in body
    assert with_use > 0.5 * len(pages)


@pytest.mark.slow
def test_the_html_shows_no_code_or_traceback_and_fetches_nothing(rendered):
    page = (rendered[0] / "report.html").read_text()
    for marker in ("Traceback", "In [", "import ", "report.compute_month", "def ",
                   "model_path =", "Warning"):
        assert marker not in page, marker
    assert not re.search(r"""<(script|link)[^>]+(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert page.count("data:image/png;base64,") >= 5


@pytest.mark.slow
def test_an_existing_month_is_kept_unless_forced_and_a_rerun_gives_the_same_numbers(rendered, sim):
    target, month, model, snapshot, scores, out, model_dir = rendered
    before = (target / "summary.json").read_text()
    with pytest.raises(FileExistsError, match="--force"):
        render_report(month, sim, out=out, model=model_dir)
    assert (target / "summary.json").read_text() == before
    again = render_report(month, sim, out=out, model=model_dir, force=True)
    assert again == target
    assert (target / "summary.json").read_text() == before
    pd.testing.assert_frame_equal(pd.read_parquet(target / "accounts.parquet"),
                                  pd.read_parquet(again / "accounts.parquet"))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_the_next_month_reads_last_months_forecast_on_record(rendered, sim, tmp_path):
    target, month, model, snapshot, scores, out, model_dir = rendered
    # a copy of this month's folder stands as "last month" for a later month's
    # computation; the forecast is then the one on record, not a re-creation
    from churnlab.data.warehouse import open_warehouse

    with open_warehouse(sim) as wh:
        period = parse_month(month)
        r = compute_month(wh, period, model, previous_dir=target)
    assert r.forecast["source"] == "on record"
    recorded = pd.read_parquet(target / "accounts.parquet")
    assert r.forecast["expected_churns"] == pytest.approx(recorded["p_churn_next_month"].sum())


@pytest.mark.slow
def test_bad_months_leave_nothing_behind_and_exit_2(rendered, sim, tmp_path, capsys):
    *_, model_dir = rendered
    out = tmp_path / "reports"
    for month, message in (("2026-13", "YYYY-MM"), ("2099-01", "beyond the data")):
        assert main(["-q", "report", "--month", month, "--data", sim, "--model",
                     str(model_dir), "--out", str(out)]) == EXIT_USAGE
        assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


# ------------------------------------------------------------------ a real browser
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


def _open_in_chromium(path: Path, screenshot: Path, tmp_path: Path, width: int = 1280,
                      height: int = 900, above_fold: tuple = ()) -> dict:
    """Open ``path`` in headless Chromium at ``width`` x ``height``; return its text,
    console errors, page errors, every URL it requested, the page's horizontal overflow
    (px the document is wider than the viewport), which of ``above_fold`` texts are
    visible without scrolling, and in print (A4) the tables wider than the page. A
    screenshot of the whole page is saved."""
    import os

    if not Path(CHROMIUM).exists():
        message = (f"{CHROMIUM} is missing: `make test` installs Debian's chromium package "
                   "(apt-get install chromium) for this test")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    seen = {"console_errors": [], "page_errors": [], "requests": [], "failed": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{width}"), executable_path=CHROMIUM, headless=True,
            args=BROWSER_ARGS, viewport={"width": width, "height": height})
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and seen["console_errors"].append(m.text))
            page.on("pageerror", lambda e: seen["page_errors"].append(str(e)))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.on("requestfailed", lambda r: seen["failed"].append(r.url))
            page.goto(path.resolve().as_uri(), wait_until="load")
            seen["text"] = page.inner_text("body")
            seen["images"] = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth])")
            seen["overflow_px"] = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            seen["above_fold"] = [t for t in above_fold if page.evaluate(
                """([t, h]) => { const w = document.createTreeWalker(document.body,
                       NodeFilter.SHOW_TEXT);
                   while (w.nextNode()) { if (w.currentNode.textContent.includes(t)) {
                       const r = document.createRange(); r.selectNodeContents(w.currentNode);
                       const b = r.getBoundingClientRect(); return b.bottom <= h; } }
                   return false; }""", [t, height])]
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            # print view: A4 portrait is 794 px wide at 96 dpi (210 mm); Chromium's
            # default print margins leave about 718 px
            page.set_viewport_size({"width": 718, "height": 1000})
            page.emulate_media(media="print")
            seen["print_cut_tables"] = page.evaluate(
                """() => [...document.querySelectorAll('table')].filter(
                       t => t.getBoundingClientRect().right > 718 + 1).length""")
            page.pdf(path=str(screenshot.with_suffix(".pdf")), format="A4")
        finally:
            browser.close()
    return seen


def _artifacts() -> Path:
    return Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_chromium_renders_the_report_with_its_key_figures_and_no_errors(rendered, tmp_path,
                                                                        width):
    """Desktop and phone width: no error, nothing fetched, no horizontal scrolling of the
    page, the leader's five answers above the fold on desktop, and a print view whose
    tables fit an A4 page."""
    target = rendered[0]
    summary = json.loads((target / "summary.json").read_text())
    answers = ("How much is at risk:", "Where:", "When:", "Why:", "What is being done:",
               "Was last month's forecast right:")
    seen = _open_in_chromium(target / "report.html", _artifacts() / f"report-{width}.png",
                             tmp_path, width=width, above_fold=answers)
    assert seen["console_errors"] == [] and seen["page_errors"] == [] and seen["failed"] == []
    assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
    assert money(summary["expected_arr_lost_horizon"]) in seen["text"]
    assert f"{summary['accounts']:,} active accounts" in seen["text"]
    assert "Last month's forecast vs what happened" in seen["text"]
    assert len(seen["images"]) >= 5 and all(ok and w > 100 for ok, w in seen["images"])
    assert seen["overflow_px"] <= 0, f"the page scrolls sideways by {seen['overflow_px']} px"
    if width >= 1000:
        assert list(seen["above_fold"]) == list(answers)
    assert seen["print_cut_tables"] == 0
    assert (_artifacts() / f"report-{width}.png").stat().st_size > 10_000
    for code in S.ROOT_CAUSES:          # every label in words, not code names
        assert code not in seen["text"], code


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_chromium_renders_a_csm_pack_with_only_that_csms_accounts(rendered, tmp_path, width):
    target = rendered[0]
    accounts = pd.read_parquet(target / "accounts.parquet")
    owner = accounts[S.CSM_OWNER].value_counts().index[0]
    pages = sorted((target / "packs").glob("*.html"))
    page = next(p for p in pages if owner in p.read_text())
    seen = _open_in_chromium(page, _artifacts() / f"csm_pack-{width}.png", tmp_path,
                             width=width, above_fold=("Next step:",))
    assert seen["console_errors"] == [] and seen["page_errors"] == [] and seen["failed"] == []
    assert all(u.startswith(("file:", "data:")) for u in seen["requests"])
    assert seen["overflow_px"] <= 0, f"the pack scrolls sideways by {seen['overflow_px']} px"
    assert seen["above_fold"] == ["Next step:"] or width < 1000
    mine = accounts[accounts[S.CSM_OWNER] == owner]
    others = accounts[accounts[S.CSM_OWNER] != owner]
    top = mine.sort_values("priority").head(3)
    for name in top[S.NAME]:
        assert name in seen["text"]
    assert not any(name in seen["text"] for name in others[S.NAME].head(50)
                   if name not in set(mine[S.NAME]))


def test_reports_readme_documents_exactly_the_template_parameters():
    readme = (Path(__file__).resolve().parents[1] / "reports" / "README.md").read_text()
    table = readme.split("## The template's parameters")[1]
    documented = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    assert documented == list(PARAMETERS)


# ------------------------------------------------------------------ one run, each step once
@pytest.mark.slow
def test_one_report_opens_validates_fingerprints_and_loads_the_model_once(
        rendered, sim, tmp_path, monkeypatch):
    """The data are opened and validated once, hashed once and the model loaded once per
    ``churnlab report`` (the notebook only presents the computed month)."""
    from churnlab.data.warehouse import Warehouse
    from churnlab.pipeline import month as month_mod
    from churnlab.pipeline import render as render_mod

    *_, model_dir = rendered
    month = rendered[1]
    calls = {"open": 0, "validate": 0, "hash": 0, "load": 0}

    def counting(name, fn):
        def wrapper(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(render_mod, "open_warehouse",
                        counting("open", render_mod.open_warehouse))
    monkeypatch.setattr(render_mod, "require_valid",
                        counting("validate", render_mod.require_valid))
    monkeypatch.setattr(render_mod, "load_model", counting("load", render_mod.load_model))
    monkeypatch.setattr(Warehouse, "_hash_inputs", counting("hash", Warehouse._hash_inputs))
    for name in ("open_warehouse", "require_valid", "load_model"):   # the notebook's path
        monkeypatch.setattr(month_mod, name, counting("open", getattr(month_mod, name)))
    target = render_report(month, sim, out=tmp_path / "reports", model=model_dir)
    assert calls == {"open": 1, "validate": 1, "hash": 1, "load": 1}
    assert not (target / ".month.joblib").exists()          # the hand-over file is gone
    assert (target / "report.html").is_file()


@pytest.mark.slow
def test_the_top_accounts_table_has_the_requested_length(rendered, sim):
    from churnlab.data.warehouse import open_warehouse
    from churnlab.present.report_text import top_accounts

    _, month, model, *_ = rendered
    with open_warehouse(sim) as wh:
        r = compute_month(wh, month, model, top_n=4)
    assert r.top_n == 4 and len(top_accounts(r)) == 4


@pytest.mark.slow
def test_an_installed_wheel_renders_a_report(rendered, sim, tmp_path):
    """Built as a wheel and installed into a fresh virtualenv (dependencies borrowed from
    this one), churnlab finds its report template and renders a month."""
    import os
    import subprocess
    import sys
    import sysconfig

    *_, model_dir = rendered
    month = rendered[1]
    root = Path(__file__).resolve().parents[1]
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(dist), str(root)], check=True)
    wheel = next(dist.glob("churnlab-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                    "--no-deps", str(wheel)], check=True)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (Path(site) / "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run([str(py), "-c", "import churnlab.catalog as c; "
                            "print(c.REPORT_TEMPLATE)"], capture_output=True, text=True,
                           check=True, env=env, cwd=tmp_path).stdout.strip()
    assert where.startswith(site) and Path(where).is_file()       # from the wheel, not src/
    out = tmp_path / "reports"
    proc = subprocess.run([str(py), "-m", "churnlab.cli", "-q", "report", "--month", month,
                           "--data", sim, "--model", str(model_dir), "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / month / "report.html").is_file()


@pytest.mark.slow
def test_a_report_reuses_the_features_saved_with_its_model_and_says_the_same(
        rendered, sim, monkeypatch):
    """``churnlab train`` saves its landmark rows beside the model; a report on the same
    inputs takes last month's snapshot and the expansion model's monthly dates from them
    (no pass over the events for those dates) and computes the same month."""
    from churnlab.data.warehouse import open_warehouse
    from churnlab.features import snapshot as F
    from churnlab.models.registry import load_model
    from churnlab.pipeline.month import compute_month
    from churnlab.pipeline.render import saved_features

    *_, model_dir = rendered
    period = pd.Period(rendered[1], "M")
    model = load_model(model_dir)
    assert model.features_file_ is not None and model.features_file_.is_file()
    read = []
    real = F.events_sql
    monkeypatch.setattr(F, "events_sql", lambda dates, *a, **k: read.append(
        sorted(pd.Timestamp(d) for d in dates)) or real(dates, *a, **k))
    with open_warehouse(sim) as wh:
        fresh = compute_month(wh, period, model)
        from_events = sorted({d for batch in read for d in batch})
        read.clear()
        history = saved_features(model, wh)
        assert history == model.features_file_
        reused = compute_month(wh, period, model, history=history)
        reread = sorted({d for batch in read for d in batch})
        monkeypatch.setitem(model.card, "data_fingerprint", "another-data")
        assert saved_features(model, wh) is None
    saved_dates = set(pd.read_parquet(history, columns=[F.LANDMARK])[F.LANDMARK])
    # one row group per date: a reader of a few dates decodes only those
    import pyarrow.parquet as pq
    assert pq.ParquetFile(history).metadata.num_row_groups == len(saved_dates)
    taken = (set(from_events) & saved_dates) - set(reread)      # from the file instead
    # last month's snapshot and the expansion dates within the training window
    assert fresh.prev_as_of in taken and len(taken) >= 4
    assert set(reread) <= set(from_events) and fresh.as_of in reread
    pd.testing.assert_frame_equal(reused.accounts, fresh.accounts)
    pd.testing.assert_frame_equal(reused.growth.candidates, fresh.growth.candidates)
    assert reused.growth.propensity_auc == pytest.approx(fresh.growth.propensity_auc, abs=1e-12)
    pd.testing.assert_frame_equal(reused.movements, fresh.movements)
    assert (reused.uplift.status, reused.uplift.n_train, reused.uplift.n_test) == \
        (fresh.uplift.status, fresh.uplift.n_train, fresh.uplift.n_test)
    assert reused.uplift.sentence == fresh.uplift.sentence
