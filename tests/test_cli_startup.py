"""The ``signal-lab`` start-up stays light: the parser and an import load no analytics.

Building the parser (``--help``, argument errors, every command before its handler
runs) and a whole ``signal-lab import`` must not import scikit-learn, SciPy, plotly,
jinja2 or Streamlit, nor the learning engine, the analytics, the lifecycle services,
the reports or the backtest: those cost seconds of start-up and an import needs none
of them. Each check runs in a fresh interpreter and looks at the modules it loaded
(never at a time). The choices the parser keeps in :mod:`core.cli.choices` must equal
the engine's constants.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Top-level packages the parser and an import must not load.
HEAVY_PACKAGES = ("sklearn", "scipy", "plotly", "jinja2", "streamlit")
#: Project modules (and their submodules) the parser and an import must not load.
HEAVY_CORE = (
    "core.learning",
    "core.analytics",
    "core.lifecycle",
    "core.reports",
    "core.decisions",
    "core.backtest",
    "core.engines",
    "core.signals",
    "core.figures",
    "core.data",
    "core.grid",
    "core.dashboard",
)

LOG = "timestamp,symbol,confidence,return_pct\n2020-01-02,AAPL,0.7,1.5\n2020-01-03,MSFT,0.4,-0.5\n"


def heavy(modules: set[str]) -> list[str]:
    """The modules of ``modules`` that start-up must not load."""
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in HEAVY_PACKAGES
        or any(m == p or m.startswith(p + ".") for p in HEAVY_CORE)
    )


def imported_by(*argv: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -X importtime -m core.cli ARGV``; the process and every module it imported.

    ``-X importtime`` writes one line per module imported to stderr, so this sees the
    real console entry point, not a test harness around it.
    """
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "core.cli", *argv],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    }
    assert "core.cli" in modules, proc.stderr[-2000:]
    return proc, modules


_WALK_EVERY_PARSER = """
import argparse, contextlib, io, json, sys
from core.cli import build_parser

def walk(parser):
    parser.format_help()  # what --help prints
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                walk(sub)

walk(build_parser())
for argv in (["--help"], ["sweep", "--help"], ["models", "evaluate", "--help"],
             ["sweep", "RUN", "--objective", "nope"], ["backtest", "--source", "nope"],
             ["report", "RUN", "--format", "pdf"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pass
build_parser().parse_args(["import", "log.parquet", "--time-unit", "ms"])
print(json.dumps(sorted(sys.modules)))
"""


def test_help_of_every_command_and_argument_errors_load_no_heavy_module():
    proc = subprocess.run(
        [sys.executable, "-c", _WALK_EVERY_PARSER],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=True,
    )  # fmt: skip
    assert heavy(set(json.loads(proc.stdout))) == []


def test_signal_lab_help_loads_no_heavy_module():
    proc, modules = imported_by("--help")
    assert proc.returncode == 0 and "import" in proc.stdout
    assert heavy(modules) == []


def test_an_argument_error_loads_no_heavy_module():
    proc, modules = imported_by("calibrate", "RUN", "--method", "nope")
    assert proc.returncode == 2 and "invalid choice: 'nope'" in proc.stderr
    assert heavy(modules) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_import_loads_only_what_an_import_needs(tmp_path, suffix):
    path = tmp_path / f"log{suffix}"
    if suffix == ".csv":
        path.write_text(LOG)
    else:
        pd.read_csv(io.StringIO(LOG)).to_parquet(path)
    proc, modules = imported_by("import", str(path), "--data-dir", str(tmp_path / "d"), "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["n_imported"] == 2
    assert {"core.importer", "core.store"} <= modules
    assert heavy(modules) == []


def test_the_parsers_choices_equal_the_engines_constants():
    from core.analytics.calibrators import CALIBRATION_METHODS
    from core.analytics.selection import OBJECTIVES
    from core.backtest import DEFAULT_THRESHOLD
    from core.cli import choices
    from core.data.market import SOURCES
    from core.decisions import SEGMENTS
    from core.engines.risk import SIZING_METHODS
    from core.lifecycle.gates import EVALUATION_METRICS
    from core.reports.html_report import REPORT_FORMATS
    from core.reports.keys import KEY_ALIASES, KEY_CHOICES

    assert choices.CALIBRATION_METHODS == CALIBRATION_METHODS
    assert choices.OBJECTIVES == OBJECTIVES
    assert choices.REPORT_FORMATS == REPORT_FORMATS
    assert choices.KEY_CHOICES == KEY_CHOICES
    assert choices.KEY_ALIASES == KEY_ALIASES
    assert choices.SOURCES == SOURCES
    assert choices.SIZING_METHODS == SIZING_METHODS
    assert choices.DEFAULT_THRESHOLD == DEFAULT_THRESHOLD
    assert choices.EVALUATION_METRICS == tuple(EVALUATION_METRICS)
    assert choices.SEGMENTS == tuple(SEGMENTS)


def test_the_checker_sees_a_heavy_module():
    # The start-up checks pass on an empty list; make sure it can fill.
    assert heavy({"pandas", "sklearn.base", "scipy", "core.store", "core.learning"}) == [
        "core.learning",
        "scipy",
        "sklearn.base",
    ]
    assert heavy({"core.database", "core.reporting", "core.cli.choices"}) == []
