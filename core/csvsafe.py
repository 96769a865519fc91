"""CSV that is safe to open in a spreadsheet: formula cells neutralised.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read
as a formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``@SUM(...)``,
``+cmd|...``): "CSV injection". Following OWASP's rule, such text cells are prefixed with
a single quote, which spreadsheets show as text and do not evaluate. Only text cells are
touched: a negative *number* stays a number. Every CSV Signal Lab writes (events export in
the CLI and the dashboard, the report tables) goes through :func:`csv_bytes`.

References
----------
OWASP, "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import csv
from typing import Any

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "csv_bytes", "neutralise_formulas"]

#: First characters that make a spreadsheet evaluate a cell.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def _neutral(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) cannot start a formula.

    Parameters
    ----------
    frame : DataFrame
        Any frame; numeric, boolean and datetime columns are left as they are.

    Returns
    -------
    DataFrame
        Same shape; text cells starting with one of :data:`FORMULA_PREFIXES` get a
        leading ``'``.

    Examples
    --------
    >>> neutralise_formulas(pd.DataFrame({"s": ["=1+1", "AAPL"], "r": [-1.5, 2.0]}))
           s    r
    0  '=1+1 -1.5
    1   AAPL  2.0
    """
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            out[column] = series.map(_neutral)
    out.columns = [_neutral(str(c)) if isinstance(c, str) else c for c in out.columns]
    return out


def csv_bytes(frame: pd.DataFrame, **to_csv: Any) -> bytes:
    """``frame`` as UTF-8 CSV with formula cells neutralised (``to_csv`` options pass on).

    Text cells are always quoted (``QUOTE_NONNUMERIC``): pandas leaves a carriage return
    inside a cell unquoted, which splits the row for a reader.
    """
    options = {"quoting": csv.QUOTE_NONNUMERIC, **to_csv}
    return neutralise_formulas(frame).to_csv(index=False, **options).encode("utf-8")
