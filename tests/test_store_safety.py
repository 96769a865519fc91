"""The store is hard to break: identity, lock-free opens, read-only, newer, damaged, owners.

What each test pins down:
- a store is marked with ``PRAGMA application_id``; a foreign SQLite file is never
  migrated (its bytes stay the same); a store of the previous version opens and is marked;
- an open takes no write lock when the schema is current (it succeeds while another
  connection holds the lock); a read-only store opens for reading and says how to write;
- a newer store asks for an upgrade, a damaged one names the fix, in one line, exit 2;
- runs record their owner; a run whose process is gone (or whose pid was reused) is
  failed at the next writable open; its events are hidden until it is finished;
- ``backup`` copies a consistent store and refuses to overwrite.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.cli import main
from core.errors import Interrupted, OutputError, StoreError
from core.events import LearningEvent
from core.learning import LearningEngine, LearningEngineConfig
from core.store import DB_FILENAME, Store
from core.store.db import owner_alive, process_start
from core.store.schema import APPLICATION_ID, SCHEMA_VERSION

LOG = "timestamp,symbol,confidence,return_pct\n2020-01-02,AAPL,0.7,1.5\n2020-01-03,MSFT,0.4,-0.5\n"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _store_with_run(data: Path) -> str:
    log = data.parent / "log.csv"
    log.write_text(LOG)
    assert main(["import", str(log), "--data-dir", str(data)]) == 0
    with Store(data) as store:
        return store.list_runs()[0].id


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_new_store_is_marked_and_current(tmp_path):
    with Store(tmp_path) as store:
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert store.schema_version() == SCHEMA_VERSION and not store.read_only


@pytest.mark.parametrize(
    "setup",
    [
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'a')",
        "PRAGMA application_id = 42; CREATE TABLE runs (id TEXT); CREATE TABLE events (id INT)",
        "CREATE TABLE runs (id TEXT); CREATE TABLE events (id INTEGER)",  # no migrations record
    ],
    ids=["users table", "other application_id", "look-alike without migrations"],
)
def test_a_foreign_sqlite_file_is_never_migrated(tmp_path, setup):
    path = tmp_path / DB_FILENAME
    with sqlite3.connect(path) as conn:
        conn.executescript(setup)
    conn.close()
    before = _sha(path)
    with pytest.raises(StoreError, match="is not a Signal Lab store.*left untouched"):
        Store(tmp_path)
    assert _sha(path) == before


def test_a_file_that_is_no_database_is_refused_untouched(tmp_path, capsys):
    path = tmp_path / DB_FILENAME
    path.write_bytes(b"hello, not sqlite at all" * 100)
    before = _sha(path)
    assert main(["runs", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a Signal Lab store" in err[0] and "move" not in err[0]
    assert _sha(path) == before


def test_a_store_of_the_previous_version_opens_and_is_marked(tmp_path):
    with Store(tmp_path) as store:
        run_id = store.create_run(kind="import", signal="old")
        store.finish_run(run_id, status="completed")
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:  # as the previous version left it
        conn.execute("PRAGMA application_id = 0")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_run_owners'")
        conn.execute("DROP INDEX ix_runs_status")
        for column in ("owner_pid", "owner_start", "owner_host"):
            conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    conn.close()
    with Store(tmp_path) as store:
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert store.schema_version() == SCHEMA_VERSION
        assert store.get_run(run_id).status == "completed"


def test_a_newer_store_asks_for_an_upgrade(tmp_path, capsys):
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
            "VALUES ('signal_lab', 'm999_future', '2030-01-01')"
        )
    conn.close()
    before = _sha(tmp_path / DB_FILENAME)
    assert main(["runs", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"newer Signal Lab (schema {SCHEMA_VERSION + 1} > {SCHEMA_VERSION}); upgrade" in err
    assert "reopen" not in err and "\n" not in err
    assert _sha(tmp_path / DB_FILENAME) == before


def test_opening_a_current_store_takes_no_write_lock(tmp_path):
    Store(tmp_path).close()
    writer = sqlite3.connect(tmp_path / DB_FILENAME, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a long import holds the write lock
    writer.execute("INSERT INTO runs (id, kind, status, created) VALUES ('x', 'import', "
                   "'completed', '2020')")  # fmt: skip
    try:
        with Store(tmp_path, timeout=0.2) as reader:  # would raise "stayed locked" if it waited
            assert reader.list_runs() == []
            assert reader.count_events() == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_read_only_store_reads_and_explains_writes(tmp_path, capsys):
    data = tmp_path / "data"
    _store_with_run(data)
    with Store(data, read_only=True) as store:
        assert store.read_only and len(store.list_runs()) == 1
        with pytest.raises(StoreError, match="read-only: copy it somewhere writable") as info:
            store.create_run(kind="import", signal="s")
        assert "move" not in str(info.value)


@pytest.mark.skipif(sys.platform != "linux", reason="drops root's capabilities with setpriv")
def test_read_only_folder_from_the_cli():
    """As a user who may not write the folder: reads work, an import says how to fix it."""
    tmp_path = Path(tempfile.mkdtemp(prefix="signal-lab-ro-"))  # pytest's tmp is private
    data = tmp_path / "data"
    _store_with_run(data)
    tmp_path.chmod(0o755)
    for path in (data, *data.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    data.chmod(0o555)
    # root ignores file modes: run the command as root without the capabilities that
    # override them (the same user, so it still reads this checkout and its venv, even
    # from a fresh clone in a private folder that another user could not enter).
    as_other = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if (
        os.geteuid() == 0
    ) else []  # fmt: skip
    repo = Path(__file__).resolve().parents[1]

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*as_other, sys.executable, "-m", "core.cli", *argv, "--data-dir", str(data)],
            capture_output=True, text=True, cwd=repo, timeout=120,
        )  # fmt: skip

    probe = run("runs")
    assert probe.returncode == 0, probe.stderr
    assert "completed" in probe.stdout
    assert run("events").returncode == 0
    health = run("health")
    assert "read-only" in health.stdout and "Traceback" not in health.stderr
    log = tmp_path / "log.csv"
    log.write_text(LOG)
    log.chmod(0o644)
    imported = run("import", str(log))
    assert imported.returncode == 2
    assert "read-only: copy it somewhere writable" in imported.stderr
    assert "move" not in imported.stderr and "Traceback" not in imported.stderr
    data.chmod(0o755)
    shutil.rmtree(tmp_path)


def _damage(path: Path) -> None:
    """Overwrite the middle pages of the file (not page 1, the header and schema)."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(4096 * 2)
        handle.write(b"\xde\xad\xbe\xef" * ((size - 4096 * 2) // 4))


def test_a_damaged_store_is_reported_with_the_fix(tmp_path, capsys):
    data = tmp_path / "data"
    log = tmp_path / "big.csv"
    rows = [f"2020-01-{1 + i % 28:02d},S{i},0.5,1.0" for i in range(3000)]
    log.write_text("timestamp,symbol,confidence,return_pct\n" + "\n".join(rows) + "\n")
    assert main(["import", str(log), "--data-dir", str(data)]) == 0
    _damage(data / DB_FILENAME)
    capsys.readouterr()
    code = main(["health", "--data-dir", str(data)])
    out, err = capsys.readouterr()
    assert code in (1, 2) and "Traceback" not in err
    assert ("DAMAGED" in out and "restore it from a backup" in out) or (
        "damaged" in err and "restore it from a backup" in err
    )
    for argv in (["events"], ["runs"], ["backtest", "--source", "synthetic", "--n-symbols", "3",
                                        "--n-days", "300", "--quiet"]):  # fmt: skip
        code = main([*argv, "--data-dir", str(data)])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert "Traceback" not in err
        last = err.splitlines()[-1]
        assert last.startswith("error: ") and ("damaged" in last or "not a Signal Lab" in last)


def test_a_dropped_table_is_named(tmp_path, capsys):
    data = tmp_path / "data"
    _store_with_run(data)
    with sqlite3.connect(data / DB_FILENAME) as conn:
        conn.execute("DROP TABLE trade_snapshots")
    conn.close()
    capsys.readouterr()
    assert main(["events", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "trade_snapshots are missing" in err and "backup" in err


def test_backup_copies_a_consistent_store_and_refuses_to_overwrite(tmp_path, capsys):
    data = tmp_path / "data"
    run_id = _store_with_run(data)
    copies = tmp_path / "copies"
    copies.mkdir()
    assert main(["backup", str(copies), "--data-dir", str(data)]) == 0
    with Store(copies, read_only=True) as copy:  # a complete store, ours, current
        assert copy.get_run(run_id).n_events == 4 and copy.quick_check() == []
    capsys.readouterr()
    assert main(["backup", str(copies), "--data-dir", str(data)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["backup", str(copies), "--data-dir", str(data), "--force"]) == 0
    with Store(data) as store, pytest.raises(OutputError, match="the store itself"):
        store.backup(data / DB_FILENAME, overwrite=True)


def test_owner_checks_pid_and_start_time():
    me = process_start(os.getpid())
    assert me is not None and owner_alive(os.getpid(), me)
    assert not owner_alive(_dead_pid(), 1)
    assert not owner_alive(os.getppid(), 1)  # same pid, another start: reused
    assert not owner_alive(None, None)


def _running_run_of(store: Store, pid: int | None, start: int | None, host: str | None) -> str:
    run_id = store.create_run(kind="backtest", signal="s")
    store.insert_events([LearningEvent.signal(run_id=run_id, ts="2020-01-02", signal_id="1",
                                              symbol="AAPL", side=1, confidence=0.7)])  # fmt: skip
    with store.write() as conn:
        conn.execute(
            "UPDATE runs SET owner_pid = ?, owner_start = ?, owner_host = ? WHERE id = ?",
            (pid, start, host, run_id),
        )
    return run_id


def test_runs_of_stopped_processes_fail_at_the_next_open_and_stay_hidden_until(tmp_path):
    import socket

    host = socket.gethostname()
    with Store(tmp_path) as writer:
        dead = _dead_pid()
        gone = _running_run_of(writer, dead, 1, host)
        reused = _running_run_of(writer, os.getppid(), 1, host)
        elsewhere = _running_run_of(writer, dead, 1, "another-host")
        legacy = _running_run_of(writer, None, None, None)
        assert writer.count_events(run_id=gone) == 1  # the writer sees its own runs
    with Store(tmp_path, read_only=True) as reader:  # a reader marks nothing
        assert reader.get_run(gone).status == "running"
        assert reader.count_events() == 0 and reader.query_events() == []
        assert reader.events_frame().empty and reader.event_counts_by_type() == {}
        with pytest.raises(StoreError, match="still running"):
            reader.trades_frame(gone)
    with Store(tmp_path) as store:
        assert set(store.interrupted_runs) == {gone, reused, legacy}
        info = store.get_run(gone)
        assert info.status == "failed" and info.incomplete and info.n_events == 1
        assert info.error == f"interrupted: the process that ran it stopped (pid {dead})"
        assert "pid not recorded" in store.get_run(legacy).error
        assert store.get_run(elsewhere).status == "running"  # cannot tell on another host
        assert store.count_events(run_id=gone) == 1
        assert store.count_events(run_id=elsewhere) == 0


def test_ctrl_c_in_a_run_records_what_was_kept(tmp_path):
    engine = LearningEngine(LearningEngineConfig(data_dir=tmp_path))
    exc = Interrupted("SIGTERM", stage="learning")
    with pytest.raises(Interrupted) as info, engine.run(kind="backtest", signal="s") as run_id:
        for i in range(3):
            engine.record_event(LearningEvent.signal(run_id=run_id, ts="2020-01-02",
                                signal_id=str(i), symbol="AAPL", side=1, confidence=0.7))  # fmt: skip
        raise exc
    engine.shutdown()
    expected = (
        "interrupted by SIGTERM during the learning stage; 3 events kept, the run is incomplete"
    )
    assert info.value.outcome == expected and info.value.exit_code == 143
    with Store(tmp_path) as store:
        run = store.get_run(run_id)
        assert run.status == "failed" and run.error == expected and run.n_events == 3
    engine = LearningEngine(LearningEngineConfig(data_dir=tmp_path))
    with pytest.raises(KeyboardInterrupt), engine.run(kind="backtest", signal="s") as second:
        raise KeyboardInterrupt
    engine.shutdown()
    with Store(tmp_path) as store:
        assert store.get_run(second).error == (
            "interrupted by SIGINT; no events were written, the run is incomplete"
        )


def test_run_info_says_incomplete(tmp_path):
    with Store(tmp_path) as store:
        done = store.create_run(kind="import", signal="s")
        store.finish_run(done, status="completed")
        failed = store.create_run(kind="import", signal="s")
        store.finish_run(failed, status="failed", error="boom")
        assert not store.get_run(done).incomplete and store.get_run(failed).incomplete
        assert store.get_run(failed).to_dict()["incomplete"] is True


def test_health_runs_the_quick_check(tmp_path):
    with LearningEngine(LearningEngineConfig(data_dir=tmp_path)) as engine:
        report = engine.health_check()
    assert report.status == "healthy" and report.checks["integrity"] == "ok"
