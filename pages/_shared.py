"""What app.py and every page share: cached factories and reads, the sidebar, errors.

Session state holds ids and parameters only (the chosen store's label, the selected
run id, the confidence key, form choices) plus the session's private upload space;
frames and results come from the caches below, keyed by (data directory, run id,
event count, parameters), so a run that changes (more events) is never served stale.

The data directory is fixed when the server starts (:func:`settings`); a browser user
can only pick among the stores the server allows, never type a path.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core import dashboard as dash
from core.backtest import BacktestConfig
from core.errors import DriftError, RunNotFoundError, SignalLabError
from core.learning import LearningEngine, LearningEngineConfig
from core.store import Store
from core.store.db import RunInfo

STORE = "store_label"
RUN = "run_id"
KEY = "confidence_key"
#: The slider's value per (run, mapping) and mode, kept outside the widget's key so it
#: survives a page switch and a Score <-> Top % switch (Streamlit drops unrendered widgets).
THRESHOLD = "kept_threshold"
#: Set once the URL's query parameters (run, key) were applied in this session.
QUERY_APPLIED = "query_params_applied"
QUERY_THRESHOLD = "query_threshold_pending"
PENDING_RUN = "pending_run_id"
LAST_BACKTEST = "last_backtest_run_id"
UPLOADS = "upload_space"
UPLOAD_PREVIEW = "upload_preview"

_TTL = 3600  # seconds a cached analysis lives

# --------------------------------------------------------------------------- the frame

#: True while app.py runs a page inside its frame (sidebar, navigation, store check).
_FRAMED: contextvars.ContextVar[bool] = contextvars.ContextVar("signal_lab_framed", default=False)


@contextlib.contextmanager
def framed() -> Iterator[None]:
    """What app.py wraps ``page.run()`` in: the page knows its frame is drawn."""
    token = _FRAMED.set(True)
    try:
        yield
    finally:
        _FRAMED.reset(token)


def frame() -> None:
    """Every page's first call: make sure the page runs inside app.py's frame.

    On a freshly started server, a deep link (``/events``) arrives before app.py has
    ever run, and Streamlit serves the page from the ``pages/`` folder on its own
    (its older multipage mode). Then this switches the server to app.py's navigation
    (what ``st.navigation`` itself does) and reruns: the same URL comes back through
    app.py, with the sidebar, the store check and the selected run.
    """
    if _FRAMED.get():
        return
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()


# --------------------------------------------------------------------------- factories


def settings() -> dash.ServerSettings:
    """Where this server keeps its stores: from its start-up arguments, secrets and environment."""
    secrets: dict[str, Any] = {}
    if st.secrets.load_if_toml_exists():
        secrets = dict(st.secrets.get("signal_lab", {}))
    return dash.server_settings(sys.argv[1:], secrets=secrets)


def stores() -> dict[str, Path]:
    """The stores a user may pick (label -> folder), the default first."""
    return dash.available_stores(settings())


@st.cache_resource(max_entries=8, show_spinner=False)
def get_engine(data_dir: str) -> LearningEngine:
    """One learning engine (and its thread-safe store) per data directory."""
    return LearningEngine(LearningEngineConfig(data_dir=data_dir))


def data_dir() -> str:
    """The folder of the store picked in the sidebar (one the server allows)."""
    allowed = stores()
    label = st.session_state.get(STORE)
    return str(allowed.get(label, settings().data_dir))


def engine() -> LearningEngine:
    return get_engine(data_dir())


def store() -> Store:
    return engine().store


# --------------------------------------------------------------------------- uploads


def upload_space() -> dash.UploadSpace:
    """This session's private upload folder (removed when the session ends)."""
    space = st.session_state.get(UPLOADS)
    if space is None or space.closed:
        space = st.session_state[UPLOADS] = dash.UploadSpace()
    return space


def upload_preview(uploaded: Any, *, skip_bad_rows: bool) -> dash.ImportPreview:
    """The dry run of an uploaded signal log, kept while the same file and option stay chosen.

    A new file or option discards the previous preview's saved file.
    """
    key = (uploaded.file_id, bool(skip_bad_rows), data_dir())
    held = st.session_state.get(UPLOAD_PREVIEW)
    if held is not None and held[0] == key:
        return held[1]
    space = upload_space()
    if held is not None:
        space.discard(held[1].path)
    preview = dash.preview_upload(
        store(), uploaded.name, uploaded.getvalue(), space=space, skip_bad_rows=skip_bad_rows
    )
    st.session_state[UPLOAD_PREVIEW] = (key, preview)
    return preview


