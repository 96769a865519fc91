"""Light figures of the Thresholds page: the same JSON as the validated plotly figures."""

from __future__ import annotations

import base64
import copy
import json
import math

import numpy as np
import plotly.io
import plotly.tools
import pytest

from core import dashboard as dash
from core.dashboard import slider, synthetic_signal_log, thresholds
from core.errors import ValidationError


def _as_streamlit_sends(fig) -> dict:
    """The JSON ``st.plotly_chart`` sends for a figure (its own conversion)."""
    figure = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
    return json.loads(plotly.io.to_json(figure, validate=False))


@pytest.fixture(scope="module")
def trades():
    log = synthetic_signal_log(1_500, seed=2)
    return log.rename(columns={"timestamp": "entry_time"}).assign(
        win=lambda f: f["return_pct"] > 0, calibrated_probability=float("nan")
    )


@pytest.mark.parametrize("mode", ["absolute", "percentile"])
@pytest.mark.parametrize("metric", ["sharpe", "win_rate"])
def test_light_sweep_figure_equals_the_validated_one(trades, mode, metric):
    view = dash.threshold_view(trades, mode=mode)
    spec = thresholds.sweep_figure_spec(view, metric=metric)
    untouched = copy.deepcopy(spec)
    for current in (None, 0.42 if mode == "absolute" else 37.0):
        light = thresholds.light_sweep_figure(spec, current=current)
        full = dash.sweep_figure(view, metric=metric, current=current)
        assert _as_streamlit_sends(light) == _as_streamlit_sends(full)
    assert plotly.io.to_json(spec) == plotly.io.to_json(untouched)


@pytest.mark.parametrize(("mode", "thresholds_"), [("absolute", (0.2, 0.6, 1.0)),
                                                  ("percentile", (5.0, 50.0))])  # fmt: skip
def test_light_equity_figure_equals_the_validated_one(trades, mode, thresholds_):
    book = dash.book_arrays(trades)
    template = slider.equity_template(dash.filtered_book(book, threshold=0.0))
    untouched = copy.deepcopy(template.spec)
    for t in thresholds_:
        filtered = dash.filtered_book(book, threshold=t, mode=mode)
        light = slider.light_equity_figure(template, filtered)
        assert _as_streamlit_sends(light) == _as_streamlit_sends(dash.equity_figure(filtered))
    assert plotly.io.to_json(template.spec) == plotly.io.to_json(untouched)


def test_light_equity_figure_refuses_a_template_of_other_dates(trades):
    book = dash.book_arrays(trades)
    other = dash.book_arrays(trades.iloc[:700])
    template = slider.equity_template(dash.filtered_book(other, threshold=0.0))
    with pytest.raises(ValidationError, match="equity_template"):
        slider.light_equity_figure(template, dash.filtered_book(book, threshold=0.5))


def test_percentile_rank_sorted_on_first_use_keeps_the_sweeps_tie_rule(trades):
    tied = trades.assign(confidence=(trades["confidence"] * 10).round() / 10)
    book = dash.book_arrays(tied)
    assert "rank" not in vars(book)  # score mode never sorts by score
    entry = tied["entry_time"].to_numpy("datetime64[ns]").view("int64")
    order = np.argsort(entry, kind="stable")
    by_entry = tied.iloc[order]
    # Brute force: every trade's place by descending score, earlier entry first.
    best_first = by_entry.sort_values("confidence", ascending=False, kind="stable").index
    expected = {label: i for i, label in enumerate(best_first)}
    when = by_entry.sort_values("entry_time", kind="stable").index  # no exit times here
    assert [expected[label] for label in when] == book.rank.tolist()
    assert vars(book)["rank"] is book.rank  # kept after the first use
    kept = dash.filtered_book(book, threshold=25, mode="percentile")
    assert kept.value("n_trades") == math.ceil(0.25 * book.n)


def test_light_equity_spec_serialises_as_the_light_figure(trades):
    """The dict the panel serialises gives the same JSON as the figure built from it."""
    book = dash.book_arrays(trades)
    template = slider.equity_template(dash.filtered_book(book, threshold=0.0))
    filtered = dash.filtered_book(book, threshold=0.55)
    spec = slider.light_equity_spec(template, filtered)
    from_dict = json.loads(plotly.io.to_json(spec, validate=False))
    assert from_dict == _as_streamlit_sends(dash.equity_figure(filtered))
    assert spec["data"][1 - template.trace] is template.spec["data"][1 - template.trace]


@pytest.mark.parametrize(("mode", "threshold"), [("absolute", 0.62), ("percentile", 30.0)])
def test_kept_trace_update_turns_the_drawn_figure_into_the_new_one(trades, mode, threshold):
    """Restyling the kept trace of a figure drawn at one threshold gives the figure of another."""
    book = dash.book_arrays(trades)
    template = slider.equity_template(dash.filtered_book(book, threshold=0.0))
    drawn = json.loads(plotly.io.to_json(
        slider.light_equity_spec(template, dash.filtered_book(book, threshold=0.3)), validate=False
    ))  # fmt: skip
    filtered = dash.filtered_book(book, threshold=threshold, mode=mode)
    update = json.loads(json.dumps(slider.kept_trace_update(template, filtered)))
    trace = drawn["data"][update["trace"]]
    # what the panel's script does (Plotly.restyle of y, customdata, name, hovertemplate)
    trace.update(y=update["y"], customdata=update["y"], name=update["name"],
                 hovertemplate=update["hovertemplate"])  # fmt: skip
    assert drawn == _as_streamlit_sends(dash.equity_figure(filtered))
    y = np.frombuffer(base64.b64decode(update["y"]["bdata"]), dtype="<f8")
    np.testing.assert_array_equal(y, filtered.equity["filtered"].to_numpy())
    other = slider.equity_template(
        dash.filtered_book(dash.book_arrays(trades.iloc[:700]), threshold=0.0)
    )
    with pytest.raises(ValidationError, match="equity_template"):
        slider.kept_trace_update(other, filtered)


def test_metrics_rows_are_the_metrics_table_formatted(trades):
    """Each row's cells are metrics_table's numbers in the formats of the page's grid."""
    filtered = dash.filtered_book(dash.book_arrays(trades), threshold=0.6)
    table = dash.metrics_table(filtered.metrics)
    books, rows = dash.metrics_rows(filtered.metrics)
    assert books == [str(b) for b in table.index]
    assert len(rows) == len(table.columns)
    trades_row = next(r for r in rows if r[0].lower().startswith("trades"))
    assert trades_row[1:] == [f"{v:,.0f}" for v in table["n_trades"]]
    markdown = dash.rows_markdown(books, rows)
    assert markdown.splitlines()[0] == "| Metric | " + " | ".join(books) + " |"
    assert len(markdown.splitlines()) == 2 + len(rows)
