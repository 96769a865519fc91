"""The Thresholds slider's panel, updated in place in the browser on every move.

A slider move reruns its fragment, and Streamlit's browser side draws every
element of that fragment again (styled React components, Markdown parsing, and
``st.plotly_chart`` re-creates a chart whose figure changed): about 0.2 s of the
browser's time a move on this page, most of what a move cost above Streamlit's
own floor. :func:`live_panel` draws the headline figures, the metrics table and
the two charts as one ``st.components.v2`` element keyed by ``key``: on a move the
element stays, and its script replaces the figures' text and hands the equity
chart's new figure to ``Plotly.react``; the sweep chart, whose figure does not
change with the slider, is left as drawn and its marker is moved by CSS.

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

function drawChart(Plotly, el, figureJson) {
  if (el.__signalLabFigure === figureJson) return Promise.resolve();
  const figure = JSON.parse(figureJson);
  const layout = figure.layout || {};
  el.style.height = (layout.height || 450) + "px";
  return Plotly.react(el, figure.data || [], layout, CONFIG).then(() => {
    el.__signalLabFigure = figureJson;
  });
}

export default function ({ data, parentElement }) {
  const root = parentElement.querySelector(".signal-lab-live");
  const part = (name) => root.querySelector(".signal-lab-" + name);
  showInUrl(data.url_params);
  drawCards(part("cards"), data.cards);
  const line = part("line");
  line.replaceChildren(node("strong", "", "At this threshold: "), document.createTextNode(data.line));
  drawTable(part("table"), data.table);
  part("marker").textContent = data.marker_css;
  let current = true;
  loadPlotly()
    .then((Plotly) => {
      if (!current) return;
      return Promise.all([drawChart(Plotly, part("sweep"), data.sweep),
                          drawChart(Plotly, part("equity"), data.equity)]);
    })
    .then(() => {
      if (current) root.dataset.version = data.version;
    })
    .catch((err) => {
      part("error").textContent = "The charts could not be drawn: " + err.message;
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
    sweep_json, equity_json : str
        The two charts as plotly JSON (:func:`figure_json`); the sweep chart
        without the slider's marker (the same string on every move: cache it).
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
    equity_json: str
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


def live_panel(content: PanelContent, *, key: str) -> None:
    """Draw ``content``; a later run with the same ``key`` updates it in place.

    Parameters
    ----------
    content : PanelContent
    key : str
        The element's identity: the same key on the next run updates this panel.
    """
    if not served_in_place():
        _fallback(content)
        return
    _component(
        key=key,
        data={
            "cards": [{"label": a, "value": b, "delta": c} for a, b, c in content.cards],
            "line": content.line,
            "table": {"books": content.books, "rows": content.rows},
            "sweep": content.sweep_json,
            "equity": content.equity_json,
            "marker_css": content.marker_css,
            "version": content.version,
            "url_params": content.url_params,
        },
    )


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
    right.plotly_chart(plotly.io.from_json(content.equity_json), key="thr_equity_chart")
    st.markdown(dash.rows_markdown(content.books, content.rows))
