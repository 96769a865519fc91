"""Fault injection: kill or interrupt ``signal-lab backtest``, ``import`` and ``jobs submit``.

Each test starts the real command in a subprocess, waits for a stage line on its
stderr, sends SIGKILL, SIGTERM or SIGINT, and then checks what a user relies on:
the store passes ``PRAGMA integrity_check``, no run stays ``running`` once the store
is opened again, no event of an unfinished run is visible, and the message printed
(and stored as the run's error) says exactly what was kept. Also: a foreign SQLite
file is refused and left byte for byte as it was, and the pool workers of a killed
``jobs submit --executor local`` die with it.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.importer import import_signal_log
from core.store import DB_FILENAME, Store

pytestmark = pytest.mark.faults

#: A synthetic market small enough to run in a few seconds, big enough to have stages.
BACKTEST = ["backtest", "--source", "synthetic", "--n-symbols", "50", "--n-days", "2000"]
TIMEOUT = 120.0


class Command:
    """A ``signal-lab`` subprocess whose stderr lines can be waited for."""

    def __init__(self, *argv: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "core.cli", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        for line in self.proc.stderr:
            self.err.append(line)
            self.lines.put(line)

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                if text in self.lines.get(timeout=0.5):
                    return
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    raise AssertionError(f"ended before {text!r}: {''.join(self.err)}") from None
        raise AssertionError(f"no {text!r} on stderr within {TIMEOUT} s")

    def finish(self, sig: int | None = None) -> tuple[int, str]:
        if sig is not None:
            self.proc.send_signal(sig)
        self.proc.stdout.read()
        code = self.proc.wait(timeout=TIMEOUT)
        self._pump_thread.join(timeout=10)
        return code, "".join(self.err)


def _integrity(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / DB_FILENAME) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _raw_counts(data_dir: Path) -> dict[str, int]:
    """Events per run as stored (bypassing the store's visibility rule)."""
    with sqlite3.connect(data_dir / DB_FILENAME) as conn:
        return dict(conn.execute("SELECT run_id, count(*) FROM events GROUP BY run_id"))


def _the_run(data_dir: Path):
    with Store(data_dir) as store:  # a writable open: fails runs whose process is gone
        runs = store.list_runs()
        assert [r.status for r in runs if r.status == "running"] == []
        assert len(runs) == 1
        run = runs[0]
        return run, store.count_events(run_id=run.id)


@pytest.mark.parametrize(
    ("sig", "after", "stage"),
    [
        (signal.SIGTERM, "analytics  done", "learning"),
        (signal.SIGINT, "data       done", "signals"),
        (signal.SIGINT, "analytics  done", "learning"),
    ],
)
def test_backtest_interrupted_says_what_was_kept(tmp_path, sig, after, stage):
    data = tmp_path / "data"
    cmd = Command(*BACKTEST, "--data-dir", str(data))
    cmd.wait_for(after)
    if stage == "signals":
        time.sleep(0.2)  # into the stage (the learning stage starts right after its line)
    code, err = cmd.finish(sig)
    assert "Traceback" not in err
    if code in (0, -sig):  # the command had finished (handlers restored) before the signal
        with Store(data) as store:
            assert [r.status for r in store.list_runs()] == ["completed"]
        pytest.skip("the backtest ended before the signal")
    assert code == 128 + int(sig)
    name = signal.Signals(sig).name
    with Store(data) as store:
        if not store.list_runs():  # stopped before the run was opened
            assert re.search(
                rf"interrupted by {name} during the \w+ stage; nothing was written", err
            )
            assert _raw_counts(data) == {}
            return
    run, visible = _the_run(data)
    assert run.status == "failed" and run.incomplete
    assert _integrity(data) == "ok"
    # The line is printed as the stage before ends; the signal may land just before the
    # named stage begins, and the message then names the one that was still running.
    before = {"signals": "data", "learning": "analytics"}[stage]
    assert re.match(rf"interrupted by {name} during the ({stage}|{before}) stage; ", run.error)
    assert run.error in err  # the CLI printed exactly what it stored
    kept = _raw_counts(data).get(run.id, 0)
    assert run.n_events == kept == visible
    if kept:
        assert f"{kept:,} events kept, the run is incomplete" in run.error
    else:
        assert "no events were written" in run.error


@pytest.mark.parametrize("wait_for", ["data       done", "analytics  done"])
def test_backtest_killed_is_failed_at_the_next_open_and_hidden_until_then(tmp_path, wait_for):
    data = tmp_path / "data"
    cmd = Command(*BACKTEST, "--data-dir", str(data))
    cmd.wait_for(wait_for)
    time.sleep(0.3)
    pid = cmd.proc.pid
    code, _ = cmd.finish(signal.SIGKILL)
    if code == 0:
        pytest.skip("the backtest ended before the signal")
    assert code == -signal.SIGKILL
    assert _integrity(data) == "ok"
    with Store(data, read_only=True) as reader:  # reads only: nothing is marked yet
        (run,) = reader.list_runs()
        if run.status == "running":
            assert reader.count_events(run_id=run.id) == 0
            assert reader.count_events() == 0
            assert reader.event_counts_by_type() == {}
    run, visible = _the_run(data)
    if run.status == "completed":  # killed after finish_run (writing its report): all kept
        assert run.n_events == visible == _raw_counts(data).get(run.id, 0) > 0
        return
    assert run.status == "failed"
    assert run.error == f"interrupted: the process that ran it stopped (pid {pid})"
    assert run.n_events == visible == _raw_counts(data).get(run.id, 0)


def _signal_log(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2000-01-03", periods=n, freq="h").strftime(
                "%Y-%m-%d %H:%M"
            ),
            "symbol": rng.choice(["AAPL", "MSFT", "IBM", "NA"], n),
            "confidence": rng.random(n).round(4),
            "return_pct": rng.normal(0, 2, n).round(4),
            "f1": rng.normal(size=n).round(3),
        }
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def big_log(tmp_path_factory) -> Path:
    return _signal_log(tmp_path_factory.mktemp("log") / "big.csv", 150_000)


