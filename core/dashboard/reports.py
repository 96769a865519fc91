"""The Reports page: a run's report as HTML, JSON or zipped CSV tables, built once per run.

A report used to be rebuilt on every click (13, 15 and 9 s for the HTML, JSON
and CSV files of a 300,000-trade run), and each of the three formats analysed the
run again. :class:`ReportFiles` analyses a run once per (store, run, event count,
key), writes each format to a file on disk the first time it is asked for, and
hands the same file back until the run changes (a new event count makes new
names). The files live in a private temporary folder, never in the store's
``reports`` folder (which keeps only what the CLI or a backtest writes there).
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from core.errors import ValidationError
from core.reports.html_report import build_report, write_html_report
from core.reports.tables import RunAnalysis, analyze_stored_run, write_tables_csv, write_tables_json
from core.store import Store

__all__ = ["REPORT_FILES", "ReportFiles", "report_bytes"]


#: Report files a run offers: format -> (label, file suffix, MIME type).
REPORT_FILES: dict[str, tuple[str, str, str]] = {
    "html": ("HTML report", ".html", "text/html"),
    "json": ("JSON report (every result and table)", ".json", "application/json"),
    "csv": ("CSV tables (zip)", "-tables.zip", "application/zip"),
}

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _check_format(fmt: str) -> None:
    if fmt not in REPORT_FILES:
        raise ValidationError(
            f"report format must be one of {', '.join(REPORT_FILES)}, got {fmt!r}"
        )


def report_bytes(store: Store, run_id: str, fmt: str, *, key: str | None = None) -> bytes:
    """Build a run's report with :func:`core.reports.html_report.build_report`; its bytes.

    Uncached (every call analyses the run); the dashboard uses :class:`ReportFiles`.
    The file is written to a temporary folder (the reports folder keeps only
    what the CLI or a backtest writes there).
    """
    _check_format(fmt)
    with tempfile.TemporaryDirectory(prefix="signal-lab-report-") as tmp:
        out = Path(tmp) / f"{run_id}{REPORT_FILES[fmt][1]}"
        path = build_report(store, run_id, format=fmt, out=out, key=key)  # type: ignore[arg-type]
        return Path(path).read_bytes()


class ReportFiles:
    """Report files of stored runs, built on first request and kept until the run changes.

    Thread-safe: the dashboard serves every session from one instance (download
    callbacks run in worker threads). Two requests for the same run wait for one
    build; different runs build side by side.

    Parameters
    ----------
    folder : str or Path, optional
        Where the files go; default a private temporary folder removed when the
        object is garbage-collected or the process exits.
    max_files : int, default 24
        Files kept on disk; the least recently used go first.
    max_analyses : int, default 2
        Run analyses kept in memory so that a second format of the same run is
        only written, not analysed again.
    """

    def __init__(
        self, folder: str | Path | None = None, *, max_files: int = 24, max_analyses: int = 2
    ) -> None:
        if max_files < 1 or max_analyses < 0:
            raise ValidationError(
                f"max_files must be >= 1 and max_analyses >= 0, got {max_files!r}, {max_analyses!r}"
            )
        self._tmp = None
        if folder is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="signal-lab-reports-")
            folder = self._tmp.name
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_files = int(max_files)
        self.max_analyses = int(max_analyses)
        self._lock = threading.Lock()
        self._run_locks: dict[tuple[str, str, int, str], threading.Lock] = {}
        self._files: OrderedDict[Path, None] = OrderedDict()
        self._analyses: OrderedDict[tuple[str, str, int, str], RunAnalysis] = OrderedDict()
        self.builds = 0  # analyses run (for tests and the benchmark)

    def _name(self, store: Store, run_id: str, fmt: str, key: str | None, n_events: int) -> Path:
        tag = _UNSAFE.sub("_", f"{Path(store.data_dir).resolve()}")[-60:]
        stem = _UNSAFE.sub("_", f"{run_id}-{n_events}-{key or 'default'}")
        return self.folder / f"{tag}--{stem}{REPORT_FILES[fmt][1]}"

    def ready(
        self, store: Store, run_id: str, fmt: str, *, key: str | None = None, n_events: int
    ) -> bool:
        """Whether the file is built already (a click would only read it)."""
        _check_format(fmt)
        return self._name(store, run_id, fmt, key, n_events).is_file()

    def path(
        self, store: Store, run_id: str, fmt: str, *, key: str | None = None, n_events: int
    ) -> Path:
        """The report file of ``run_id`` in ``fmt``, built if it is not on disk yet.

        Parameters
        ----------
        store : Store
        run_id : str
        fmt : {"html", "json", "csv"}
        key : str, optional
            Confidence key (default the run's own).
        n_events : int
            The run's event count when asked (``RunInfo.n_events``): a run with
            more events gets new files.

        Raises
        ------
        ValidationError
            Unknown format.
        RunNotFoundError, InsufficientDataError, StoreError
            From the analysis or the write.
        """
        _check_format(fmt)
        target = self._name(store, run_id, fmt, key, n_events)
        run_key = (str(Path(store.data_dir).resolve()), run_id, int(n_events), str(key))
        with self._lock:
            run_lock = self._run_locks.setdefault(run_key, threading.Lock())
        with run_lock:
            if not target.is_file():
                analysis = self._analysis(store, run_id, key, run_key)
                if fmt == "html":
                    write_html_report(analysis, target)
                elif fmt == "json":
                    write_tables_json(analysis.to_dict(), target)
                else:
                    write_tables_csv(analysis.tables(), target)
        self._touch(target)
        return target

    def read(
        self, store: Store, run_id: str, fmt: str, *, key: str | None = None, n_events: int
    ) -> bytes:
        """The bytes of :meth:`path` (what a download button hands the browser).

        A file evicted by another thread between :meth:`path` and the read is
        built again once.
        """
        try:
            return self.path(store, run_id, fmt, key=key, n_events=n_events).read_bytes()
        except FileNotFoundError:
            return self.path(store, run_id, fmt, key=key, n_events=n_events).read_bytes()

    def _analysis(
        self, store: Store, run_id: str, key: str | None, run_key: tuple[str, str, int, str]
    ) -> RunAnalysis:
        with self._lock:
            held = self._analyses.get(run_key)
            if held is not None:
                self._analyses.move_to_end(run_key)
                return held
        analysis = analyze_stored_run(store, run_id, key=key)
        with self._lock:
            self.builds += 1
            if self.max_analyses:
                self._analyses[run_key] = analysis
                while len(self._analyses) > self.max_analyses:
                    self._analyses.popitem(last=False)
        return analysis

    def _touch(self, target: Path) -> None:
        with self._lock:
            self._files[target] = None
            self._files.move_to_end(target)
            while len(self._files) > self.max_files:
                old, _ = self._files.popitem(last=False)
                old.unlink(missing_ok=True)