# --------------------------------------------------------------------------- errors


@contextlib.contextmanager
def shown_errors(prefix: str = "") -> Iterator[None]:
    """Turn a :class:`SignalLabError` raised inside the block into ``st.error``.

    The rest of the block is skipped; the page goes on after it. Only our own
    errors are caught: anything else is a bug and should be seen as one.
    """
    try:
        yield
    except SignalLabError as exc:
        st.error(f"{prefix}{dash.md_text(dash.describe_errors(exc))}", icon=":material/error:")


# --------------------------------------------------------------------------- runs


def selected_run() -> RunInfo | None:
    """The run picked in the sidebar (None when the store has no finished run)."""
    run_id = st.session_state.get(RUN)
    if not run_id:
        return None
    try:
        return store().get_run(run_id)
    except RunNotFoundError:
        return None


def require_run() -> RunInfo:
    """The selected run, or an explanation and a way out (then the page stops)."""
    run = selected_run()
    if run is None:
        empty_store()
        st.stop()
    return run


def empty_store() -> None:
    """What a page shows when there is nothing to analyse: what to do, and a button."""
    missing = not dash.store_exists(data_dir())
    st.info(
        "There is no finished run to analyse yet. Run the sample backtest (the ensemble on "
        "real daily prices of five US stocks, 2000–2013, shipped with Signal Lab), set one up "
        "on the **Backtest** page, or import your own signal log on the **Events** page."
        + (
            " This folder holds no Signal Lab store yet: it is created when you run a "
            "backtest, import a log, or press **Create an empty store**."
            if missing
            else ""
        ),
        icon=":material/lightbulb:",
    )
    left, right = st.columns(2)
    if left.button("Run the sample backtest", type="primary", key="empty_run_sample"):
        run_id = run_backtest_now(None)
        if run_id is not None:
            st.rerun()
    if missing and right.button("Create an empty store", key="create_store"):
        engine()  # opening the store creates it
        st.rerun()


def require_store() -> None:
    """Stop the page with :func:`empty_store` when the folder holds no store yet.

    Nothing creates a store without a click: a missing folder or file is offered, not made.
    """
    if not dash.store_exists(data_dir()):
        empty_store()
        st.stop()


def run_backtest_now(config: Any) -> str | None:
    """Run a backtest here, with a progress bar and a status line per stage.

    ``config`` is a ``BacktestConfig`` (None: the default sample backtest). On
    success the new run becomes the selected one (from the next rerun) and its
    id is returned; on failure the error is shown in plain words and None is
    returned (a run that failed after it was opened is kept, marked failed by core).
    """
    if config is None:
        config = BacktestConfig()
    before = {r.id for r in store().list_runs()}
    bar = st.progress(0.0, text="Starting the backtest…")
    status = st.status("Running the backtest", expanded=True)
    seen: list[str] = []

    def progress(stage: str, fraction: float) -> None:
        overall = dash.overall_progress(stage, fraction)
        bar.progress(overall, text=f"{dash.STAGE_LABELS.get(stage, stage)} ({overall:.0%})")
        if not seen or seen[-1] != stage:
            seen.append(stage)
            status.write(f"{dash.STAGE_LABELS.get(stage, stage)}…")

    try:
        result = dash.run_and_report(config, engine=engine(), progress=progress)
    except SignalLabError as exc:
        status.update(label="The backtest failed", state="error")
        failed = [r for r in store().list_runs() if r.id not in before and r.status == "failed"]
        kept = (
            " The run is kept in the store, marked failed (see the Overview page)."
            if failed
            else " Nothing was recorded."
        )
        st.error(
            f"The backtest failed: {dash.md_text(dash.describe_errors(exc))}{kept}",
            icon=":material/error:",
        )
        return None
    bar.progress(1.0, text="Done")
    status.update(label="Backtest finished", state="complete", expanded=False)
    st.session_state[PENDING_RUN] = result.run_id
    st.session_state[LAST_BACKTEST] = result.run_id
    return result.run_id


