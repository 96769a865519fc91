"""What a user waits for in the browser: the Thresholds page's first load and slider moves.

Starts the dashboard with ``streamlit run app.py`` on a free port against a
prepared store (:mod:`bench.browser_store`: the sample backtest and a
1,000,000-trade imported synthetic log), opens it in Debian's Chromium through
Playwright (``executable_path="/usr/bin/chromium"``) and, for each run:

- ``browser_overview_first_load``: selecting the run in the sidebar on the
  Overview page until the page is idle (this includes reading the run's trades,
  which the other pages then take from the cache);
- ``browser_thresholds_first_load``: clicking "Thresholds" in the sidebar until
  the page is idle with its charts drawn (the analysis is computed: a cold cache);
- ``browser_slider_move``: the median of 10 slider moves, each from the keydown
  (``ArrowRight`` on the focused slider) until the slider's panel has drawn the new
  position (its ``data-version``) and the app is idle and has stayed idle for 100 ms,
  every move waited out before the next (a fast fragment run can start and finish
  between two frames, so its running state may never reach the DOM). Idle, as shared/TESTING.md
  says, is ``[data-testid="stStatusWidget"]`` gone; our config
  (``client.toolbarMode = "minimal"``) draws no header, hence no status widget,
  so the app's ``data-test-script-state`` leaving "running" counts too.
  ``seconds`` is the time to the later of the panel drawing the new position and
  the app's last busy -> idle transition (the 100 ms quiet window is waited for, not
  counted); ``settled_seconds`` is the last change
  of the page's DOM (charts redrawn) in the same window. Each line carries the
  host's load average (``/proc/loadavg``, 1 minute) before and after the run:
  on a shared 2-core host the figures scale with it.

The slider lines' reference is Streamlit's own floor on this host: the same ten
moves, measured the same way, in an app whose fragment holds only the slider
and one line of Markdown (``_FLOOR_APP``, same ``.streamlit/config.toml``).
``ratio`` is ours over that floor; what is left above it is our page's work.

Times are taken in the page with ``performance.now()`` (keydown's event time
stamp, a MutationObserver for the status widget and the DOM). Skipped by
``bench/run.py --quick`` (``SKIP_QUICK``). ``BENCH_BROWSER_STORE=DIR`` reuses a
store prepared by ``python bench/browser_store.py DIR`` (the 1M import takes
about a minute); without it a temporary one is made and removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from browser_store import prepare
from common import record

SKIP_QUICK = True
CHROMIUM = "/usr/bin/chromium"
N_LARGE = 1_000_000
MOVES = 10
QUIET_MS = 100
TARGETS = {"slider": 0.25, "thresholds_first_load_large": 2.5}

# Installed once per page: records when the app is busy and when the DOM changes.
# Busy = the running indicator `[data-testid="stStatusWidget"]` is shown, or the app's
# `data-test-script-state` says "running" (with `client.toolbarMode = "minimal"`, our
# config, the header and its status widget are not drawn at all).
_OBSERVER = """
(() => {
  if (window.__bench) return;
  const b = window.__bench = {busyOn: [], busyOff: [], mutations: [], versions: [], keydown: null};
  b.busy = () => !!document.querySelector('[data-testid="stStatusWidget"]') ||
    document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state') === 'running';
  let was = b.busy();
  new MutationObserver((records) => {
    const now = performance.now();
    // A fast script run can start and end within one batch of mutations: replay the
    // script state's values from the records' old values, then the state now.
    const seq = records
      .filter(r => r.type === 'attributes' && r.attributeName === 'data-test-script-state')
      .map(r => r.oldValue === 'running');
    seq.push(b.busy());
    for (const on of seq) {
      if (on && !was) b.busyOn.push(now);
      if (!on && was) b.busyOff.push(now);
      was = on;
    }
    b.mutations.push(now);
    if (b.mutations.length > 5000) b.mutations.splice(0, 2500);
    // The Thresholds panel's data-version: set once it has drawn a slider position.
    for (const r of records) {
      if (r.type === 'attributes' && r.attributeName === 'data-version') {
        b.versions.push([now, r.target.getAttribute('data-version')]);
      }
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, attributeOldValue: true});
  document.addEventListener('keydown', (e) => { b.keydown = e.timeStamp; }, true);
})();
"""

# Idle since `since` (ms): the app became busy after it, is no longer busy, and has
# stayed so for `quiet` ms; returns [idle_ms, settled_ms] relative to `since`, or null.
_IDLE = """
([since, quiet]) => {
  const b = window.__bench;
  const now = performance.now();
  if (b.busy()) return null;
  const on = b.busyOn.filter(t => t >= since);
  const off = b.busyOff.filter(t => t >= since);
  if (!on.length || !off.length) return null;
  const end = off[off.length - 1];
  if (now - end < quiet) return null;
  const moved = b.mutations.filter(t => t >= since);
  return [end - since, moved[moved.length - 1] - since];
}
"""


# A slider move is over when the panel has drawn the new position (its data-version) and
# the app is idle, quiet for `quiet` ms: [end_ms, settled_ms] relative to `since`, or null.
# A fast fragment run can start and finish between two frames, so the running state may
# never reach the DOM; the drawn version always does.
_MOVED = """
([since, quiet, want]) => {
  const b = window.__bench;
  const now = performance.now();
  if (b.busy()) return null;
  const drawn = b.versions.filter(([t, v]) => t >= since && v === want);
  if (!drawn.length) return null;
  const off = b.busyOff.filter(t => t >= since);
  const end = Math.max(drawn[drawn.length - 1][0], off.length ? off[off.length - 1] : 0);
  if (now - end < quiet) return null;
  const moved = b.mutations.filter(t => t >= since);
  return [end - since, moved[moved.length - 1] - since];
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(data_dir: Path, log: Path, *, cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` in ``cwd`` (its ``.streamlit/config.toml`` applies)."""
    port = _free_port()
    env = {**os.environ, "SIGNAL_LAB_DATA_DIR": str(data_dir)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.read() == b"ok":
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"streamlit did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _wait_idle(page, since: float, *, timeout: float = 300.0) -> tuple[float, float]:
    """Seconds from ``since`` (page ms) to idle, and to the last DOM change."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = page.evaluate(_IDLE, [since, QUIET_MS])
        if got is not None:
            return got[0] / 1000.0, got[1] / 1000.0
        page.wait_for_timeout(20)
    raise TimeoutError("the page did not become idle")


def _now(page) -> float:
    return page.evaluate("() => performance.now()")


def _select_run(page, label_part: str) -> tuple[float, float] | None:
    """Pick the run whose label contains ``label_part`` in the sidebar; None if it is shown."""
    if page.get_by_role("heading").filter(has_text=label_part).count():
        return None
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
        has_text="Run"
    )
    box.locator("input").first.click()
    page.keyboard.type(label_part)
    since = _now(page)
    page.keyboard.press("Enter")
    page.wait_for_timeout(3000)
    if not page.evaluate("([t]) => window.__bench.busyOn.some(x => x >= t)", [since]):
        return None  # it was the selected run already: nothing reran
    return _wait_idle(page, since)


def _open_thresholds(page) -> tuple[float, float]:
    since = _now(page)
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Thresholds").click()
    idle = _wait_idle(page, since)
    page.locator(".main-svg .gtitle").first.wait_for(timeout=60_000)  # a plotly chart drawn
    return idle


def _slider_moves(page, n: int) -> tuple[list[float], list[float]]:
    """Seconds from each keydown until the panel shows the new position and the app is idle."""
    live = '[data-testid="stElementContainer"][data-stale="false"]'
    slider = page.locator(live).get_by_role("slider", name="Threshold")
    idle, settled = [], []
    for i in range(n):
        slider.focus()
        page.evaluate("() => { window.__bench.keydown = null; }")
        page.keyboard.press("ArrowRight" if i % 4 < 2 else "ArrowLeft")
        since = page.evaluate("() => window.__bench.keydown")
        thumb = page.locator(f'{live} [data-testid="stSliderThumbValue"]').first
        value = float(thumb.inner_text().strip())  # drawn by the browser at the keydown
        want = f"absolute:{value:g}"
        deadline = time.monotonic() + 120
        while (got := page.evaluate(_MOVED, [since, QUIET_MS, want])) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the panel did not draw {want}")
            page.wait_for_timeout(20)
        idle.append(got[0] / 1000.0)
        settled.append(got[1] / 1000.0)
    return idle, settled


def _measure_run(context, url: str, run_label: str, n: int, tag: str) -> list[dict]:
    page = context.new_page()
    out = []
    try:
        page.goto(url)
        page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=120_000)
        loaded = _wait_idle(page, 0.0)  # since navigation start
        picked = _select_run(page, run_label)
        idle, how = (loaded[0], "page opened -> idle (its run selected by default)")
        if picked is not None:
            idle, how = (picked[0], "run selected in the sidebar -> idle")
        out.append(record(f"browser_overview_first_load_{tag}", n, idle,
                          note=f"Overview, {how}; reads the run's trades"))  # fmt: skip
        idle, settled = _open_thresholds(page)
        target = TARGETS["thresholds_first_load_large"] if tag == "large" else None
        extra = {"target_seconds": target} if target else {}
        out.append(record(f"browser_thresholds_first_load_{tag}", n, idle, settled_seconds=settled,
                          note="click Thresholds -> idle, analysis not cached yet", **extra))  # fmt: skip
        _slider_moves(page, 2)  # warm-up: first fragment run, cached figures
        idle, settled = _slider_moves(page, MOVES)
        out.append(record(f"browser_slider_move_{tag}", n, statistics.median(idle),
                          target_seconds=TARGETS["slider"], moves=MOVES,
                          min_seconds=min(idle), max_seconds=max(idle),
                          settled_seconds=statistics.median(settled),
                          note="keydown -> idle for 100 ms, median of 10 moves"))  # fmt: skip
    finally:
        page.close()
    return out


_FLOOR_APP = """
import streamlit as st


@st.fragment
def live():
    value = st.slider("Threshold", 0.0, 1.0, 0.5, step=0.01)
    st.markdown(f"**At this threshold:** {value:.2f}")


live()
"""


_SHOWN = """
(want) => {
  const b = window.__bench;
  b.shownAt = null;
  const mo = new MutationObserver(() => {
    if (document.body.innerText.includes(want)) { b.shownAt = performance.now(); mo.disconnect(); }
  });
  mo.observe(document, {subtree: true, childList: true, characterData: true});
}
"""


def _floor_moves(page, n: int) -> list[float]:
    """Seconds from each keydown until the floor app shows the slider's new value.

    Its script runs for a few milliseconds, often starting and ending within one
    batch of DOM mutations, so the running indicator is not a reliable end mark
    there; the new value drawn by the script is (the last thing a run changes).
    """
    slider = page.get_by_role("slider", name="Threshold")
    out = []
    for i in range(n):
        right = i % 4 < 2
        value = float(slider.input_value()) + (0.01 if right else -0.01)
        slider.focus()
        page.evaluate(_SHOWN, f"At this threshold: {value:.2f}")
        page.evaluate("() => { window.__bench.keydown = null; }")
        page.keyboard.press("ArrowRight" if right else "ArrowLeft")
        page.wait_for_function("() => window.__bench.shownAt !== null", timeout=60_000)
        since, shown = page.evaluate("() => [window.__bench.keydown, window.__bench.shownAt]")
        out.append((shown - since) / 1000.0)
        page.wait_for_timeout(QUIET_MS)
    return out


def _streamlit_floor(browser, work: Path) -> dict:
    """The same slider move in a Streamlit app that does nothing else (the reference).

    One ``st.fragment`` holding a slider and one line of Markdown, served with
    the project's ``.streamlit/config.toml``: keydown until the new value is drawn
    (:func:`_floor_moves`), median of the same number of moves as ours, after two
    warm-up moves. What a move costs in Streamlit and Chromium on this host before
    the page draws anything of its own.
    """
    app = work / "floor"
    (app / ".streamlit").mkdir(parents=True)
    (app / "app.py").write_text(_FLOOR_APP)
    shutil.copy(ROOT / ".streamlit" / "config.toml", app / ".streamlit" / "config.toml")
    proc, url = _serve(work, work / "floor.log", cwd=app)
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(_OBSERVER)
        page = context.new_page()
        try:
            page.goto(url)
            page.get_by_text("At this threshold: 0.50").wait_for(timeout=60_000)
            _floor_moves(page, 2)
            moves = _floor_moves(page, MOVES)
        finally:
            context.close()
    finally:
        _stop(proc)
    return {"median": statistics.median(moves), "min": min(moves), "max": max(moves)}


def _with_floor(line: dict, floor: dict) -> dict:
    """A slider line with the Streamlit floor as its reference."""
    if not line["bench"].startswith("browser_slider_move"):
        return line
    return {**line, "reference": "streamlit_floor_fragment_slider_markdown",
            "reference_seconds": floor["median"], "ratio": line["seconds"] / floor["median"],
            "reference_min_seconds": floor["min"], "reference_max_seconds": floor["max"]}  # fmt: skip


def _load() -> float:
    """The host's 1-minute load average (what ``uptime`` prints first)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def run(quick: bool) -> list[dict]:
    if quick:
        return []
    before = _load()
    from playwright.sync_api import sync_playwright

    held = os.environ.get("BENCH_BROWSER_STORE")
    work = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    data_dir = Path(held) if held else work / "data"
    out: list[dict] = []
    try:
        start = time.perf_counter()
        runs = prepare(data_dir, n=N_LARGE)
        setup = time.perf_counter() - start
        proc, url = _serve(data_dir, work / "streamlit.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                    "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run"])  # fmt: skip
                try:
                    from core.store import Store

                    with Store(data_dir) as store:
                        sample_n = len(store.trades_frame(runs["sample"]))
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    context.add_init_script(_OBSERVER)
                    out += _measure_run(context, url, "synthetic", N_LARGE, "large")
                    out += _measure_run(context, url, "backtest", sample_n, "sample")
                    floor = _streamlit_floor(browser, work)
                    out = [_with_floor(line, floor) for line in out]
                finally:
                    browser.close()
        finally:
            _stop(proc)
        out.append(record("browser_setup", N_LARGE, setup,
                          note="store preparation (sample backtest + 1M import), reused "
                               "when BENCH_BROWSER_STORE is set"))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    after = _load()
    return [{**line, "load_before": before, "load_after": after} for line in out]


if __name__ == "__main__":
    import json

    for line in run("--quick" in sys.argv):
        print(json.dumps(line))
