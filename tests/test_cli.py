"""The `churnlab` command end to end on small data."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import TINY_AS_OF, write_tables

from churnlab.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from churnlab.data import contract as S


def test_validate_passes_on_valid_data(tiny_data, capsys):
    assert main(["-q", "validate", "--data", str(tiny_data), "--as-of", TINY_AS_OF]) == EXIT_OK


def test_validate_reports_bad_rows_and_exits_non_zero(tiny_tables, tmp_path, capsys):
    subs = tiny_tables[S.SUBSCRIPTIONS]
    subs.loc[subs[S.SUBSCRIPTION_ID] == "S4", S.SUBSCRIPTION_ID] = "S1"   # duplicate id
    data = write_tables(tiny_tables, tmp_path / "bad")
    assert main(["-q", "validate", "--data", str(data), "--as-of", TINY_AS_OF]) == EXIT_INVALID
    out = capsys.readouterr().out
    assert "subscriptions" in out and "subscription_id" in out and "S1" in out


def test_features_refuses_invalid_data_and_writes_nothing(tiny_tables, tmp_path, capsys):
    tiny_tables[S.EVENTS].loc[0, S.EVENT_TYPE] = "mystery_event"
    data = write_tables(tiny_tables, tmp_path / "bad")
    out = tmp_path / "f.parquet"
    code = main(["-q", "features", "--data", str(data), "--as-of", "2024-01-01", "--out", str(out)])
    assert code == EXIT_INVALID
    assert "mystery_event" in capsys.readouterr().err
    assert not out.exists()


def test_features_writes_one_row_per_active_account(tiny_data, tmp_path):
    out = tmp_path / "f.csv"
    assert main(["-q", "features", "--data", str(tiny_data), "--as-of", "2023-06-15",
                 "--out", str(out)]) == EXIT_OK
    df = pd.read_csv(out)
    assert sorted(df[S.ACCOUNT_ID]) == ["A1", "A2", "A3", "A4"]


def test_landmarks_command_labels_each_month(tiny_data, tmp_path):
    out = tmp_path / "lm.parquet"
    assert main(["-q", "landmarks", "--data", str(tiny_data), "--start", "2023-02-01",
                 "--end", "2023-04-01", "--out", str(out)]) == EXIT_OK
    lm = pd.read_parquet(out)
    assert lm["landmark"].nunique() == 3
    assert set(lm.columns) >= {"duration_days", "churned"}


def test_bad_date_is_a_usage_error(tiny_data):
    proc = subprocess.run([sys.executable, "-m", "churnlab.cli", "features", "--data",
                           str(tiny_data), "--as-of", "2024-13-01", "--out", "x.parquet"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "not a date in YYYY-MM-DD form" in proc.stderr


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["-q", "validate", "--data", str(tmp_path / "nope")]) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_end_to_end_and_a_rerun_reuses_everything_with_the_same_numbers(
        tmp_path, capsys):
    raw, processed = tmp_path / "raw", tmp_path / "processed"
    models, reports = tmp_path / "models", tmp_path / "reports"
    args = ["-q", "demo", "--raw", str(raw), "--processed", str(processed),
            "--accounts", "700", "--months", "24", "--seed", "3", "--landmark-months", "20",
            "--model-dir", str(models), "--reports", str(reports)]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    manifest = json.loads((processed / "manifest.json").read_text())
    features = pd.read_parquet(processed / f"features_{manifest['as_of']}.parquet")
    assert len(features) > 0 and features[S.ACCOUNT_ID].is_unique
    month = str(pd.Timestamp(manifest["as_of"]).to_period("M") - 1)
    report = reports / month / "report.html"
    assert f"Open the report: {report}" in out and report.is_file()
    summary = (reports / month / "summary.json").read_text()
    assert json.loads(summary)["accounts"] == len(features)
    from churnlab.actions.risk_language import check_risk_language  # issue 16: every row
    assert check_risk_language(pd.read_parquet(reports / month / "accounts.parquet")) == []
    assert main(args) == EXIT_OK
    again = capsys.readouterr().out
    for step in ("reusing the demo SaaS", "reusing the landmark dataset", "reusing the champion"):
        assert step in again
    pd.testing.assert_frame_equal(
        features, pd.read_parquet(processed / f"features_{manifest['as_of']}.parquet"))
    assert (reports / month / "summary.json").read_text() == summary


@pytest.mark.slow
def test_signals_command_writes_the_analysis_and_ranked_sentences(tmp_path, capsys):
    from churnlab.sim.generate import simulate_saas, write_simulation

    data = write_simulation(simulate_saas(400, 24, seed=11), tmp_path / "saas")
    out, summary = tmp_path / "signals.parquet", tmp_path / "summary.csv"
    assert main(["-q", "signals", "--data", str(data), "--out", str(out),
                 "--summary-out", str(summary), "--top", "3"]) == EXIT_OK
    table, ranked = pd.read_parquet(out), pd.read_csv(summary)
    assert {"signal", "event_type", "family", "window", "n_churners"} <= set(table.columns)
    assert ranked["sentence"].str.len().gt(20).all()
    assert "before churn" in ranked["sentence"].iloc[0]
    printed = [l for l in capsys.readouterr().out.splitlines() if l.startswith("  - ")]
    assert printed == [f"  - {s}" for s in ranked["sentence"].head(3)]


def test_a_table_level_warning_names_the_table_without_an_empty_column(tiny_tables, tmp_path,
                                                                         capsys):
    """Issue 17 item 9: an empty events table warned as 'events.:'."""
    tiny_tables[S.EVENTS] = tiny_tables[S.EVENTS].iloc[:0]
    data = write_tables(tiny_tables, tmp_path / "d")
    main(["features", "--data", str(data), "--as-of", TINY_AS_OF,
          "--out", str(tmp_path / "f.parquet")])
    err = capsys.readouterr().err
    assert "events: the events table must hold at least one row" in err
    assert "events.:" not in err


def test_every_option_of_every_command_is_explained_with_an_example(capsys):
    from churnlab.cli import EXAMPLES, build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == set(EXAMPLES)
    for name, sub in commands.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"churnlab {name} {action.option_strings} has no help"
        assert f"example: {' '.join(EXAMPLES[name].split())}" in \
            " ".join(sub.format_help().split())