def sidebar() -> None:
    """The shared sidebar: the store (read-only, or picked among allowed ones), run, key."""
    key = st.session_state.get(KEY)
    if key not in dash.KEY_CHOICES:  # first run, or an old session holding a column name
        st.session_state[KEY] = {"calibrated_probability": "isotonic"}.get(key, "raw")
    allowed = stores()
    if st.session_state.get(STORE) not in allowed:
        st.session_state[STORE] = next(iter(allowed))
    if len(allowed) > 1:
        st.selectbox(
            "Store",
            list(allowed),
            key=STORE,
            help="Stores this server allows (set by whoever started it).",
        )
    folder = Path(data_dir())
    st.caption("Data directory (fixed by the server)")
    st.code(str(folder), language=None, wrap_lines=True)
    if not dash.store_exists(folder):
        st.session_state[RUN] = None
        st.caption("No store in this folder yet.")
        return
    try:
        # finished runs, and failed ones that kept events (labelled "incomplete run")
        runs = [
            r
            for r in store().list_runs()
            if r.status == "completed" or (r.status == "failed" and r.n_outcomes > 0)
        ]
    except SignalLabError as exc:
        st.error(dash.md_text(dash.describe_errors(exc)), icon=":material/error:")
        st.stop()
    labels = {r.id: dash.run_label(r) for r in runs}
    pending = st.session_state.pop(PENDING_RUN, None)
    linked = _query_run()
    if linked in labels:
        st.session_state[RUN] = linked
    elif pending in labels:
        st.session_state[RUN] = pending
    elif st.session_state.get(RUN) not in labels:
        st.session_state[RUN] = runs[0].id if runs else None
    if runs:
        st.selectbox(
            "Run",
            list(labels),
            key=RUN,
            format_func=labels.__getitem__,
            help="Every page analyses this run (kind · name · date, UTC).",
        )
    else:
        st.caption("No finished run yet.")
    st.radio(
        "Confidence key",
        dash.KEY_CHOICES,
        key=KEY,
        format_func=dash.choice_label,
        help="The score every page reads: the model's raw confidence; a calibrator fitted "
        "walk-forward (each window scored by a calibrator fitted on earlier trades only); or "
        "the signal's production calibrator (the registry's model named after the signal), "
        "applied only to the trades after its training window.",
    )
    _write_query_params()


# --------------------------------------------------------------------------- links


def _query_run() -> str | None:
    """The run of the URL (``?run=...``), once per session: a shared link selects it."""
    if st.session_state.get(QUERY_APPLIED):
        return None
    st.session_state[QUERY_APPLIED] = True
    params = st.query_params
    key = params.get("key")
    if key in dash.KEY_CHOICES:
        st.session_state[KEY] = key
    if "threshold" in params:
        st.session_state[QUERY_THRESHOLD] = (
            params.get("run"),
            params.get("mode", "absolute"),
            params.get("threshold"),
        )
    return params.get("run")


def _write_query_params() -> None:
    """Put the selected run, its signal and the key in the URL (a link reopens the view)."""
    run = selected_run()
    wanted = {"key": str(st.session_state.get(KEY, "raw"))}
    if run is not None:
        wanted.update(run=run.id, signal=run.signal)
    for name, value in wanted.items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value


def link_threshold(mode: str, value: float) -> None:
    """Put the Thresholds slider's value (and mode) in the URL."""
    for name, text in (("mode", mode), ("threshold", f"{value:g}")):
        if st.query_params.get(name) != text:
            st.query_params[name] = text


def _slot(run: RunInfo, token: str) -> dict[str, Any]:
    held = st.session_state.get(THRESHOLD)
    if not isinstance(held, dict) or held.get("run") != run.id or held.get("key") != token:
        held = st.session_state[THRESHOLD] = {"run": run.id, "key": token}
    return held


def threshold_start(run: RunInfo, token: str, mode: str, default: float) -> float:
    """Where the slider starts: the URL's threshold (once), else the value kept in this
    session for (run, key, mode), else ``default`` (the kept decision or the
    walk-forward recommendation)."""
    held = _slot(run, token)
    pending = st.session_state.get(QUERY_THRESHOLD)
    if pending is not None and pending[0] in (None, run.id) and pending[1] == mode:
        st.session_state.pop(QUERY_THRESHOLD)
        try:
            held[mode] = float(pending[2])
        except (TypeError, ValueError):
            pass
    return float(held.get(mode, default))


