"""Execute parameterised notebooks (jupytext percent scripts or .ipynb) with papermill.

papermill cannot read a jupytext ``.py`` itself, so the script is read with jupytext
and the notebook object handed to papermill, in-process. A failing cell raises
(``papermill.PapermillExecutionError``) and nothing is written at ``output``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from churnlab.storage import atomic_path

KERNEL = "python3"


def read_notebook(source: str | Path):
    """Read a notebook from a jupytext percent script or an ``.ipynb`` file."""
    import jupytext

    return jupytext.read(Path(source))


def notebook_parameters(source: str | Path) -> dict[str, Any]:
    """The names and default values of the ``parameters``-tagged cell (papermill's
    own inspection)."""
    import papermill

    nb = read_notebook(source)
    tmp = Path(source).with_suffix(".inspect.ipynb")
    import nbformat

    try:
        nbformat.write(nb, tmp)
        params = papermill.inspect_notebook(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
    return {name: spec["default"] for name, spec in params.items()}


def run_notebook(source: str | Path, output: str | Path,
                 parameters: Mapping[str, Any] | None = None,
                 cwd: str | Path | None = None, kernel_name: str = KERNEL,
                 progress: bool = False) -> Path:
    """Execute ``source`` with ``parameters`` injected and write the executed
    notebook to ``output`` atomically. Raises on the first failing cell."""
    import nbformat
    import papermill

    nb = read_notebook(source)
    output = Path(output)
    with atomic_path(output) as tmp:
        executed = papermill.execute_notebook(
            nb, None, parameters=dict(parameters or {}), kernel_name=kernel_name,
            cwd=str(cwd) if cwd else str(Path(source).resolve().parent),
            progress_bar=progress, log_output=False)
        nbformat.write(executed, tmp)
    return output
