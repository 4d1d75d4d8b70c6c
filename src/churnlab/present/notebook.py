"""Execute parameterised notebooks (jupytext percent scripts or .ipynb) with papermill.

papermill cannot read a jupytext ``.py`` itself, so the script is read with jupytext
and the notebook object handed to papermill, in-process. A failing cell raises
:class:`NotebookCellError` and nothing is written at ``output``.

papermill (with nbformat and jsonschema) is imported only when a notebook runs: it costs
~2 s at import, which every other command would otherwise pay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from churnlab.errors import RenderError
from churnlab.storage import atomic_path

KERNEL = "python3"
# the kernel is local and lives for one notebook: its own log is not the user's business.
# ipykernel 7 warns on every start that localhost TCP is unencrypted, and jupyter_client
# interrupts the kernel before every shutdown, which ipykernel logs as an ERROR
# ("KeyboardInterrupt caught in kernel") when the signal lands inside a message handler: a
# race, seen once in CI. A failing cell still raises (papermill reads it from the kernel's
# reply, not from its log), a dead kernel still raises, and whatever the notebook's own code
# prints or warns stays in its outputs.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


class NotebookCellError(RenderError):
    """A cell of an executed notebook raised: its execution count, error name and value
    (papermill's ``PapermillExecutionError``, which stays the ``__cause__``)."""

    def __init__(self, exec_count, ename: str, evalue: str):
        super().__init__(f"cell {exec_count}: {ename}: {evalue}")
        self.exec_count, self.ename, self.evalue = exec_count, ename, evalue


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
    from papermill.exceptions import PapermillExecutionError

    nb = read_notebook(source)
    output = Path(output)
    with atomic_path(output) as tmp:
        try:
            executed = papermill.execute_notebook(
                nb, None, parameters=dict(parameters or {}), kernel_name=kernel_name,
                cwd=str(cwd) if cwd else str(Path(source).resolve().parent),
                progress_bar=progress, log_output=False, extra_arguments=KERNEL_ARGUMENTS)
        except PapermillExecutionError as exc:
            raise NotebookCellError(exc.exec_count, exc.ename, exc.evalue) from exc
        nbformat.write(executed, tmp)
    return output