def remembered_threshold(run: RunInfo, token: str, mode: str) -> float | None:
    """The slider's value kept for (run, key, mode) in this session, if any."""
    value = _slot(run, token).get(mode)
    return None if value is None else float(value)


def remember_threshold(run: RunInfo, token: str, mode: str, value: float) -> None:
    """Keep the slider's value for (run, key, mode) in this session (the URL is
    :func:`link_threshold`'s)."""
    _slot(run, token)[mode] = float(value)


# --------------------------------------------------------------------------- cached reads
# Keyed by (data directory, run id, event count, parameters): a run whose event
# count changes is read again. Bounded in entries and time.
#
# The trades frame, its keyed copy and the slider's arrays are held once and shared
# (``st.cache_resource``), never copied: ``st.cache_data`` pickles a value when it stores
# it and unpickles it on every hit, 0.1-0.13 s each way for a 1M-trade frame, several
# times per page run. Nothing mutates them (pandas copy-on-write; the book's arrays are
# read-only).


@st.cache_resource(max_entries=4, ttl=_TTL, show_spinner="Loading the run's trades…")
def load_trades(data_dir: str, run_id: str, n_events: int) -> pd.DataFrame:
    """The trades frame of a run (``n_events`` only keys the cache). Shared: do not mutate."""
    return get_engine(data_dir).store.trades_frame(run_id)


@st.cache_resource(max_entries=8, ttl=_TTL, show_spinner="Preparing the confidence key…")
def keyed_trades(data_dir: str, run_id: str, n_events: int, key: str) -> dash.MappedTrades:
    """The run's trades with the score of mapping ``key`` (a :func:`mapping_token`, a
    choice of :data:`core.dashboard.KEY_CHOICES` or a column name alias) and its label."""
    s = get_engine(data_dir).store
    return dash.map_key(s, s.get_run(run_id), load_trades(data_dir, run_id, n_events), key)


def mapping_for(run: RunInfo) -> str:
    """The cache key of the session's mapping for ``run`` (a production promotion changes it)."""
    return dash.mapping_token(store(), run.signal, st.session_state.get(KEY) or "raw")


def mapped(run: RunInfo, key: str | None = None) -> dash.MappedTrades:
    """The run's trades under ``key`` (default: the session's mapping)."""
    return keyed_trades(data_dir(), run.id, run.n_events, key or mapping_for(run))


def mapping_caption(
    run: RunInfo, *, applies: bool = True, scope: str | None = None
) -> dash.MappedTrades | None:
    """The one caption every page shows: which mapping produced its numbers.

    ``applies=False``: the page reads the raw confidence whatever the sidebar says
    (e.g. model versions score the raw confidence themselves). ``scope`` says what
    the mapping applies to on a page where not every figure depends on it. When the mapping
    cannot be made (no production calibrator, too few trades) the reason and the
    fix are shown and None is returned.
    """
    if not applies:
        st.caption(
            "Scores: raw confidence (this page scores it itself; the sidebar's key "
            f"— {dash.md_text(dash.choice_label(st.session_state.get(KEY) or 'raw'))} — "
            "does not apply here)."
        )
        return None
    try:
        m = mapped(run)
    except SignalLabError as exc:
        st.warning(
            f"Confidence key {dash.md_text(dash.choice_label(st.session_state.get(KEY) or 'raw'))}: "
            f"{dash.md_text(dash.describe_errors(exc))}",
            icon=":material/warning:",
        )
        return None
    scored = m.mapping.n_scored
    st.caption(
        f"Scores: **{dash.md_text(m.label)}** ({scored:,} of {m.mapping.n_total:,} trades scored"
        + ("" if scored == m.mapping.n_total else "; the others have no score")
        + "). "
        + (f"{scope} " if scope else "")
        + "Change the confidence key in the sidebar."
    )
    return m


def key_for(run: RunInfo) -> str:
    """The score column of the session's mapping for ``run``, with the mapping caption.

    Stops the page (after saying why and how to fix it) when the mapping cannot be made.
    """
    m = mapping_caption(run)
    if m is None:
        st.stop()
    return m.column


