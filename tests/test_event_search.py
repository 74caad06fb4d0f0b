"""Search in the events' descriptions (engine.store.search), on each database's own full-text index, and the
event list's code search and bounded count — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from conftest import GRID_HB1, GRID_LA1
from sqlalchemy import text

from engine.app import Gridloop
from engine.reads import listing, queries
from engine.store import search
from engine.store.db import alembic_config, migrate
from engine.store.models import Event

DESCRIPTIONS = {
    "cover": "幸福路12号门口井盖松动，车辆经过有响声",
    "noise": "工地夜间施工噪音扰民，ABC建筑公司",
    "bridge": "桥下有人摆摊占道经营",
    "percent": "垃圾桶满溢 100% 需要清运_急",
}


def _reported(gl: Gridloop) -> dict[str, str]:
    codes = {}
    for name, description in DESCRIPTIONS.items():
        grid = GRID_LA1 if name == "noise" else GRID_HB1
        reporter = "gw_la1" if name == "noise" else "gw_hb1"
        event = gl.report(reporter, {"category": "0101", "description": description, "grid": grid})
        codes[event["code"]] = name
    return codes


def _found(gl: Gridloop, codes: dict[str, str], username: str = "admin", **filters: Any) -> set[str]:
    rows, _ = gl.list_events(username, **filters)
    return {codes[r["code"]] for r in rows if r["code"] in codes}


def test_the_terms_are_chinese_pairs_with_the_last_alone_and_latin_words_lower_case() -> None:
    assert search.terms("井盖松动") == "井盖 盖松 松动 动"
    assert search.terms("ABC建筑, 12号 桥") == "abc 建筑 筑 12 号 桥"
    assert search.terms("  ，。") is None and search.terms(None) is None
    assert search.words("  井盖  松动 ，  ") == ["井盖", "松动"]  # a word of punctuation alone is no word


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_word_the_index_finds_exactly_is_not_confirmed_by_the_description(dialect: str) -> None:
    def confirmed(text: str) -> bool:
        condition = search.matches(dialect, Event, text)
        assert condition is not None
        return "lower(events.description)" in str(condition.compile())

    assert not any(confirmed(word) for word in ("井盖", "井", "abc", "ABC", "12"))
    assert all(confirmed(word) for word in ("井盖松动", "12号", "100%", "清运_急", "a-b"))


def test_descriptions_are_found_by_chinese_words_single_characters_latin_words_and_numbers(
    gl: Gridloop,
) -> None:
    codes = _reported(gl)
    assert _found(gl, codes, text="井盖") == {"cover"}
    assert _found(gl, codes, text="井盖松动") == {"cover"}
    assert _found(gl, codes, text="松动 响声") == {"cover"}  # every word, anywhere
    assert _found(gl, codes, text="井盖 噪音") == set()
    assert _found(gl, codes, text="盖井") == set()  # the pairs of the word, in its order
    assert _found(gl, codes, text="桥") == {"bridge"}  # one character: the pairs it starts
    assert _found(gl, codes, text="声") == {"cover"}  # or the run it ends
    assert _found(gl, codes, text="abc") == {"noise"}  # Latin words whatever their case
    assert _found(gl, codes, text="AB") == {"noise"}  # from their start
    assert _found(gl, codes, text="12号") == {"cover"}
    assert _found(gl, codes, text="100%") == {"percent"}  # LIKE's wildcards are the characters typed
    assert len(gl.list_events("admin", text="%，")[0]) == len(codes)  # nothing to look for: no filter
    assert _found(gl, codes, text="清运_急") == {"percent"}
    assert _found(gl, codes, text="清运x急") == set()


def test_the_search_stays_within_the_actors_scope_and_combines_with_the_other_filters(gl: Gridloop) -> None:
    codes = _reported(gl)
    assert _found(gl, codes, "gw_hb1", text="噪音") == set()  # the noise is in another grid
    assert _found(gl, codes, "gw_la1", text="噪音") == {"noise"}
    assert _found(gl, codes, text="占道", grid=GRID_LA1) == set()
    bridge = next(code for code, name in codes.items() if name == "bridge")
    assert _found(gl, codes, text="占道", code=bridge) == {"bridge"}


def test_the_migration_indexes_the_descriptions_kept_before_it(gl: Gridloop) -> None:
    codes = _reported(gl)
    engine = gl.db.engine
    command.downgrade(alembic_config(engine), "0019")
    migrate(engine)
    assert _found(gl, codes, text="夜间施工") == {"noise"}
    cover = next(code for code, name in codes.items() if name == "cover")
    with engine.begin() as connection:  # and the index keeps up with what changes afterwards
        connection.execute(
            text("UPDATE events SET description = '改写', search_terms = :t WHERE code = :c"),
            {"t": search.terms("改写"), "c": cover},
        )
    assert _found(gl, codes, text="改写") == {"cover"}
    assert _found(gl, codes, text="井盖") == set()


def test_an_event_code_is_found_whole_or_by_its_beginning(gl: Gridloop) -> None:
    codes = _reported(gl)
    first = min(codes)
    assert _found(gl, codes, code=first) == {codes[first]}
    assert _found(gl, codes, code=first.lower()) == {codes[first]}
    assert _found(gl, codes, code=first[:9]) == set(codes.values())  # the day's
    assert _found(gl, codes, code=first[-4:]) == set()
    assert _found(gl, codes, code="E2026%") == set()
    # listed newest first by code (the report's day, then the case's number): the code's index gives the page
    rows, _ = gl.list_events("admin", code=first[:7], per_page=2)
    assert [r["code"] for r in rows] == sorted(codes, reverse=True)[:2]


def test_a_list_counts_its_rows_up_to_the_limit_and_says_there_are_more(
    gl: Gridloop, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = _reported(gl)
    rows, total = gl.list_events("admin", per_page=2)
    assert len(rows) == 2 and total == len(codes)
    monkeypatch.setattr(queries, "COUNT_LIMIT", 2)
    assert gl.list_events("admin", per_page=2)[1] == 3  # the limit and one: "more than"
    assert gl.inbox("intake", "claimable")[1] == 3
    assert listing.Listing(rows, total, 1, 2).pages == 2
    more = listing.Listing([], listing.COUNT_LIMIT + 1, 1, 20)
    assert more.more and more.pages == listing.COUNT_LIMIT // 20
    assert not listing.Listing([], listing.COUNT_LIMIT, 1, 20).more
