"""Outputs are written atomically: never half-written, never silently lost."""

import pandas as pd
import pytest

from churnlab.storage import atomic_dir, write_frame


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "out.parquet"
    write_frame(pd.DataFrame({"a": [1, 2]}), path)

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(RuntimeError):
        write_frame(pd.DataFrame({"a": [9]}), path)
    monkeypatch.undo()
    assert pd.read_parquet(path)["a"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]  # no temp debris


def test_write_frame_refuses_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="unsupported output format"):
        write_frame(pd.DataFrame({"a": [1]}), tmp_path / "out.xlsx")


def test_atomic_dir_refuses_to_overwrite_unless_asked(tmp_path):
    target = tmp_path / "month"
    with atomic_dir(target) as tmp:
        (tmp / "report.html").write_text("v1")
    with pytest.raises(FileExistsError):
        with atomic_dir(target) as tmp:
            pass
    with pytest.raises(RuntimeError):
        with atomic_dir(target, overwrite=True) as tmp:
            (tmp / "report.html").write_text("half")
            raise RuntimeError("crash mid-render")
    assert (target / "report.html").read_text() == "v1"
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "report.html").write_text("v2")
    assert (target / "report.html").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["month"]


def test_outputs_get_the_users_umask_not_private_modes(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "2025-04") as tmp:
            (tmp / "a.txt").write_text("x")
        write_frame(pd.DataFrame({"a": [1]}), tmp_path / "f.parquet")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "2025-04").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "f.parquet").stat().st_mode) == 0o644


def test_a_killed_runs_temporary_folder_is_removed_by_the_next_run(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    debris = tmp_path / f".2025-04.{dead}.abc.tmp"
    debris.mkdir()
    (debris / "half.csv").write_text("a,")
    with atomic_dir(tmp_path / "2025-04") as tmp:
        (tmp / "a.txt").write_text("x")
    assert not debris.exists() and (tmp_path / "2025-04" / "a.txt").is_file()


def test_a_failed_write_removes_the_folders_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "out" / "nested" / "2025-04"):
            raise RuntimeError("boom")
    assert not (tmp_path / "out").exists()


def test_a_second_run_on_a_locked_month_stops_with_the_holders_pid(tmp_path):
    import os

    from churnlab.errors import InputError
    from churnlab.storage import folder_lock

    target = tmp_path / "reports" / "2025-04"
    with folder_lock(target, "churnlab report for 2025-04") as lock:
        lock.write_text("1\n")                        # pid 1 is alive (init)
        with pytest.raises(InputError, match=r"another churnlab report for 2025-04 is "
                                             r"running \(pid 1\)"):
            with folder_lock(target, "churnlab report for 2025-04"):
                pass
        lock.write_text(f"{os.getpid()}\n")
    assert not lock.exists()
    (tmp_path / "reports").mkdir(exist_ok=True)
    (tmp_path / "reports" / ".2025-04.lock").write_text("999999999\n")   # a dead holder
    with folder_lock(target, "churnlab report for 2025-04"):
        pass


def test_an_unusable_output_path_is_one_line_and_exit_2(tiny_data, tmp_path, capsys):
    from conftest import TINY_AS_OF

    from churnlab.cli import EXIT_USAGE, main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["-q", "features", "--data", str(tiny_data), "--as-of", TINY_AS_OF,
                 "--out", str(blocker / "features.parquet")])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and len(err.strip().splitlines()) == 1
    assert "a-file" in err and "Traceback" not in err