def trades(run: RunInfo, key: str = "confidence") -> pd.DataFrame:
    """The run's trades, ready for the column ``key`` (calibrated: the session's mapping)."""
    return mapped(run, "raw" if key == "confidence" else None).trades


@st.cache_data(max_entries=16, ttl=_TTL, show_spinner=False)
def cached_overview(data_dir: str, run_id: str, n_events: int) -> dash.RunOverview:
    s = get_engine(data_dir).store
    return dash.run_overview(s, run_id, trades=load_trades(data_dir, run_id, n_events))


@st.cache_resource(max_entries=8, ttl=_TTL, show_spinner="Preparing the trades…")
def cached_book(data_dir: str, run_id: str, n_events: int, key: str) -> dash.BookArrays:
    m = keyed_trades(data_dir, run_id, n_events, key)
    return dash.book_arrays(m.trades, key=m.column)


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner="Computing confidence statistics…")
def cached_calibration(
    data_dir: str, run_id: str, n_events: int, key: str, n_bins: int, strategy: str
) -> dash.CalibrationView:
    m = keyed_trades(data_dir, run_id, n_events, key)
    return dash.calibration_view(m.trades, key=m.column, n_bins=n_bins, strategy=strategy)


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner="Fitting calibrators walk-forward…")
def cached_comparison(
    data_dir: str,
    run_id: str,
    n_events: int,
    methods: tuple[str, ...],
    n_windows: int,
    min_train: int,
) -> dash.CalibratorComparison:
    frame = load_trades(data_dir, run_id, n_events)
    return dash.compare_calibrators(
        frame, methods=methods, n_windows=n_windows, min_train=min_train
    )


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner="Sweeping thresholds…")
def cached_thresholds(
    data_dir: str,
    run_id: str,
    n_events: int,
    key: str,
    mode: str,
    objective: str,
    min_trades: int,
    cost_bps: float,
    n_trials: int = 0,
) -> dash.ThresholdView:
    """``n_trials``: the signal's trial ledger count (keys the cache: a new trial redraws)."""
    m = keyed_trades(data_dir, run_id, n_events, key)
    return dash.threshold_view(
        m.trades, key=m.column, mode=mode, objective=objective, min_trades=min_trades,
        cost_bps=cost_bps, n_trials=n_trials,
    )  # fmt: skip


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner="Certifying a threshold…")
def cached_guarantee(
    data_dir: str, run_id: str, n_events: int, key: str, target: float, delta: float
) -> Any:
    m = keyed_trades(data_dir, run_id, n_events, key)
    return dash.guarantee_view(m.trades, key=m.column, target_win_rate=target, delta=delta)


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner="Comparing windows with the baseline…")
def cached_drift(
    data_dir: str,
    run_id: str,
    n_events: int,
    signal: str,
    baseline_id: int,
    window: int | str,
    settings: tuple[tuple[str, float], ...],
) -> dash.DriftTimeline:
    """``baseline_id`` keys the cache: setting a new baseline recomputes."""
    engine = get_engine(data_dir)
    record = dash.baseline_record(engine, signal)
    if record is None or record.id != baseline_id:
        raise DriftError(f"signal {signal!r} has no baseline #{baseline_id}; set one first")
    frame = keyed_trades(data_dir, run_id, n_events, record.key).trades
    return dash.drift_timeline(
        frame,
        record,
        window=window,
        thresholds=dash.DriftThresholds(**dict(settings)),
        run_id=run_id,
    )


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner="Testing calibration per segment…")
def cached_segments(data_dir: str, run_id: str, n_events: int, by: str) -> dash.DecisionView:
    return dash.segment_view(load_trades(data_dir, run_id, n_events), by=by)


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner="Measuring the edge at 1–20 day horizons…")
def cached_decay(data_dir: str, run_id: str, n_events: int) -> dash.DecisionView:
    run = get_engine(data_dir).store.get_run(run_id)
    return dash.decay_view(run, load_trades(data_dir, run_id, n_events))


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner="Sizing bets walk-forward…")
def cached_sizing(
    data_dir: str, run_id: str, n_events: int, kelly_fraction: float, cap: float, cost_bps: float
) -> dash.DecisionView:
    trades = load_trades(data_dir, run_id, n_events)
    return dash.sizing_view(trades, kelly_fraction=kelly_fraction, cap=cap, cost_bps=cost_bps)


