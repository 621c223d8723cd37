"""Ingest without a terminal: feed items in, flows, rows, events and numbers out."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.events.model import Event
from inspector.flows.fold import fold_events
from inspector.flows.model import OPEN
from inspector.io.capture_file import read_capture
from inspector.tap.feeds import Batch, SourceInfo, SourceStatus
from tests.tui.conftest import SHOP
from tui.detail_text import EventLane, MessageList
from tui.event_log import EventLog, merged_events, save_snapshot
from tui.model import Changes, Inbox, Model, step
from tui.stats import LiveStats, percentile


def shop_events() -> list[Event]:
    return read_capture(SHOP).events


def ingest_in(model: Model, events: list[Event], size: int, source: str = "",
              started: float = 1000.0) -> None:
    items: list = [SourceInfo(source, started)]
    items += [Batch(source, events[i:i + size]) for i in range(0, len(events), size)]
    model.ingest(items)


def summary(flows: list) -> list[tuple]:
    return [(f.type, f.method, f.path, f.status, f.state, len(f.messages)) for f in flows]


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_any_batch_size_gives_the_flows_of_the_whole_fold(size: int) -> None:
    events = shop_events()
    model = Model()
    ingest_in(model, events, size)
    whole = [f for f in fold_events(events) if f.type != "lifespan"]
    assert summary(model.store.flows) == summary(whole)
    assert len(model.store) == len(whole) == 14
    assert model.log.events == len(events)


def test_event_lane_and_messages_come_from_the_log() -> None:
    model = Model()
    ingest_in(model, shop_events(), 50)
    ws = next(f for f in model.store.flows if f.path == "/ws")
    lane = EventLane(ws, model.log)
    assert len(lane) == len(ws.event_seqs)
    assert "websocket" in lane[0].plain and "websocket.accept" in "".join(
        lane[i].plain for i in range(len(lane)))
    messages = MessageList(ws, model.log)
    assert messages.update()
    assert [(m.direction, m.preview) for m in messages.items][:2] == [
        ("in", "hello"), ("out", "echo:hello")]
    assert messages.matching("WORLD") == [2, 3]
    sse = next(f for f in model.store.flows if f.path == "/events")
    events = MessageList(sse, model.log)
    events.update()
    assert [m.preview for m in events.items] == [
        'event: tick\\ndata: {"n": 0}', 'event: tick\\ndata: {"n": 1}',
        'event: tick\\ndata: {"n": 2}']


def test_stats_count_errors_and_percentiles() -> None:
    model = Model()
    ingest_in(model, shop_events(), 100)
    stats = model.stats
    assert stats.errors == 1                      # /boom: 500 and the app raised
    assert stats.flows == 14
    http = sorted(f.duration for f in model.store.flows if f.type == "http")
    assert stats.durations == http
    assert stats.p(0.5) == percentile(http, 0.5)
    assert sum(stats.spark()) == 14


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0


def test_clear_keeps_open_flows_going() -> None:
    events = shop_events()
    slow_conn = next(f.conn for f in fold_events(events) if f.path == "/slow")
    # Stop in the middle of /slow's streamed response.
    cut = next(i for i, e in enumerate(events)
               if e.conn == slow_conn and e.type == "http.response.body")
    model = Model()
    ingest_in(model, events[:cut + 1], 10)
    assert model.store.total == 7
    model.clear()
    assert [f.path for f in model.store.flows] == ["/slow"]
    assert model.store.flows[0].state == OPEN
    model.ingest([Batch("", events[cut + 1:])])
    slow = model.store.flows[0]
    assert slow.path == "/slow" and slow.state == "complete" and slow.response_body_size == 28
    assert model.store.total == 1 + 7          # /slow, then the seven flows after it


def test_sources_share_one_time_axis() -> None:
    events = shop_events()
    model = Model()
    ingest_in(model, events, 100, source="pid 1", started=1000.0)
    ingest_in(model, events, 100, source="pid 2", started=1002.5)
    assert model.offsets == {"pid 1": 0.0, "pid 2": 2.5}
    assert model.store.total == 28
    a = model.store.flows[0]
    b = model.store.flows[14]
    assert (a.source, b.source) == ("pid 1", "pid 2")
    assert model.store.abs_start(b) - model.store.abs_start(a) == pytest.approx(2.5)


def test_status_and_gone_sources() -> None:
    model = Model()
    changes = model.ingest([SourceInfo("pid 7", 1.0),
                            SourceStatus("pid 7", missed=3, dropped=5, ring_events=10,
                                         ring_capacity=100, ring_bytes=1000,
                                         ring_max_bytes=10_000)])
    assert changes.sources_changed and changes.status_changed
    buffer = model.buffer()
    assert (buffer.events, buffer.capacity, buffer.dropped, buffer.missed) == (10, 100, 5, 3)
    assert not model.loaded
    model.ingest([SourceStatus("pid 7", gone=True, reason="publisher stopped")])
    assert model.sources["pid 7"].gone and model.loaded


def test_step_applies_within_its_budget_and_keeps_the_rest() -> None:
    events = shop_events()
    inbox = Inbox(max_events=10)
    for i in range(0, len(events), 5):
        inbox.put(Batch("", events[i:i + 5]))
    assert inbox.full
    model = Model()
    first = step(model, inbox, budget=0.0)        # at least one item, then stop
    assert first.events == 5 and len(inbox) > 0
    rest = Changes()
    while len(inbox):
        rest.merge(step(model, inbox, budget=1.0))
    assert model.log.events == len(events)
    assert not inbox.full and inbox.pending_events == 0


def test_event_log_cuts_huge_payloads_like_the_recorder() -> None:
    log = EventLog(body_cap=100)
    body = b"x" * 1000
    log.add("", [Event(0, 1, 0.0, "scope", {"type": "http", "path": "/"}),
                 Event(1, 1, 0.1, "receive", {"type": "http.request", "body": body}),
                 Event(2, 1, 0.2, "receive", {"type": "websocket.receive", "text": "é" * 80})])
    cut = log.get("", 1)
    assert cut is not None and cut.message["body"] == b"x" * 100 and cut.truncated == 1000
    text = log.get("", 2)
    assert text is not None and text.truncated is None    # 80 characters: under the cap
    assert log.get("", 3) is None and log.get("other", 0) is None


def test_saving_several_sources_makes_one_consistent_capture(tmp_path: Path) -> None:
    events = shop_events()
    model = Model()
    ingest_in(model, events, 100, source="pid 1", started=1000.0)
    ingest_in(model, events, 100, source="pid 2", started=1001.0)
    merged = list(merged_events(model.log.snapshot(model.offsets)))
    assert [e.seq for e in merged] == list(range(len(events) * 2))
    assert [e.time for e in merged] == sorted(e.time for e in merged)
    path = tmp_path / "both.jsonl"
    n = save_snapshot(model.log.snapshot(model.offsets), str(path), {"started": 1000.0})
    assert n == len(events) * 2
    flows = [f for f in fold_events(read_capture(path).events) if f.type != "lifespan"]
    assert len(flows) == 28 and len({f.conn for f in flows}) == 28
    assert sorted(summary(flows)) == sorted(summary(model.store.flows))


def test_saving_one_source_keeps_its_numbering(tmp_path: Path) -> None:
    events = shop_events()
    model = Model()
    ingest_in(model, events, 100)
    path = tmp_path / "one.jsonl"
    save_snapshot(model.log.snapshot(model.offsets), str(path), {"started": 1.0}, missed=4)
    again = read_capture(path)
    assert [(e.seq, e.conn, e.time, e.kind) for e in again.events] == \
        [(e.seq, e.conn, e.time, e.kind) for e in events]
    assert again.missed == 4


def test_live_stats_ignore_lifespan_and_count_each_flow_once() -> None:
    stats = LiveStats()
    model = Model()
    ingest_in(model, shop_events(), 1000)
    flows = model.store.flows
    stats.observe(flows, {})
    stats.observe(flows, {})
    assert stats.flows == 14 and stats.errors == 1


def test_event_log_events_of_decodes_runs_like_one_at_a_time() -> None:
    """`events_of` decodes runs of consecutive seqs at once: the same events as `get` on
    each seq, in the given order, skipping what is not held (gaps between chunks)."""
    import random

    from tui.event_log import EventLog

    log = EventLog()
    held = [*range(0, 10), *range(15, 30), 40]
    events = [Event(s, 1, float(s), "send", {"type": "x", "n": s}) for s in held]
    log.add("a", events[:10])
    log.add("a", events[10:25])
    log.add("a", events[25:])
    rng = random.Random(7)
    for _ in range(2000):
        seqs = sorted(rng.sample(range(0, 45), rng.randint(0, 25)))
        if rng.random() < 0.3:
            rng.shuffle(seqs)
        want = [e for e in (log.get("a", s) for s in seqs) if e is not None]
        assert [(e.seq, e.message) for e in log.events_of("a", seqs)] == \
            [(e.seq, e.message) for e in want]
    assert log.events_of("other", [1, 2]) == []
