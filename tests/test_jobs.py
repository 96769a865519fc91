"""Training jobs: states and events, executors, automatic triggers, restart recovery."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from core.cli import main
from core.errors import ConfigError, JobError
from core.events import EventType, LearningEvent
from core.learning import LearningEngine, LearningEngineConfig
from core.lifecycle.executors import ClusterExecutor, describe, make_executor
from core.lifecycle.jobs import TrainingConfig, TrainingJobs, train_calibrator
from core.store.jobs import LAST_EVENT_ID_SQL, JobTables
from tests.test_registry import record_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_id(store):
    return record_run(store, 1000)


@pytest.fixture
def lifecycle(store):
    """A learning engine on ``store`` whose training jobs run on a thread pool."""
    lc = LearningEngine(LearningEngineConfig(executor="thread"), store=store)
    yield lc
    lc.shutdown()


def _states(store, job_id):
    events = store.query_events(event_type=EventType.TRAINING_JOB_UPDATED)
    return [e.payload["state"] for e in events if e.payload["job_id"] == job_id]


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"methd": "platt"}, "did you mean 'method'"),
        ({"method": "isotonik"}, "did you mean 'isotonic'"),
        ({"mode": "online"}, "mode must be"),
        ({"n_windows": 1}, "n_windows must be"),
        ({"train_fraction": 1.5}, "train_fraction"),
        ({"options": {"n_bin": 5}, "method": "histogram"}, "did you mean 'n_bins'"),
        ({"window": "2020"}, "pair"),
    ],
)
def test_training_config_errors(config, match):
    with pytest.raises(Exception, match=match):
        TrainingConfig.from_dict(config)


def test_training_config_round_trips_as_plain_data():
    cfg = TrainingConfig.from_dict({"method": "beta", "window": ["2015-01-01", None]})
    data = cfg.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert TrainingConfig.from_dict(data) == cfg
    assert cfg.window == ("2015-01-01T00:00:00+00:00", None)


@pytest.mark.parametrize("mode", ["walk_forward", "holdout"])
def test_train_calibrator_reports_out_of_sample_metrics(store, run_id, mode):
    trades = store.trades_frame(run_id)
    result = train_calibrator(trades, TrainingConfig(method="platt", mode=mode))
    m = result.metrics
    assert m["mode"] == mode and 0 < m["n_oos"] < len(trades)
    assert m["oos_brier_gain"] == pytest.approx(m["raw_brier"] - m["oos_brier"])
    if mode == "holdout":
        assert m["n_train"] == int(len(trades) * 0.7)
        assert result.train_end == trades["entry_time"].iloc[m["n_train"] - 1]
    else:
        assert m["n_train"] == len(trades) and result.train_end == trades["entry_time"].iloc[-1]


# --------------------------------------------------------------------------- running


def test_job_runs_to_success_and_registers_a_development_version(lifecycle, store, run_id):
    job = lifecycle.submit_training_job(
        "cal",
        "calibrator",
        {"method": "isotonic", "run_id": run_id, "window": [None, "2016-06-01"]},
    )
    assert job.trigger == "manual"
    done = lifecycle.jobs.wait(job.id, timeout=30)
    assert done.state == "succeeded" and done.error is None and done.version == 1
    assert done.started is not None and done.finished >= done.started
    assert _states(store, job.id) == ["queued", "running", "succeeded"]
    version = lifecycle.registry.get("cal", 1)
    assert (version.stage, version.method, version.job_id) == ("development", "isotonic", job.id)
    assert version.train_end < pd.Timestamp("2016-06-01", tz="UTC")
    assert {"oos_brier", "oos_ece", "raw_brier", "n_oos"} <= set(version.metrics)
    assert version.params["config"]["run_id"] == run_id


def test_a_failing_job_records_the_error(lifecycle, store):
    job = lifecycle.submit_training_job("cal", "calibrator", {"run_id": "run-missing"})
    done = lifecycle.jobs.wait(job.id, timeout=30)
    assert done.state == "failed" and "run-missing" in done.error
    assert _states(store, job.id) == ["queued", "running", "failed"]
    [event] = [e for e in store.query_events(event_type=EventType.TRAINING_JOB_UPDATED)
               if e.payload["state"] == "failed"]  # fmt: skip
    assert "run-missing" in event.payload["error"]
    assert lifecycle.registry.versions("cal") == []


def test_submit_refuses_bad_input_before_queueing(lifecycle, store):
    with pytest.raises(ConfigError, match="produce calibrator"):
        lifecycle.submit_training_job("m", "signal", {})
    with pytest.raises(ConfigError, match="did you mean"):
        lifecycle.submit_training_job("m", "calibrator", {"metod": "platt"})
    assert lifecycle.jobs.list() == []


def test_wait_times_out_on_a_job_still_queued(store, run_id):
    gate = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    pool.submit(gate.wait)  # the only worker is busy
    jobs = TrainingJobs(store, executor=pool)
    try:
        job = jobs.submit("cal", "calibrator", {"run_id": run_id})
        with pytest.raises(JobError, match="still queued after 0.2 s"):
            jobs.wait(job.id, timeout=0.2)
        gate.set()
        assert jobs.wait(job.id, timeout=30).state == "succeeded"
    finally:
        gate.set()
        jobs.close()
        pool.shutdown()


def test_job_on_the_default_local_process_pool(store, run_id):
    with LearningEngine(store=store) as lc:  # executor=None: a spawned process pool
        job = lc.submit_training_job("cal", "calibrator", {"run_id": run_id, "method": "beta"})
        done = lc.jobs.wait(job.id, timeout=60)
        assert done.state == "succeeded", done.error
        assert done.worker.split(":")[1] != str(os.getpid())  # ran in another process
        assert lc.registry.get("cal", done.version).method == "beta"


def test_jobs_frame_and_unknown_job(lifecycle, run_id):
    job = lifecycle.submit_training_job("cal", "calibrator", {"run_id": run_id})
    lifecycle.jobs.wait(job.id, timeout=30)
    frame = lifecycle.jobs.frame()
    assert list(frame["id"]) == [job.id] and frame.loc[0, "state"] == "succeeded"
    with pytest.raises(JobError, match="no training job 'job-x'"):
        lifecycle.jobs.get("job-x")


# --------------------------------------------------------------------------- automatic trigger


def _outcome(run_id: str, i: int) -> LearningEvent:
    return LearningEvent.outcome(
        run_id=run_id, ts="2030-01-01", signal_id=f"x{i}", return_pct=1.0, win=True
    )


def test_auto_training_fires_once_per_batch_of_events(lifecycle, store, run_id):
    trigger = lifecycle.jobs.enable_auto_training("auto", {"run_id": run_id})
    assert trigger.every == 1000  # the default
    submitted = []
    for i in range(1500):  # the check runs after every single event
        store.insert_events([_outcome(run_id, i)])
        submitted += lifecycle.jobs.check_triggers()
    assert len(submitted) == 1 and submitted[0].trigger == "auto"
    assert lifecycle.jobs.pending_events("auto") == 500
    done = lifecycle.jobs.wait(submitted[0].id, timeout=30)
    assert done.state == "succeeded" and lifecycle.registry.get("auto").version == 1
    store.insert_events([_outcome(run_id, 2000 + i) for i in range(500)])
    assert len(lifecycle.jobs.check_triggers()) == 1  # the next thousand fires again
    assert lifecycle.jobs.check_triggers() == []


def test_a_manual_job_restarts_the_trigger_count(lifecycle, store, run_id):
    lifecycle.jobs.enable_auto_training("auto", {"run_id": run_id}, every=10)
    store.insert_events([_outcome(run_id, i) for i in range(8)])
    job = lifecycle.submit_training_job("auto", "calibrator", {"run_id": run_id})
    assert lifecycle.jobs.pending_events("auto") == 0
    store.insert_events([_outcome(run_id, 100 + i) for i in range(5)])
    assert lifecycle.jobs.check_triggers() == []
    lifecycle.jobs.wait(job.id, timeout=30)


def test_concurrent_trigger_checks_claim_the_events_once(lifecycle, store, run_id):
    lifecycle.jobs.enable_auto_training("auto", {"run_id": run_id}, every=50)
    store.insert_events([_outcome(run_id, i) for i in range(60)])
    barrier = threading.Barrier(6)
    found: list = []

    def check():
        barrier.wait()
        found.extend(lifecycle.jobs.check_triggers())

    threads = [threading.Thread(target=check) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 1
    lifecycle.jobs.wait(found[0].id, timeout=30)


def test_the_trigger_watermark_is_the_newest_event_id_read_from_one_row(lifecycle, store, run_id):
    plan = " ".join(
        str(r[-1]) for r in store.conn.execute(f"EXPLAIN QUERY PLAN SELECT {LAST_EVENT_ID_SQL}")
    )
    assert "trades" not in plan and "event_log" not in plan  # not a scan of the events view
    trigger = lifecycle.jobs.enable_auto_training("auto", {"run_id": run_id}, every=3)
    newest = store.conn.execute("SELECT max(id) FROM events").fetchone()[0]
    assert trigger.last_event_id == newest
    # A bulk write whose last signal is open reserves an outcome id nobody uses: the
    # watermark lies above every stored event, and the count from it is unchanged.
    other = store.create_run(kind="import", signal="other")
    signals = pd.DataFrame({"signal_id": ["a", "b"], "ts": pd.to_datetime(["2030-01-01"] * 2, utc=True),
                            "symbol": "X", "side": 1, "confidence": 0.7})  # fmt: skip
    outcomes = pd.DataFrame({"signal_id": ["a"], "ts": pd.to_datetime(["2030-01-02"], utc=True),
                             "return_pct": 1.0})  # fmt: skip
    store.insert_trade_frames(other, signals, outcomes)
    store.finish_run(other, status="completed")
    assert lifecycle.jobs.pending_events("auto") == 1  # outcomes are counted
    newest = store.conn.execute("SELECT max(id) FROM events").fetchone()[0]
    job = lifecycle.submit_training_job("auto", "calibrator", {"run_id": run_id})
    assert lifecycle.jobs.sql.get_trigger("auto").last_event_id == newest + 1  # b's outcome id
    assert lifecycle.jobs.pending_events("auto") == 0
    store.insert_events([_outcome(run_id, i) for i in range(2)])
    assert lifecycle.jobs.pending_events("auto") == 2
    lifecycle.jobs.wait(job.id, timeout=30)


def test_disabled_trigger_does_not_fire(lifecycle, store, run_id):
    lifecycle.jobs.enable_auto_training("auto", {"run_id": run_id}, every=5)
    lifecycle.jobs.disable_auto_training("auto")
    store.insert_events([_outcome(run_id, i) for i in range(10)])
    assert lifecycle.jobs.check_triggers() == []


# --------------------------------------------------------------------------- restart


_ORPHAN = """
import os, socket, sys
from core.store import Store
from core.store.jobs import LAST_EVENT_ID_SQL, JobTables
with Store(sys.argv[1]) as store:
    sql = JobTables(store)
    sql.create_job(job_id="job-orphan", model_name="cal", model_type="calibrator", config={},
                   trigger="manual", owner_pid=os.getpid(), owner_host=socket.gethostname())
    sql.set_job_state("job-orphan", "running", from_states=("queued",), worker="w")
