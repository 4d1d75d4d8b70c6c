"""The notebook runner: a failing cell names itself and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from churnlab.errors import RenderError
from churnlab.present.notebook import NotebookCellError, run_notebook


def test_a_failing_cell_raises_with_its_number_and_error_and_writes_nothing(tmp_path):
    src = tmp_path / "nb.py"
    src.write_text("# %%\nx = 1\n\n# %%\nraise ValueError('boom at ' + str(x))\n")
    out = tmp_path / "out" / "nb.ipynb"
    out.parent.mkdir()
    with pytest.raises(NotebookCellError) as err:
        run_notebook(src, out)
    assert (err.value.exec_count, err.value.ename) == (2, "ValueError")
    assert "boom at 1" in err.value.evalue
    assert type(err.value.__cause__).__name__ == "PapermillExecutionError"
    assert isinstance(err.value, RenderError) and err.value.exit_code == 4
    assert list(out.parent.iterdir()) == []          # no partial or temporary file


def test_the_cli_does_not_import_papermill_until_a_notebook_runs():
    code = ("import sys, churnlab.cli; "
            "print(sorted(m for m in ('papermill', 'nbformat', 'jsonschema') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_the_kernel_start_up_says_nothing_but_the_notebook_keeps_its_warnings(tmp_path):
    src = tmp_path / "nb.py"
    src.write_text("# %%\nimport warnings\nwarnings.warn('from the notebook')\n")
    code = ("import sys; from churnlab.present.notebook import run_notebook; "
            f"run_notebook({str(src)!r}, {str(tmp_path / 'nb.ipynb')!r})")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "[IPKernelApp]" not in run.stderr, run.stderr
    assert "from the notebook" in (tmp_path / "nb.ipynb").read_text()
