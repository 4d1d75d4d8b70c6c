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