@pytest.mark.parametrize(
    ("sig", "after"),
    [
        (signal.SIGTERM, "validating"),
        (signal.SIGINT, "writing"),
        (signal.SIGKILL, "writing"),
    ],
)
def test_import_interrupted_writes_nothing(tmp_path, big_log, sig, after):
    data = tmp_path / "data"
    Store(data).close()
    cmd = Command("import", str(big_log), "--data-dir", str(data))
    cmd.wait_for(after)
    code, err = cmd.finish(sig)
    assert "Traceback" not in err
    assert _integrity(data) == "ok"
    with Store(data) as store:
        runs = store.list_runs()
        assert all(r.status == "completed" for r in runs)
        if code == 0 or "imported in full" in err:  # committed before the signal arrived
            assert len(runs) == 1 and store.count_events() == runs[0].n_events
            return
        assert runs == [] and store.count_events() == 0 and _raw_counts(data) == {}
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 128 + int(sig)
        name = signal.Signals(sig).name
        assert f"interrupted by {name} while {after}; nothing was written" in err


def test_a_foreign_sqlite_file_is_refused_untouched(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    path = data / DB_FILENAME
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "runs", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a Signal Lab store" in lines[0]
    assert "left untouched" in lines[0]
    for argv in (["health"], ["events"], ["backup", str(tmp_path / "b.db")],
                 ["import", str(_signal_log(tmp_path / "x.csv", 3))]):  # fmt: skip
        assert main([*argv, "--data-dir", str(data)]) == 2
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in data.iterdir()) == [DB_FILENAME]


def _children(pid: int) -> set[int]:
    kids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.add(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_killed_jobs_submit_takes_its_pool_workers_with_it(tmp_path):
    data = tmp_path / "data"
    with Store(data) as store:
        import_signal_log(_signal_log(tmp_path / "log.csv", 60_000), store=store, signal="s")
    cmd = Command("jobs", "submit", "m", "--executor", "local", "--data-dir", str(data))
    cmd.wait_for("submitted; waiting")
    deadline = time.monotonic() + TIMEOUT
    kids: set[int] = set()
    while time.monotonic() < deadline and cmd.proc.poll() is None:
        kids = _children(cmd.proc.pid)
        if kids:
            break
        time.sleep(0.05)
    if cmd.proc.poll() is not None:
        pytest.skip("the job ended before its workers could be seen")
    time.sleep(0.5)  # let the pool start the worker (and the resource tracker)
    kids |= _children(cmd.proc.pid)
    cmd.finish(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.1)
    assert [k for k in kids if _alive(k)] == []
