"""Search in the events' descriptions, through each database's own full-text index.

Chinese has no spaces between words, and the searches staff type are mostly two characters (井盖, 占道, 噪音):
too short for a trigram index (PostgreSQL's pg_trgm and SQLite's FTS5 trigram tokenizer both need three
characters to use theirs). So the text is cut here into the terms a CJK full-text index uses (as Lucene's and
Elasticsearch's ``cjk`` analyzers do): each run of Chinese characters into its overlapping character pairs,
plus its last character alone, and each run of Latin letters and digits into one lower-case word. The terms are
kept in ``events.search_terms`` and indexed by the database:

- PostgreSQL: a GIN index over ``array_to_tsvector(string_to_array(search_terms, ' '))`` (the terms are the
  lexemes as they are: no parser, no dictionary), searched with a ``tsquery`` built here;
- SQLite: an FTS5 table ``event_search`` over the column (external content, kept by triggers), searched with
  ``MATCH``.

A search is words separated by spaces, each of which must occur in the description. A word of two or more
Chinese characters is found by its pairs, one character by the pairs it starts (or the run it ends); a Latin
word or a number matches the words and numbers it begins. The index finds the candidates; the description is
then matched against each word itself (``LIKE``), so a case is found exactly when its description holds every
word (a Latin word or number from its start).

The search index's objects are the migration's (0020), not the models': :data:`OBJECTS` names them, for the
schema comparison to leave alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, cast, func, literal_column, select, table, text
from sqlalchemy.dialects.postgresql import TSQUERY

# the database objects the search keeps outside the models: SQLite's FTS5 table (with its shadow tables and
# triggers) and PostgreSQL's expression index
OBJECTS = ("event_search", "ix_events_search")
# PostgreSQL's indexed expression: the index is used only by a query that names it exactly so
PG_VECTOR = "array_to_tsvector(string_to_array(search_terms, ' '))"
# how many words a search may hold (each is a condition on the candidates)
MAX_WORDS = 8


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3400 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FFFF
        or 0x3040 <= code <= 0x30FF  # kana, for the odd Japanese shop sign
    )


def _runs(value: str) -> list[tuple[bool, str]]:
    """The runs of ``value``: (True, Chinese characters) and (False, a lower-case Latin word or number), in
    order; anything else separates them."""
    runs: list[tuple[bool, str]] = []
    current: list[str] = []
    kind: bool | None = None
    for ch in value:
        this = True if _is_cjk(ch) else False if ch.isalnum() else None
        if this is not kind and current:
            runs.append((bool(kind), "".join(current)))
            current = []
        kind = this
        if this is not None:
            current.append(ch.lower())
    if current:
        runs.append((bool(kind), "".join(current)))
    return runs


def terms(description: str | None) -> str | None:
    """The index terms of a description, separated by spaces, each once (None: nothing to index)."""
    found: dict[str, None] = {}
    for cjk, run in _runs(description or ""):
        if cjk:
            for i in range(len(run) - 1):
                found[run[i : i + 2]] = None
            found[run[-1]] = None
        else:
            found[run] = None
    return " ".join(found) or None


def words(search: str | None) -> list[str]:
    """The words of a search as typed (split on spaces, each with something to find), at most
    :data:`MAX_WORDS`."""
    return [w for w in (search or "").split() if _runs(w)][:MAX_WORDS]


def _query_terms(word: str) -> list[tuple[str, bool]]:
    """What a word asks of the index: (term, whether as a prefix)."""
    asked: list[tuple[str, bool]] = []
    for cjk, run in _runs(word):
        if cjk and len(run) > 1:
            asked += [(run[i : i + 2], False) for i in range(len(run) - 1)]
        else:  # one character: the pairs it starts or the run it ends; a word or number: those it begins
            asked.append((run, True))
    return asked


def _pg_query(asked: list[tuple[str, bool]]) -> str:
    return " & ".join(f"'{term}'" + (":*" if prefix else "") for term, prefix in asked)


def _sqlite_query(asked: list[tuple[str, bool]]) -> str:
    return " AND ".join(f'"{term}"' + ("*" if prefix else "") for term, prefix in asked)


def matches(dialect: str, events: Any, search: str | None) -> ColumnElement[bool] | None:
    """SQL condition: the events (the ``events`` table or model) whose description holds every word of
    ``search`` (None when it has no word to look for)."""
    found = words(search)
    if not found:
        return None
    asked = [term for word in found for term in _query_terms(word)]
    if dialect == "postgresql":
        indexed = literal_column(PG_VECTOR).op("@@")(cast(_pg_query(asked), TSQUERY))
    else:
        index = table("event_search")
        indexed = events.id.in_(
            select(literal_column("rowid"))
            .select_from(index)
            .where(text("event_search MATCH :search_query").bindparams(search_query=_sqlite_query(asked)))
        )
    return and_(
        indexed,
        *(
            func.lower(events.description).contains(w.lower(), autoescape=True)
            for w in found
            if not _exact(w)
        ),
    )


def _exact(word: str) -> bool:
    """Whether the index alone finds exactly the descriptions that hold ``word``: a word of one or two Chinese
    characters (its pair, or the pairs it starts and the run it ends) or one Latin word or number (the words it
    begins), typed with nothing else. A longer Chinese word is confirmed by the description itself (its pairs may
    stand apart), as is a word with punctuation or several runs. Asked of the index alone, the planner also
    knows how many cases hold the word (a common one: most, walked newest first until the page is full)."""
    runs = _runs(word)
    if len(runs) != 1:
        return False
    cjk, run = runs[0]
    return run == word.lower() and (not cjk or len(run) <= 2)


def pg_index_sql() -> str:
    """The DDL of PostgreSQL's index."""
    return f"CREATE INDEX IF NOT EXISTS ix_events_search ON events USING gin ({PG_VECTOR})"


SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS event_search USING fts5(search_terms, content='events', "
    "content_rowid='id')",
    "CREATE TRIGGER IF NOT EXISTS event_search_insert AFTER INSERT ON events "
    "WHEN new.search_terms IS NOT NULL BEGIN "
    "INSERT INTO event_search(rowid, search_terms) VALUES (new.id, new.search_terms); END",
    "CREATE TRIGGER IF NOT EXISTS event_search_delete AFTER DELETE ON events "
    "WHEN old.search_terms IS NOT NULL BEGIN "
    "INSERT INTO event_search(event_search, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); END",
    "CREATE TRIGGER IF NOT EXISTS event_search_update AFTER UPDATE OF search_terms ON events BEGIN "
    "INSERT INTO event_search(event_search, rowid, search_terms) "
    "SELECT 'delete', old.id, old.search_terms WHERE old.search_terms IS NOT NULL; "
    "INSERT INTO event_search(rowid, search_terms) "
    "SELECT new.id, new.search_terms WHERE new.search_terms IS NOT NULL; END",
    "INSERT INTO event_search(event_search) VALUES ('rebuild')",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS event_search_insert",
    "DROP TRIGGER IF EXISTS event_search_delete",
    "DROP TRIGGER IF EXISTS event_search_update",
    "DROP TABLE IF EXISTS event_search",
)
