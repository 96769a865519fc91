"""The Reports page: a run's report as HTML, JSON or zipped CSV tables, in memory."""

from __future__ import annotations

import tempfile
from pathlib import Path

from core.errors import ValidationError
from core.reports.html_report import build_report
from core.store import Store

__all__ = ["REPORT_FILES", "report_bytes"]


#: Report files a run offers: format -> (label, file suffix, MIME type).
REPORT_FILES: dict[str, tuple[str, str, str]] = {
    "html": ("HTML report", ".html", "text/html"),
    "json": ("JSON report (every result and table)", ".json", "application/json"),
    "csv": ("CSV tables (zip)", "-tables.zip", "application/zip"),
}


def report_bytes(store: Store, run_id: str, fmt: str, *, key: str | None = None) -> bytes:
    """Build a run's report with :func:`core.reports.html_report.build_report`; its bytes.

    The file is written to a temporary folder (the reports folder keeps only
    what the CLI or a backtest writes there).
    """
    if fmt not in REPORT_FILES:
        raise ValidationError(
            f"report format must be one of {', '.join(REPORT_FILES)}, got {fmt!r}"
        )
    with tempfile.TemporaryDirectory(prefix="signal-lab-report-") as tmp:
        out = Path(tmp) / f"{run_id}{REPORT_FILES[fmt][1]}"
        path = build_report(store, run_id, format=fmt, out=out, key=key)  # type: ignore[arg-type]
        return Path(path).read_bytes()