"""


def test_restart_fails_a_job_left_running_by_a_stopped_process(data_dir, store):
    subprocess.run(
        [sys.executable, "-c", _ORPHAN, str(data_dir)], cwd=ROOT, check=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert JobTables(store).get_job("job-orphan").state == "running"
    # A live job of this process must survive the recovery.
    JobTables(store).create_job(
        job_id="job-live", model_name="cal", model_type="calibrator", config={},
        trigger="manual", owner_pid=os.getpid(), owner_host=socket.gethostname(),
    )  # fmt: skip
    with LearningEngine(LearningEngineConfig(data_dir=data_dir, executor="thread")) as lc:
        orphan = lc.jobs.get("job-orphan")
        assert orphan.state == "failed"
        assert "stopped before it finished" in orphan.error and "pid" in orphan.error
        assert lc.jobs.recovered == ["job-orphan"]
        assert lc.jobs.get("job-live").state == "queued"
    assert _states(store, "job-orphan") == ["queued", "running", "failed"]


# --------------------------------------------------------------------------- executors


@pytest.mark.parametrize(
    ("spec", "label"),
    [("thread", "thread pool"), ("local", "process pool (2 workers)"), (None, "process pool")],
)
def test_make_executor_specs(spec, label):
    ex = make_executor(spec, max_workers=2)
    try:
        assert describe(ex).startswith(label)
    finally:
        ex.shutdown()


def test_make_executor_passes_an_executor_through_and_refuses_unknown_specs():
    pool = ThreadPoolExecutor(1)
    assert make_executor(pool) is pool
    pool.shutdown()
    with pytest.raises(ConfigError, match="unknown executor 'ray'"):
        make_executor("ray")
    with pytest.raises(ConfigError, match="lacks HOST:PORT"):
        make_executor("dask://")
    with pytest.raises(ConfigError, match="max_workers"):
        make_executor("thread", max_workers=0)
    assert issubclass(ClusterExecutor, Executor)


# --------------------------------------------------------------------------- CLI


def test_jobs_cli(data_dir, store, run_id, capsys):
    d = ["--data-dir", str(data_dir)]
    assert (
        main(["jobs", "submit", "cal", "--run", run_id, "--method", "histogram", "--json", *d]) == 0
    )
    job = json.loads(capsys.readouterr().out)
    assert job["state"] == "succeeded" and job["version"] == 1
    assert main(["jobs", "show", job["id"], *d]) == 0
    assert "registered: v1" in capsys.readouterr().out
    assert main(["jobs", "list", "--json", *d]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == job["id"]
    assert main(["jobs", "submit", "cal", "--run", "nope", *d]) == 1
    assert "nope" in capsys.readouterr().out
