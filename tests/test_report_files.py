"""ReportFiles: a run's report files built once, reused until the run changes."""

from __future__ import annotations

import json
import threading
import zipfile

import pytest

from core.dashboard import reports as reports_module
from core.dashboard import synthetic_signal_log
from core.dashboard.reports import ReportFiles, report_bytes
from core.errors import ValidationError
from core.importer import import_signal_log
from core.store import Store


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-files")
    log = root / "log.csv"
    synthetic_signal_log(1_200, seed=4).to_csv(log, index=False)
    store = Store(root / "data")
    run = import_signal_log(log, store=store, name="report files").run_id
    yield store, run, store.get_run(run).n_events
    store.close()


def test_each_format_is_built_once_from_one_analysis(stored, tmp_path):
    store, run, n_events = stored
    files = ReportFiles(tmp_path / "cache")
    assert not files.ready(store, run, "html", n_events=n_events)
    html = files.read(store, run, "html", n_events=n_events)
    assert b"<html" in html.lower() and files.builds == 1
    assert files.ready(store, run, "html", n_events=n_events)
    assert files.read(store, run, "html", n_events=n_events) == html  # the same file
    payload = json.loads(files.read(store, run, "json", n_events=n_events))
    with zipfile.ZipFile(files.path(store, run, "csv", n_events=n_events)) as z:
        assert "threshold_sweep.csv" in z.namelist()
    assert files.builds == 1  # three formats, one analysis
    # The same content as the uncached path.
    assert set(payload) == set(json.loads(report_bytes(store, run, "json")))


def test_a_run_with_more_events_or_another_key_gets_new_files(stored, tmp_path):
    store, run, n_events = stored
    files = ReportFiles(tmp_path / "cache", max_analyses=0)
    first = files.path(store, run, "json", n_events=n_events)
    assert files.path(store, run, "json", n_events=n_events + 1) != first
    assert files.path(store, run, "json", key="confidence", n_events=n_events) != first
    assert files.builds == 3


def test_concurrent_requests_for_one_run_build_once(stored, tmp_path):
    store, run, n_events = stored
    files = ReportFiles(tmp_path / "cache")
    out: list[bytes] = []
    threads = [
        threading.Thread(
            target=lambda: out.append(files.read(store, run, "json", n_events=n_events))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 3 and len(set(out)) == 1
    assert files.builds == 1


def test_least_recently_used_files_are_removed(stored, tmp_path):
    store, run, n_events = stored
    files = ReportFiles(tmp_path / "cache", max_files=1)
    first = files.path(store, run, "json", n_events=n_events)
    second = files.path(store, run, "csv", n_events=n_events)
    assert second.is_file() and not first.exists()


def test_private_folder_by_default_and_errors(stored):
    store, run, n_events = stored
    files = ReportFiles()
    assert files.folder.is_dir() and "signal-lab-reports-" in files.folder.name
    with pytest.raises(ValidationError, match="report format must be one of"):
        files.path(store, run, "pdf", n_events=n_events)
    with pytest.raises(ValidationError, match="max_files"):
        ReportFiles(max_files=0)
    assert reports_module.REPORT_FILES["csv"][1] == "-tables.zip"
