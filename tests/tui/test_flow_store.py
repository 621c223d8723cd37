"""The flow list's index, without a terminal: filter, sort, move, find."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.flows.model import COMPLETE, Flow
from tui.flow_store import ARRIVAL, SORT_KEYS, FlowStore, Sort


def flow(conn: int, *, status: int | None = None, start: float = 0.0,
         end: float | None = None, path: str = "/", kind: str = "http",
         source: str = "") -> Flow:
    f = Flow(conn, kind, source)  # type: ignore[arg-type]
    f.status, f.start, f.end, f.path = status, start, end, path
    if end is not None:
        f.state = COMPLETE
    return f


def shown(store: FlowStore) -> list[int]:
    return [store.row(i).conn for i in range(len(store))]


def test_arrival_order_appends_and_lifespan_is_not_listed() -> None:
    store = FlowStore()
    assert store.update([flow(1), flow(2), flow(3, kind="lifespan")])
    assert shown(store) == [1, 2]
    assert store.update([flow(4)])
    assert shown(store) == [1, 2, 4]
    assert store.total == 3


def test_touching_a_flow_without_change_changes_nothing() -> None:
    store = FlowStore()
    a = flow(1)
    store.update([a])
    assert not store.update([a])


def test_sort_by_duration_moves_a_flow_when_it_finishes() -> None:
    store = FlowStore()
    a, b, c = flow(1, start=0, end=0.5), flow(2, start=0), flow(3, start=0, end=0.1)
    store.update([a, b, c])
    store.set_sort(Sort("duration"))
    assert shown(store) == [3, 1, 2]          # still open: last
    b.end = 0.2
    assert store.update([b])
    assert shown(store) == [3, 2, 1]
    store.set_sort(Sort("duration", reverse=True))
    assert shown(store) == [1, 2, 3]
    assert store.index_of(b) == 1


def test_filter_membership_follows_updates() -> None:
    store = FlowStore()
    a, b = flow(1, status=200), flow(2)
    store.update([a, b])
    store.set_filter(lambda f: f.status is not None and f.status >= 500)
    assert shown(store) == []
    b.status = 503
    assert store.update([b])
    assert shown(store) == [2]
    assert store.index_of(a) is None
    b.status = 200
    store.update([b])
    assert shown(store) == []
    store.set_filter(None)
    assert shown(store) == [1, 2]


def test_newest_is_the_last_arrival_whatever_the_sort() -> None:
    store = FlowStore()
    flows = [flow(i, start=10 - i, end=10 - i + 0.1) for i in range(1, 6)]
    store.update(flows)
    store.set_sort(Sort("time"))
    assert shown(store) == [5, 4, 3, 2, 1]
    assert store.newest() is flows[-1]
    assert store.index_of(flows[-1]) == 0


def test_time_sort_uses_the_shared_axis_of_sources() -> None:
    store = FlowStore()
    a, b = flow(1, start=5.0, source="pid 1"), flow(1, start=1.0, source="pid 2")
    store.update([a, b])
    store.set_offsets({"pid 1": 0.0, "pid 2": 10.0})
    store.set_sort(Sort("time"))
    assert [store.row(i).source for i in range(2)] == ["pid 1", "pid 2"]
    assert store.abs_start(b) == 11.0


def test_bulk_update_of_many_flows() -> None:
    store = FlowStore()
    flows = [flow(i, start=i, status=200 + i % 3) for i in range(500)]
    store.update(flows)
    store.set_sort(Sort("status"))
    for f in flows[::2]:
        f.status = 500
    assert store.update(flows[::2])
    statuses = [store.row(i).status for i in range(len(store))]
    assert statuses == sorted(statuses)


def test_unknown_sort_column_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError):
        FlowStore().set_sort(Sort("nope"))


def test_clear_forgets_everything() -> None:
    store = FlowStore()
    store.update([flow(1), flow(2)])
    store.clear()
    assert len(store) == 0 and store.total == 0 and store.newest() is None


# -- the invariant, under random updates ----------------------------------------------------

changes = st.lists(st.tuples(st.integers(0, 19),                   # which flow
                             st.one_of(st.none(), st.integers(100, 599)),   # status
                             st.one_of(st.none(), st.floats(0, 10))),       # duration
                   max_size=60)


@settings(max_examples=150, deadline=None)
@given(changes, st.sampled_from(sorted(SORT_KEYS)), st.booleans(), st.booleans())
def test_rows_are_always_the_filtered_flows_in_sorted_order(
        updates: list[tuple[int, int | None, float | None]], column: str, reverse: bool,
        filtered: bool) -> None:
    store = FlowStore()
    flows = [flow(i, start=i * 0.5, path=f"/{i % 7}") for i in range(20)]
    predicate = (lambda f: f.status is None or f.status < 400) if filtered else None
    store.set_filter(predicate)
    store.set_sort(Sort(column, reverse))
    seen: list[Flow] = []
    for i, status, duration in updates:
        f = flows[i]
        f.status = status
        f.end = None if duration is None else f.start + duration
        if f not in seen:
            seen.append(f)
        store.update([f])
    expected = [f for f in seen if predicate is None or predicate(f)]
    make = SORT_KEYS[column]
    order = {id(f): n for n, f in enumerate(seen)}
    expected.sort(key=lambda f: (*make(f, f.start), order[id(f)]))
    if reverse:
        expected.reverse()
    assert [store.row(i) for i in range(len(store))] == expected
    for row, f in enumerate(expected):
        assert store.index_of(f) == row
    if column == ARRIVAL and not reverse and expected:
        assert store.newest() is expected[-1]
