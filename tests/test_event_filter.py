"""EventFilter: one validated set of event filters for query_events, events_frame, count_events."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import ValidationError
from core.events import EventType, outcome_rows, signal_rows
from core.store import EventFilter
from tests.conftest import make_signals


@pytest.fixture
def filled(store):
    for run in ("r1", "r2"):
        signals, outcomes = make_signals(10, seed=1 if run == "r1" else 2)
        store.insert_event_rows([*signal_rows(run, signals), *outcome_rows(run, outcomes)])
    return store


def test_fields_are_normalised_once():
    f = EventFilter(event_type="SIGNAL_ACCURACY", since="2020-01-02", until=pd.Timestamp(
        "2020-01-03 01:00", tz="Europe/Paris"), limit=5)  # fmt: skip
    assert f.event_type is EventType.SIGNAL_ACCURACY
    assert f.since == pd.Timestamp("2020-01-02", tz="UTC")
    assert f.until == pd.Timestamp("2020-01-03 00:00", tz="UTC")
    assert f.where() == (
        " WHERE type = ? AND ts >= ? AND ts < ?",
        ["SIGNAL_ACCURACY", f.since.value, f.until.value],
    )
    assert EventFilter().where() == ("", [])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event_type": "NOPE"}, "event_type: unknown event type 'NOPE'; one of SIGNAL_GENERATED"),
        ({"since": "yesterday-ish"}, "since: cannot read 'yesterday-ish' as a time"),
        ({"until": pd.NaT}, "until: missing time"),
        ({"limit": -1}, "limit: expected a whole number >= 0, got -1"),
        ({"limit": 2.5}, "limit: expected a whole number >= 0, got 2.5"),
        ({"offset": -3}, "offset: expected a whole number >= 0, got -3"),
    ],
)
def test_bad_filters_name_the_field(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        EventFilter(**kwargs)


def test_keyword_and_object_forms_agree(filled):
    f = EventFilter(run_id="r1", event_type=EventType.SIGNAL_GENERATED, since="2020-01-03",
                    limit=4, offset=1)  # fmt: skip
    by_object = filled.query_events(f)
    by_keywords = filled.query_events(run_id="r1", event_type="SIGNAL_GENERATED",
                                      since="2020-01-03", limit=4, offset=1)  # fmt: skip
    assert [e.event_id for e in by_object] == [e.event_id for e in by_keywords]
    assert len(by_object) == 4 and by_object[0].ts == pd.Timestamp("2020-01-04", tz="UTC")
    frame = filled.events_frame(f)
    assert list(frame["event_id"]) == [e.event_id for e in by_object]
    # counting ignores the page
    assert filled.count_events(f) == 8
    assert filled.count_events() == 40 and filled.count_events(symbol="NOPE") == 0


def test_offset_without_limit_skips(filled):
    everything = filled.query_events(run_id="r2")
    assert [e.event_id for e in filled.query_events(run_id="r2", offset=15)] == [
        e.event_id for e in everything[15:]
    ]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((EventFilter(),), {"run_id": "r1"}, "pass an EventFilter or filter keywords, not both"),
        (({"run_id": "r1"},), {}, "filter: expected an EventFilter, got dict"),
        ((), {"runid": "r1"}, "unknown event filter.*runid; use event_type, run_id"),
    ],
)
def test_misuse_is_a_clear_error(store, args, kwargs, message):
    for method in (store.query_events, store.events_frame, store.count_events):
        with pytest.raises(ValidationError, match=message):
            method(*args, **kwargs)
