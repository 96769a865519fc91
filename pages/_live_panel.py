"""The Thresholds slider's panel, updated in place in the browser on every move.

A slider move reruns its fragment, and Streamlit's browser side draws every
element of that fragment again (styled React components, Markdown parsing, and
``st.plotly_chart`` re-creates a chart whose figure changed): about 0.2 s of the
browser's time a move on this page, most of what a move cost above Streamlit's
own floor. :func:`live_panel` draws the headline figures, the metrics table and
the two charts as one ``st.components.v2`` element keyed by ``key``: on a move the
element stays, and its script replaces the figures' text and restyles the equity
chart's one trace that changed (the kept trades); the sweep chart, whose figure
does not change with the slider, is left as drawn and its marker is moved by CSS.

What a move sends is small: the charts' whole figures (the sweep's and the
equity's, 0.1-0.3 MB) go to the browser only on the page's full runs
(:func:`new_page_run`), and a move sends the kept trades' curve, the text and
the marker (about 15-25 KB). Should the browser hold no chart when a light
update comes (a panel drawn anew without a full run), its script asks for the
whole figures (a ``missing`` trigger), which the next run sends.

plotly.js is the copy that ships with the plotly package, served by Streamlit's
static file serving (``server.enableStaticServing``) from ``static/`` next to
app.py, where :func:`plotly_asset` copies it once per server process; the browser
loads it once per page. Where that cannot work (static serving off, a read-only
checkout) :func:`live_panel` draws the same with Streamlit's own elements.

User text never reaches the HTML: the script sets ``textContent`` only.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go
import plotly.io
import streamlit as st

from core import dashboard as dash

STATIC = Path(__file__).resolve().parents[1] / "static"
ASSET = "plotly.min.js"
#: The CSS selector of the sweep chart's box in the panel (for its marker's CSS).
SWEEP_BOX = ".signal-lab-live .signal-lab-sweep"

_JS = r"""
const SOURCE = "app/static/plotly.min.js";
const CONFIG = { displaylogo: false, responsive: true };
const MISSING = "missing";

function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__signalLabPlotly) {
    window.__signalLabPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = SOURCE;
      script.async = true;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        window.__signalLabPlotly = null;
        reject(new Error("plotly.js did not load from " + SOURCE));
      };
      document.head.appendChild(script);
    });
  }
  return window.__signalLabPlotly;
}

function showInUrl(params) {
  if (!params || !Object.keys(params).length) return;
  const url = new URL(window.location.href);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  if (url.href !== window.location.href) window.history.replaceState(window.history.state, "", url);
}

