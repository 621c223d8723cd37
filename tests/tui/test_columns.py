"""Which flow-list columns a width shows (`tui.columns.fit`): pure, no Textual."""

from __future__ import annotations

import time

import pytest

from tui.columns import PATH_ROOM, Clock, Column, columns, fit

WALL = Clock("wall", base_wall=0.0)
ALL = ["finding", "time", "kind", "method", "path", "status", "duration", "ttfb", "request", "response"]


def shown(width: int, clock: Clock = WALL, with_source: bool = False) -> dict[str, int]:
    return {column.key: w for column, w in fit(columns(clock, with_source), width)}


@pytest.mark.parametrize(("width", "expected", "path"), [
    # Wide: every column at full width, the path takes the rest.
    (200, ALL, 131),
    (140, ALL, 71),
    (100, ALL, 31),
    # 80: the time loses its milliseconds, Resp then Req drop; the path gets 31 cells.
    (80, ["finding", "time", "kind", "method", "path", "status", "duration", "ttfb"], 31),
    # 60: TTFB, Kind and Time go too; the marker, method, path, status, duration stay.
    (60, ["finding", "method", "path", "status", "duration"], 34),
])
def test_the_columns_a_width_shows(width: int, expected: list[str], path: int) -> None:
    chosen = shown(width)
    assert list(chosen) == expected
    assert chosen["path"] == path
    # The line is used to the last cell: widths plus one space between two columns.
    assert sum(chosen.values()) + len(chosen) - 1 == width


def test_the_time_shortens_before_any_column_drops() -> None:
    full = shown(100)
    assert full["time"] == 12
    # One cell less than all full widths with PATH_ROOM: only the time narrows.
    fixed = sum(w for key, w in full.items() if key != "path") + len(full) - 1
    narrower = shown(fixed + PATH_ROOM - 1)
    assert list(narrower) == ALL
    assert narrower["time"] == 8


def test_columns_give_way_in_priority_order_and_the_path_never_does() -> None:
    order: list[str] = []
    previous = set(ALL)
    for width in range(200, 0, -1):
        now = set(shown(width))
        assert "path" in now
        order += sorted(previous - now)
        assert now <= previous          # narrower never brings a column back
        previous = now
    # The finding marker is one cell and the last to go before the path.
    assert order == ["response", "request", "ttfb", "kind", "time", "duration", "method",
                     "status", "finding"]
    assert shown(1) == {"path": 1}


def test_the_source_column_gives_way_after_ttfb() -> None:
    assert list(shown(100, with_source=True)) == [
        "finding", "time", "kind", "method", "path", "status", "duration", "ttfb", "request", "source"]
    assert "source" in shown(80, with_source=True)
    assert "source" not in shown(70, with_source=True)


def test_a_row_without_a_flexible_column_is_never_cut() -> None:
    cols = [Column("a", "A", 5, priority=2), Column("b", "B", 5, priority=1)]
    assert fit(cols, 4) == [(cols[0], 5), (cols[1], 5)]


def test_the_clock_shows_the_short_format_in_fewer_cells() -> None:
    wall = Clock("wall", base_wall=time.mktime((2026, 12, 7, 12, 34, 56, 0, 0, -1)))
    assert wall.show(0.25) == "12:34:56.250"
    assert wall.show(0.25, 12) == "12:34:56.250"
    assert wall.show(0.25, 8) == "12:34:56"
    relative = Clock("relative")
    assert relative.show(1.2345) == "     1.234"
    assert relative.show(1.2345, 8) == "     1.2"
    assert len(relative.show(1.2345, relative.short_width)) == relative.short_width
