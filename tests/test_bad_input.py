"""Bad input to ``signal-lab import``: one table, one row per case.

Every case runs the real command (in-process) against one shared store and checks
the exit status, that the message names the row or field and the fix, that no
traceback is printed, that file content that is not a signal log's header is never
echoed, and that a refused file writes nothing (runs and events counted before and
after). A few rows are inputs that must be *accepted* (BOM, CRLF, quoted newlines,
tickers called NA, a semicolon delimiter, --time-unit, --encoding).
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.importer import MAX_COLUMNS, MAX_FEATURES
from core.store import Store

H = "timestamp,symbol,confidence,return_pct\n"
OK = "2020-01-02,AAPL,0.7,1.5\n"


def text(body: str, name: str = "log.csv", encoding: str = "utf-8") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(body.encode(encoding))
        return path

    return make


def raw(data: bytes, name: str = "log.csv") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def parquet(frame: pd.DataFrame, name: str = "log.parquet") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        frame.to_parquet(path)
        return path

    return make


def gz(body: str) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as handle:
        handle.write(body.encode())
    return buffer.getvalue()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def folder(folder: Path) -> Path:
    path = folder / "adir.csv"
    path.mkdir()
    return path


def missing(folder: Path) -> Path:
    return folder / "nope.csv"


def passwd_link(folder: Path) -> Path:
    target = folder / "passwd"
    target.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/nologin\n")
    link = folder / "log.csv"
    link.symlink_to(target)
    return link


def broken_link(folder: Path) -> Path:
    link = folder / "log.csv"
    link.symlink_to(folder / "gone.csv")
    return link


def unreadable(folder: Path) -> Path:
    path = text(H + OK)(folder)
    path.chmod(0)
    return path


def wide(n: int) -> str:
    return H.rstrip("\n") + "".join(f",f{i}" for i in range(n)) + "\n" + OK.rstrip("\n") + ",1" * n


def features(n: int) -> str:
    return wide(n)


GOOD_FRAME = pd.DataFrame(
    {"timestamp": ["2020-01-02"], "symbol": ["AAPL"], "confidence": [0.7], "return_pct": [1.5]}
)

# (id, make file, extra args, exit code, phrases the message must hold, phrases it must not)
CASES: list[tuple[str, Callable[[Path], Path], list[str], int, list[str], list[str]]] = [
    ("empty file", text(""), [], 2, ["is empty", "header line"], []),
    ("blank lines only", text("\n\n  \n"), [], 2, ["is empty"], []),
    ("header only", text(H), [], 2, ["has a header but no rows"], []),
    ("duplicate column", text("timestamp,symbol,Symbol,confidence,return_pct\n" + OK), [], 2,
     ["appears more than once", "columns 2 and 3"], []),
    ("duplicate signal_id", text("signal_id," + H + "s1," + OK + "s1," + OK), [], 2,
     ["row 3: signal_id 's1' repeats an earlier row", "--skip-bad-rows"], []),
    ("confidence 1.5", text(H + "2020-01-02,AAPL,1.5,1\n"), [], 2,
     ["row 2: confidence 1.5 is outside [0, 1]"], []),
    ("confidence -0.1", text(H + "2020-01-02,AAPL,-0.1,1\n"), [], 2,
     ["row 2: confidence -0.1 is outside [0, 1]"], []),
    ("confidence NaN", text(H + "2020-01-02,AAPL,NaN,1\n"), [], 2,
     ["row 2: confidence NaN is not a number"], []),
    ("confidence high", text(H + "2020-01-02,AAPL,high,1\n"), [], 2,
     ["row 2: confidence 'high' is not a number"], []),
    ("confidence empty", text(H + "2020-01-02,AAPL,,1\n"), [], 2,
     ["row 2: confidence (empty) is not a number"], []),
    ("side up", text("side," + H + "up," + OK), [], 2,
     ["row 2: side 'up' is not a side", "long/short"], []),
    ("holding_days -1", text("holding_days," + H + "-1," + OK), [], 2,
     ["row 2: holding_days -1"], []),
    ("holding beyond 2262", text("holding_days," + H + "30,2262-04-01,AAPL,0.5,1\n"), [], 2,
     ["row 2:", "falls after 2262-04-10"], []),
    ("exit before entry", text("exit_time," + H + "2020-01-01," + OK), [], 2,
     ["row 2: exit_time is before the timestamp"], []),
    ("year 9999", text(H + "9999-12-31,AAPL,0.5,1\n"), [], 2,
     ["row 2: timestamp '9999-12-31' is outside the supported range 1677-09-22 .. 2262-04-10"], []),
    ("year 1600", text(H + "1600-01-01,AAPL,0.5,1\n"), [], 2,
     ["row 2: timestamp '1600-01-01' is outside the supported range"], []),
    ("epoch seconds", text(H + "1577836800,AAPL,0.5,1\n"), [], 2,
     ["row 2: timestamp 1577836800 is a number", "--time-unit s|ms|us|ns", "--time-unit s)"], []),
    ("epoch ms out of range", text(H + "1577836800000000,AAPL,0.5,1\n"), ["--time-unit", "ms"], 2,
     ["row 2: timestamp 1577836800000000 ms since 1970 is outside the supported range"], []),
    ("not a date", text(H + "yesterday,AAPL,0.5,1\n"), [], 2,
     ["row 2: timestamp 'yesterday' is not a date/time", "ISO 8601"], []),
    ("empty timestamp", text(H + ",AAPL,0.5,1\n"), [], 2, ["row 2: timestamp is empty"], []),
    ("empty symbol", text(H + "2020-01-02, ,0.5,1\n"), [], 2,
     ["row 2: symbol is empty", "only an empty cell is missing"], []),
    ("return n/a", text(H + "2020-01-02,AAPL,0.5,n/a\n"), [], 2,
     ["row 2: return_pct 'n/a' is not a number"], ["(empty)"]),
    ("return 1e308", text(H + "2020-01-02,AAPL,0.5,1e308\n"), [], 2,
     ["row 2: return_pct 1e+308 is beyond ±10,000 %", "units"], []),
    ("return -20000", text(H + "2020-01-02,AAPL,0.5,-20000\n"), [], 2,
     ["row 2: return_pct -20000 is beyond ±10,000 %"], []),
    ("return inf", text(H + "2020-01-02,AAPL,0.5,inf\n"), [], 2,
     ["row 2: return_pct inf is not a finite number"], []),
    ("price zero", text("timestamp,symbol,confidence,entry_price,exit_price\n2020-01-02,AAPL,0.5,0,10\n"),
     [], 2, ["row 2: prices must be positive numbers"], []),
    ("missing column", text("timestamp,symbol,return_pct\n2020-01-02,AAPL,1\n"), [], 2,
     ["missing required column(s): confidence", "Columns found: timestamp, symbol, return_pct"], []),
    ("not a signal log", text("name,age\nada,36\n"), [], 2,
     ["not a signal log", "names none of the columns"], ["ada"]),
    ("symlink to a passwd file", passwd_link, [], 2, ["not a signal log"], ["root", "daemon", "/bin/bash"]),
    ("broken link", broken_link, [], 2, ["is a broken link"], []),
    ("latin-1 file", text(H + "2020-01-02,SOCIÉTÉ,0.5,1\n", encoding="latin-1"), [], 2,
     ["is not UTF-8 text", "save the file as UTF-8 (or pass --encoding"], ["SOCI"]),
    ("utf-16 file", text(H + OK, encoding="utf-16"), [], 2,
     ["UTF-16", "--encoding utf-16"], []),
    ("unknown encoding", text(H + OK), ["--encoding", "klingon"], 2, ["unknown encoding 'klingon'"], []),
    ("binary file", raw(bytes(range(256)) * 8), [], 2, ["binary file", "export your signal log as CSV"], []),
    ("gzip named .csv", raw(gz(H + OK)), [], 2, ["gzip-compressed", "gunzip"], []),
    ("parquet named .csv", raw(parquet_bytes(GOOD_FRAME)), [], 2, ["Parquet file", ".parquet suffix"], []),
    ("zip named .csv", raw(b"PK\x03\x04" + b"\x00" * 60), [], 2, ["zip archive", "export the sheet as CSV"], []),
    ("text named .parquet", text(H + OK, name="log.parquet"), [], 2,
     ["not a readable Parquet file"], ["AAPL"]),
    ("parquet wrong types", parquet(GOOD_FRAME.assign(confidence=["high"])), [], 2,
     ["row 2: confidence 'high' is not a number"], []),
    ("parquet integer times", parquet(GOOD_FRAME.assign(timestamp=[1577836800])), [], 2,
     ["is a number", "--time-unit"], []),
    ("folder as file", folder, [], 2, ["is a folder, not a file"], []),
    ("missing file", missing, [], 2, ["no such file"], []),
    ("device", lambda folder: Path("/dev/null"), [], 2, ["not a regular file"], []),
    ("permission denied", unreadable, [], 2, ["permission denied", "chmod"], []),
    ("unsupported suffix", text(H + OK, name="log.xlsx"), [], 2, ["unsupported file type '.xlsx'"], []),
    ("very long field", text(H + "2020-01-02," + "A" * 5000 + ",0.5,1\n"), [], 2,
     ["row 2: symbol is 5,000 characters long, over the limit of 1,000"], ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]),
    ("too many columns", text(wide(MAX_COLUMNS)), [], 2, [f"at most {MAX_COLUMNS}", "columns"], []),
    ("a million columns", text(",".join(f"c{i}" for i in range(1_000_000)) + "\n"), [], 2,
     ["first line is longer than 64 KiB"], ["c1,c2"]),
    ("too many features", text(features(MAX_FEATURES + 1)), [], 2,
     [f"{MAX_FEATURES + 1} numeric extra columns", f"at most {MAX_FEATURES}"], []),
    ("extra fields in a row", text(H + OK + "2020-01-03,MSFT,0.5,1,9,9\n"), [], 2,
     ["has more fields than the header", "quote fields"], []),
    ("infinite feature", text("f1," + H + "inf," + OK), [], 2, ["row 2: feature f1 is infinite"], []),
    # accepted
    ("tickers NA NULL N/A", text(H + "2020-01-02,NA,0.5,1\n2020-01-03,NULL,0.5,1\n2020-01-06,N/A,0.5,1\n"),
     [], 0, ["imported: 3"], []),
    ("BOM", raw(b"\xef\xbb\xbf" + (H + OK).encode()), [], 0, ["imported: 1"], []),
    ("CRLF", text((H + OK + "2020-01-03,MSFT,0.4,-1\n").replace("\n", "\r\n")), [], 0, ["imported: 2"], []),
    ("quoted newline", text("note," + H + '"two\nlines",' + OK), [], 0,
     ["imported: 1", "non-numeric columns ignored: note"], []),
    ("semicolon delimiter", text((H + OK).replace(",", ";")), [], 0, ["imported: 1"], []),
    ("latin-1 with --encoding", text(H + "2020-01-02,SOCIÉTÉ,0.5,1\n", encoding="latin-1"),
     ["--encoding", "latin-1"], 0, ["imported: 1"], []),
    ("epoch seconds with --time-unit", text(H + "1577836800,AAPL,0.5,1\n"), ["--time-unit", "s"], 0,
     ["imported: 1"], []),
    ("skip an out-of-range row", text(H + OK + "9999-12-31,AAPL,0.5,1\n"), ["--skip-bad-rows"], 0,
     ["imported: 1", "skipped: 1", "row 3: timestamp '9999-12-31' is outside"], []),
]  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """One store shared by every case, holding one good import already."""
    data = tmp_path_factory.mktemp("store")
    seed = text(H + OK)(tmp_path_factory.mktemp("seed"))
    assert main(["import", str(seed), "--data-dir", str(data)]) == 0
    return data


def _counts(data: Path) -> tuple[int, int]:
    with Store(data, read_only=True) as store:
        return len(store.list_runs()), store.count_events()


@pytest.mark.parametrize(
    ("make", "args", "code", "says", "never"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input(tmp_path, capsys, monkeypatch, data_dir, make, args, code, says, never):
    path = make(tmp_path)
    if make is unreadable and os.geteuid() == 0:  # root reads anything: act as if denied
        real = os.access
        monkeypatch.setattr(
            "core.importer.os.access",
            lambda p, mode: False if Path(p) == path else real(p, mode),
        )
    runs, events = _counts(data_dir)
    status = main(["import", str(path), "--data-dir", str(data_dir), *args])
    out, err = capsys.readouterr()
    assert status == code, err
    assert "Traceback" not in err and "Traceback" not in out
    if code:
        assert "error: " in err, err
        message = err[err.index("error: ") :]  # after the progress lines
    else:
        message = out
    for phrase in says:
        assert phrase in message, message
    for phrase in never:
        assert phrase not in err + out
    after = _counts(data_dir)
    if code:
        assert path.name in message
        assert after == (runs, events), "a refused file must write nothing"
    else:
        assert after[0] == runs + 1 and after[1] > events


def test_the_table_is_long_enough():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def test_na_tickers_are_kept_as_text(tmp_path):
    path = text(H + "2020-01-02,NA,0.5,1\n2020-01-03,N/A,0.5,1\n")(tmp_path)
    with Store(tmp_path / "d") as store:
        assert main(["import", str(path), "--data-dir", str(tmp_path / "d")]) == 0
    with Store(tmp_path / "d") as store:
        (run,) = store.list_runs()
        assert sorted(store.trades_frame(run.id)["symbol"]) == ["N/A", "NA"]


def test_epoch_units_read_the_same_instant(tmp_path):
    instants = []
    for unit, value in (
        ("s", "1577836800"),
        ("ms", "1577836800000"),
        ("ns", "1577836800000000000"),
    ):
        path = text(H + f"{value},AAPL,0.5,1\n", name=f"{unit}.csv")(tmp_path)
        data = tmp_path / unit
        assert main(["import", str(path), "--data-dir", str(data), "--time-unit", unit]) == 0
        with Store(data) as store:
            (run,) = store.list_runs()
            instants.append(store.trades_frame(run.id)["entry_time"].iloc[0])
    assert instants == [pd.Timestamp("2020-01-01", tz="UTC")] * 3


def test_skip_bad_rows_imports_the_good_rows_of_a_mixed_file(tmp_path):
    rng = np.random.default_rng(1)
    good = [f"2020-01-{d:02d},AAPL,{rng.random():.3f},1.0" for d in range(2, 12)]
    bad = ["1600-01-01,AAPL,0.5,1", "2020-01-13,,0.5,1", "2020-01-14,MSFT,2,1"]
    path = text(H + "\n".join(good + bad) + "\n")(tmp_path)
    data = tmp_path / "d"
    assert main(["import", str(path), "--data-dir", str(data), "--skip-bad-rows"]) == 0
    with Store(data) as store:
        (run,) = store.list_runs()
        assert run.n_signals == 10