function node(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawCards(box, cards) {
  box.replaceChildren(...cards.map((c) => {
    const card = node("div", "signal-lab-card");
    card.setAttribute("role", "group");
    card.setAttribute("aria-label", c.label);
    card.append(node("div", "signal-lab-card-label", c.label),
                node("div", "signal-lab-card-value", c.value));
    if (c.delta) {
      const sign = c.delta.trim().startsWith("-") ? "down" : "up";
      card.append(node("div", "signal-lab-card-delta " + sign, (sign === "up" ? "↑ " : "↓ ") + c.delta));
    }
    return card;
  }));
}

function drawTable(box, table) {
  const t = node("table");
  const head = t.createTHead().insertRow();
  for (const h of ["Metric", ...table.books]) head.append(node("th", "", h));
  const body = t.createTBody();
  for (const row of table.rows) {
    const r = body.insertRow();
    row.forEach((cell, i) => r.append(node(i ? "td" : "th", "", cell)));
  }
  box.replaceChildren(t);
}

// One chart operation at a time per element, in the order the runs came.
function queue(el, op) {
  el.__signalLabChain = (el.__signalLabChain || Promise.resolve()).then(op, op);
  return el.__signalLabChain;
}

function drawChart(Plotly, el, figureJson) {
  if (el.__signalLabFigure === figureJson) return Promise.resolve();
  const figure = JSON.parse(figureJson);
  const layout = figure.layout || {};
  el.style.height = (layout.height || 450) + "px";
  return Plotly.react(el, figure.data || [], layout, CONFIG).then(() => {
    el.__signalLabFigure = figureJson;
    el.__signalLabDrawn = true;
  });
}

function float64(spec) {  // plotly's typed-array spec {dtype: "f8", bdata: base64}
  const bytes = Uint8Array.from(atob(spec.bdata), (c) => c.charCodeAt(0));
  return new Float64Array(bytes.buffer);
}

function restyleKept(Plotly, el, kept) {
  if (!el.__signalLabDrawn) return Promise.reject(MISSING);
  const y = float64(kept.y);
  el.__signalLabFigure = null;  // no longer the figure last drawn whole
  return Plotly.restyle(el, { y: [y], customdata: [y], name: [kept.name],
                              hovertemplate: [kept.hovertemplate] }, [kept.trace]);
}

export default function ({ data, parentElement, setTriggerValue }) {
  const root = parentElement.querySelector(".signal-lab-live");
  const part = (name) => root.querySelector(".signal-lab-" + name);
  showInUrl(data.url_params);
  drawCards(part("cards"), data.cards);
  const line = part("line");
  line.replaceChildren(node("strong", "", "At this threshold: "), document.createTextNode(data.line));
  drawTable(part("table"), data.table);
  part("marker").textContent = data.marker_css;
  let current = true;
  const sweep = part("sweep");
  const equity = part("equity");
  loadPlotly()
    .then((Plotly) => Promise.all([
      queue(sweep, () => data.sweep ? drawChart(Plotly, sweep, data.sweep)
                          : (sweep.__signalLabDrawn ? null : Promise.reject(MISSING))),
      queue(equity, () => data.equity ? drawChart(Plotly, equity, data.equity)
                           : (current ? restyleKept(Plotly, equity, data.kept) : null)),
    ]))
    .then(() => {
      if (current) root.dataset.version = data.version;
    })
    .catch((err) => {
      if (err === MISSING) setTriggerValue("missing", true);
      else part("error").textContent = "The charts could not be drawn: " + err.message;
    });
  return () => {
    current = false;
  };
}
"""

_HTML = """
<div class="signal-lab-live">
  <div class="signal-lab-cards"></div>
  <p class="signal-lab-line"></p>
  <div class="signal-lab-charts">
    <div class="signal-lab-sweep"></div>
    <div class="signal-lab-equity"></div>
  </div>
  <p class="signal-lab-error" role="alert"></p>
  <div class="signal-lab-table"></div>
  <style class="signal-lab-marker"></style>
</div>
"""

_CSS = """
.signal-lab-live { font-family: inherit; color: inherit; }
.signal-lab-cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 1rem; }
.signal-lab-card-label { font-size: 0.875rem; }
.signal-lab-card-value { font-size: 2.25rem; line-height: 1.3; }
.signal-lab-card-delta { font-size: 0.875rem; }
.signal-lab-card-delta.up { color: #21c354; }
.signal-lab-card-delta.down { color: #ff4b4b; }
.signal-lab-line { margin: 1rem 0 0.5rem 0; }
.signal-lab-charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1rem; }
.signal-lab-sweep, .signal-lab-equity { width: 100%; min-height: 100px; }
.signal-lab-error:empty { display: none; }
.signal-lab-table table { border-collapse: collapse; font-size: 0.875rem; }
.signal-lab-table th, .signal-lab-table td {
  padding: 0.25rem 0.75rem; border-bottom: 1px solid rgba(49, 51, 63, 0.1);
}
.signal-lab-table td { text-align: right; font-variant-numeric: tabular-nums; }
.signal-lab-table th { text-align: left; font-weight: 600; }
"""

_component = st.components.v2.component(
    "signal_lab_live_panel", html=_HTML, css=_CSS, js=_JS, isolate_styles=False
)


@dataclass(frozen=True)
class PanelContent:
    """What the panel shows for one slider position (all text already formatted).

    Attributes
    ----------
    cards : list of (label, value, delta or None)
        The headline figures (:func:`pages._shared.headline_cards`).
    line : str
        The sentence after "At this threshold:" (plain text).
    books, rows
        The metrics table (:func:`core.dashboard.metrics_rows`).
    sweep_json : str
        The sweep chart as plotly JSON (:func:`figure_json`), without the
        slider's marker (the same string on every move: cache it).
    equity_json : callable returning str
        The equity chart's whole figure as plotly JSON; called only when the
        whole figure is sent (a full run) and by the fallback.
    equity_kept : dict
        :func:`core.dashboard.kept_trace_update`: the kept trades' trace of that
        figure (what a move changes).
    marker_css : str
        CSS drawing the marker over the sweep chart (its box is :data:`SWEEP_BOX`).
    sweep_marked : callable returning a Figure
        The sweep chart with the marker drawn in; only the fallback calls it.
    version : str
        A label of this position, set on the panel as ``data-version`` once drawn.
    url_params : dict of str to str
        Query parameters the page's URL shows for this position.
    """

    cards: list[tuple[str, str, str | None]]
    line: str
    books: list[str]
    rows: list[list[str]]
    sweep_json: str
    equity_json: Callable[[], str]
    equity_kept: dict[str, Any]
    sweep_marked: Callable[[], go.Figure]
    marker_css: str
    version: str
    url_params: dict[str, str] = field(default_factory=dict)


@functools.cache
def plotly_asset() -> bool:
    """Put the plotly package's ``plotly.min.js`` in ``static/`` (once per process).

    Written to a temporary file in the same folder and renamed over the old one,
    so a browser (or another server starting) never reads half a file.

    Returns
    -------
    bool
        True when ``static/plotly.min.js`` is the plotly package's own copy;
        False when it could not be written (the caller falls back).
    """
    source = Path(plotly.__file__).resolve().parent / "package_data" / ASSET
    target = STATIC / ASSET
    try:
        wanted = source.read_bytes()
        if target.is_file() and not target.is_symlink() and target.read_bytes() == wanted:
            return True
        STATIC.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".plotly-", suffix=".js", dir=STATIC)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(wanted)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)  # already gone once renamed
    except OSError:
        return False
    return True


def served_in_place() -> bool:
    """Whether :func:`live_panel` can draw through the component here."""
    return bool(st.get_option("server.enableStaticServing")) and plotly_asset()


def figure_json(fig: go.Figure | dict[str, Any]) -> str:
    """A figure (or its ``data``/``layout`` dict) as the plotly JSON a chart is drawn from."""
    return plotly.io.to_json(fig, validate=False)


def new_page_run(key: str) -> None:
    """Mark a full run of the page: the panel ``key`` sends its charts whole on this run.

    Call it from the page's own code (not from a fragment) before the panel's
    fragment; a fragment's rerun, which does not call it, sends light updates.
    """
    st.session_state[_page_run(key)] = st.session_state.get(_page_run(key), 0) + 1


def live_panel(content: PanelContent, *, key: str) -> None:
    """Draw ``content``; a later run with the same ``key`` updates it in place.

    Parameters
    ----------
    content : PanelContent
    key : str
        The element's identity: the same key on the next run updates this panel.
        The charts' whole figures are sent on the first call after
        :func:`new_page_run` and when the browser asks for them; otherwise only
        the kept trades' trace.
    """
    if not served_in_place():
        _fallback(content)
        return
    run = st.session_state.get(_page_run(key), 0)
    sent = _whole_sent(key)
    whole = st.session_state.get(sent) != run
    data = {
        "cards": [{"label": a, "value": b, "delta": c} for a, b, c in content.cards],
        "line": content.line,
        "table": {"books": content.books, "rows": content.rows},
        "kept": content.equity_kept,
        "marker_css": content.marker_css,
        "version": content.version,
        "url_params": content.url_params,
    }
    if whole:
        data["sweep"] = content.sweep_json
        data["equity"] = content.equity_json()
    # The browser asks for the whole figures when it has none to update.
    _component(key=key, data=data, on_missing_change=functools.partial(_forget_sent, key))
    st.session_state[sent] = run


def _page_run(key: str) -> str:
    return f"_live_panel_{key}_page_run"


def _whole_sent(key: str) -> str:
    return f"_live_panel_{key}_whole_sent"


def _forget_sent(key: str) -> None:
    st.session_state.pop(_whole_sent(key), None)


def _fallback(content: PanelContent) -> None:
    """The same panel in Streamlit's own elements (each redrawn on a move)."""
    for name, value in content.url_params.items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    for box, (label, value, delta) in zip(
        st.columns(len(content.cards)), content.cards, strict=True
    ):
        box.metric(label, value, delta=delta)
    st.markdown(f"**At this threshold:** {content.line}")
    left, right = st.columns(2)
    left.plotly_chart(content.sweep_marked(), key="thr_sweep_chart")
    right.plotly_chart(plotly.io.from_json(content.equity_json()), key="thr_equity_chart")
    st.markdown(dash.rows_markdown(content.books, content.rows))
