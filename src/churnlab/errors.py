"""churnlab's errors: one base class, four kinds, each with the CLI's exit code.

Every error a user can cause is a :class:`ChurnlabError`; the CLI prints its message on
one line and exits with its ``exit_code`` (a traceback only with ``--debug``):

====  ================  ==========================================================
code  class             meaning
====  ================  ==========================================================
0                       success
1     DataError         the data cannot be used: invalid rows (the validation report
                        is printed), too little history, no active account
2     InputError        a wrong argument, option, path or file (usage error)
3     ModelError        no usable model: missing, unreadable, or trained after T
4     RenderError       the report notebook failed while rendering
====  ================  ==========================================================

They also derive from :class:`ValueError` (except :class:`RenderError`), so code that
caught the old per-module ``ValueError`` subclasses keeps working.
"""

from __future__ import annotations

EXIT_OK = 0


class ChurnlabError(Exception):
    """Base class of every error a churnlab user can cause."""

    exit_code = 1


class DataError(ChurnlabError, ValueError):
    """The data cannot be used as given (names the table, column, rows and rule)."""

    exit_code = 1


class InputError(ChurnlabError, ValueError):
    """A wrong argument, option, path or file."""

    exit_code = 2


class ModelError(ChurnlabError, ValueError):
    """No usable model for this request."""

    exit_code = 3


class RenderError(ChurnlabError):
    """Rendering a report failed (the failing notebook cell is named)."""

    exit_code = 4


EXIT_CODES = {cls.__name__: cls.exit_code for cls in (DataError, InputError, ModelError,
                                                      RenderError)}


class OutputExistsError(InputError, FileExistsError):
    """An output that must not be replaced without ``--force`` already exists."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """No model where one was expected."""