# --------------------------------------------------------------------------- tables


def metric_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """``st.column_config`` for a :func:`core.dashboard.metrics_table` frame."""
    config: dict[str, Any] = {}
    for col in frame.columns:
        label, kind = dash.METRIC_LABELS.get(str(col), (str(col).replace("_", " "), "ratio"))
        fmt = {"count": "%d", "share": "%.1f%%", "pct": "%.3f", "ratio": "%.3f"}[kind]
        config[str(col)] = st.column_config.NumberColumn(label, format=fmt)
    return config


def show_metrics(metrics: pd.DataFrame) -> None:
    """A baseline / filtered / difference metrics table, formatted."""
    table = dash.metrics_table(metrics)
    st.dataframe(table, column_config=metric_columns(table), width="stretch")


def light_table(
    frame: pd.DataFrame, columns: dict[str, tuple[str, str]], *, hide_index: bool = False
) -> None:
    """A small table as static HTML (``st.table``), its columns renamed and formatted.

    ``columns`` maps a column to its (label, format string); NaN shows as "—". For
    tables on a page whose fragment reruns often: the browser redraws every grid
    (``st.dataframe``) of the page on each fragment run, about 10 ms a grid here.
    """
    text = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        label, fmt = columns.get(name, (str(name), "{}"))
        text[label] = [
            "—" if pd.isna(v) else fmt.format(v) for v in frame[name].tolist()
        ]  # a few rows: formatted here, not by a Styler (its first use loads jinja2)
    st.table(text.reset_index(drop=True) if hide_index else text)


def headline_cards(
    metrics: pd.DataFrame, *, column: str = "filtered"
) -> list[tuple[str, str, str | None]]:
    """Trades, win rate, mean return, Sharpe: (label, value, delta vs all trades or None)."""
    cards = (
        ("n_trades", "Trades", "{:,.0f}"),
        ("win_rate", "Win rate", "{:.1%}"),
        ("mean_return_pct", "Mean return / trade", "{:.3f} %"),
        ("sharpe_per_trade", "Sharpe / trade", "{:.3f}"),
    )
    out: list[tuple[str, str, str | None]] = []
    for metric, label, fmt in cards:
        if metric not in metrics.index:
            out.append((label, "—", None))
            continue
        value = dash.metric_value(metrics.loc[metric, column])
        delta = None
        if column != "baseline" and "improvement" in metrics.columns:
            diff = dash.metric_value(metrics.loc[metric, "improvement"])
            if pd.notna(diff):
                delta = {"win_rate": f"{diff * 100:+.1f} pts", "n_trades": f"{diff:+,.0f}"}.get(
                    metric, f"{diff:+.3f}"
                )
        out.append((label, fmt.format(value) if pd.notna(value) else "—", delta))
    return out


def headline(metrics: pd.DataFrame, *, column: str = "filtered") -> None:
    """Four ``st.metric`` cards (:func:`headline_cards`)."""
    cards = headline_cards(metrics, column=column)
    for box, (label, value, delta) in zip(st.columns(len(cards)), cards, strict=True):
        box.metric(label, value, delta=delta)


def drift_columns() -> dict[str, Any]:
    """``st.column_config`` for :func:`core.dashboard.drift_table`."""
    num = st.column_config.NumberColumn
    return {
        "window_start": st.column_config.DatetimeColumn("From (UTC)", format="YYYY-MM-DD"),
        "window_end": st.column_config.DatetimeColumn("To (UTC)", format="YYYY-MM-DD"),
        "n": num("Trades", format="%d"),
        "psi": num("PSI", format="%.3f"),
        "ks_p": num("KS p-value", format="%.3g"),
        "win_rate": num("Win rate (%)", format="%.1f"),
        "brier": num("Brier", format="%.4f"),
        "ece": num("ECE", format="%.4f"),
        "mean_return": num("Mean return (%)", format="%.3f"),
        "sharpe": num("Sharpe / trade", format="%.3f"),
        "severity": st.column_config.TextColumn("Severity"),
    }
