"""The full-text index in the PostgreSQL store: a `tsvector` per passage, a GIN index, `ts_rank` ranking.

The PostgreSQL twin of `search.sqlite_index`, with the same passages (`passages.passages`), the same `Hit`s and
`Doc`s, and the same filters. Tables (created by the store's migration `SCHEMA`):

| table | holds |
| --- | --- |
| `search_docs` | one row per indexed transcript: what a hit's title line shows, the provider's speaker names |
| `search_passages` | one row per passage: transcript id, first segment and word, speaker label, display name, |
| | start/end SECONDS, text, and `tsv` (generated from the name and the text, GIN-indexed) |

Words are split as SQLite's `unicode61` tokenizer and the query parser split them (runs of letters and digits,
`terms`), then folded and stemmed by the text-search configuration `mavi_search`: the original Porter stemmer
(Snowball's `porter`, as FTS5's `porter` tokenizer; `english`'s Porter2 stems "quarterly" to "quarter", FTS5
does not) WITHOUT a stop-word list (FTS5 keeps "the", "not", "what"; `english` would drop them and a query of
such words would match nothing). So both backends find the same passages; they rank them by different formulas
(BM25 there, `ts_rank` here, `NORMALIZATION`). A match in the speaker's name weighs `NAME_WEIGHT` of one in the
text (weights B and A of `ts_rank`). Diacritics are not folded (that needs the `unaccent` extension). Matches
are marked by `ts_headline` over the passage's text.

Every function takes the caller's `psycopg.AsyncConnection` and runs in its transaction (none commits):
`index_transcript` in the transaction that saves the transcript, `reindex_names` in the one that stores a
rename. PostgreSQL docs: https://www.postgresql.org/docs/current/textsearch.html (ts_rank, ts_headline).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, cast

from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from mavi_mcp.search.passages import MARK_CLOSE, MARK_OPEN, Doc, Hit, display_name, passages
from mavi_mcp.transcript import Transcript

NAME_WEIGHT: Final = 0.5
"""Weight of a match in the speaker's name relative to one in the spoken text (1.0), as `sqlite_index`."""

NORMALIZATION: Final = 1
"""`ts_rank`'s normalization: divide by 1 + log(passage length). Of the flags, the closest to FTS5's BM25 order on
the bundled calls (tests/test_store_contract.py compares them): long passages do not win on length alone."""

CONFIG: Final = "mavi_search"
"""The text-search configuration of the index and of every query (`query.to_tsquery` text goes through it)."""

SCHEMA: Final = (
    "CREATE TEXT SEARCH DICTIONARY mavi_english_stem (TEMPLATE = snowball, Language = porter)",
    f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = pg_catalog.english)",
    f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} ALTER MAPPING FOR asciiword, word, hword_asciipart, hword_part,"
    " asciihword, hword WITH mavi_english_stem",
    """CREATE TABLE search_docs (
        transcript_id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT,
        endpoint TEXT NOT NULL,
        recording TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        duration DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        speakers JSONB NOT NULL DEFAULT '{}'
    )""",
    f"""CREATE TABLE search_passages (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transcript_id TEXT NOT NULL,
        segment INTEGER NOT NULL,
        word INTEGER NOT NULL,
        speaker TEXT,
        start_s DOUBLE PRECISION NOT NULL,
        end_s DOUBLE PRECISION NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        name_terms TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        terms TEXT NOT NULL,
        tsv TSVECTOR GENERATED ALWAYS AS (
            setweight(to_tsvector('{CONFIG}'::regconfig, name_terms), 'B')
            || setweight(to_tsvector('{CONFIG}'::regconfig, terms), 'A')
        ) STORED
    )""",
    "CREATE INDEX search_passages_transcript ON search_passages (transcript_id, speaker)",
    "CREATE INDEX search_passages_tsv ON search_passages USING GIN (tsv)",
)
"""The index's tables, for the PostgreSQL store's migration (one statement each)."""

_TOKEN = re.compile(r"[^\W_]+")
_WEIGHTS: Final = f"{{0, 0, {NAME_WEIGHT}, 1.0}}"  # ts_rank weights for D, C, B, A
_HEADLINE: Final = f'StartSel="{MARK_OPEN}", StopSel="{MARK_CLOSE}", HighlightAll=true'


def terms(text: str) -> str:
    """`text` as the index reads it: its runs of letters and digits, space-separated (as FTS5's `unicode61`)."""
    return " ".join(_TOKEN.findall(text))


async def index_transcript(
    conn: AsyncConnection[Any], transcript: Transcript, names: Mapping[str, str] | None = None
) -> int:
    """Index `transcript` (replacing an earlier index of the same id); `names` are the user's renames
    (label -> name). Returns the number of passages indexed (0 for a diarization: no words). Pipeline-safe:
    no statement reads an answer."""
    await delete_transcript(conn, transcript.id)
    names = names or {}
    provider = {s.label: s.name for s in transcript.speakers if s.name}
    doc = Doc.of(transcript)
    await conn.execute(
        "INSERT INTO search_docs (transcript_id, provider, model, endpoint, recording, created_at, duration, kind,"
        " speakers) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            doc.transcript_id,
            doc.provider,
            doc.model,
            doc.endpoint,
            doc.recording,
            doc.created_at,
            doc.duration,
            doc.kind,
            json.dumps(provider, ensure_ascii=False),
        ),
    )
    found = passages(transcript)
    if not found:
        return 0
    columns: list[list[Any]] = [[] for _ in range(9)]
    for p in found:
        name = display_name(p.speaker, names, provider)
        row = (p.segment, p.word, p.speaker, p.start, p.end, name, terms(name), p.text, terms(p.text))
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    # one statement for every passage: arrays unnested server-side
    await conn.execute(
        "INSERT INTO search_passages (transcript_id, segment, word, speaker, start_s, end_s, name, name_terms, text,"
        " terms) SELECT %s, * FROM unnest(%s::int[], %s::int[], %s::text[], %s::float8[], %s::float8[], %s::text[],"
        " %s::text[], %s::text[], %s::text[])",
        (transcript.id, *columns),
    )
    return len(found)


async def delete_transcript(conn: AsyncConnection[Any], transcript_id: str) -> None:
    """Remove a transcript from the index (nothing happens if it is not indexed)."""
    await conn.execute("DELETE FROM search_passages WHERE transcript_id = %s", (transcript_id,))
    await conn.execute("DELETE FROM search_docs WHERE transcript_id = %s", (transcript_id,))


async def reindex_names(conn: AsyncConnection[Any], transcript_id: str, names: Mapping[str, str]) -> int:
    """Make speaker names searchable as they now read: `names` are ALL the user's renames in effect for the
    transcript (label -> name; a speaker without one falls back to the provider's name). Call in the transaction
    that stored them. Returns the number of passages updated."""
    cursor = conn.cursor(row_factory=tuple_row)
    await cursor.execute("SELECT speakers FROM search_docs WHERE transcript_id = %s", (transcript_id,))
    row = await cursor.fetchone()
    if row is None:
        return 0
    provider = cast(dict[str, str], row[0] or {})
    await cursor.execute(
        "SELECT DISTINCT speaker FROM search_passages WHERE transcript_id = %s AND speaker IS NOT NULL",
        (transcript_id,),
    )
    labels = [str(r[0]) for r in await cursor.fetchall()]
    changed = 0
    for label in labels:
        name = display_name(label, names, provider)
        await cursor.execute(
            "UPDATE search_passages SET name = %s, name_terms = %s WHERE transcript_id = %s AND speaker = %s"
            " AND name != %s",
            (name, terms(name), transcript_id, label, name),
        )
        changed += max(cursor.rowcount, 0)
    return changed


async def search(
    conn: AsyncConnection[Any],
    tsquery: str,
    *,
    transcript_id: str | None = None,
    speakers: Sequence[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Hit]:
    """Passages matching `tsquery` (text for `to_tsquery`, from `query.to_tsquery`), best first (`ts_rank`, ties
    in passage order), with the filters and `marked` text of `sqlite_index.search` (times in SECONDS)."""
    where = ["p.tsv @@ q.q"]
    args: list[Any] = [tsquery]
    if transcript_id is not None:
        where.append("p.transcript_id = %s")
        args.append(transcript_id)
    if speakers:
        where.append("(p.speaker = ANY(%s) OR lower(p.name) = ANY(%s))")
        args.extend([list(speakers), [s.lower() for s in speakers]])
    if start is not None:
        where.append("p.end_s >= %s")
        args.append(start)
    if end is not None:
        where.append("p.start_s <= %s")
        args.append(end)
    # rank first (ids and scores only), then read and highlight only the page
    # only the fixed conditions above are interpolated; every value is a parameter
    sql = (
        "WITH q AS (SELECT to_tsquery(%s::regconfig, %s) AS q), ranked AS ("  # noqa: S608
        " SELECT p.id, ts_rank(%s::float4[], p.tsv, q.q, %s) AS score FROM search_passages p, q"
        f" WHERE {' AND '.join(where)} ORDER BY score DESC, p.id LIMIT %s OFFSET %s)"
        " SELECT p.transcript_id, p.segment, p.word, p.speaker, p.name, p.start_s, p.end_s, p.text,"
        " ts_headline(%s::regconfig, p.text, q.q, %s), r.score FROM ranked r JOIN search_passages p ON p.id = r.id,"
        " q ORDER BY r.score DESC, r.id"
    )
    cursor = conn.cursor(row_factory=tuple_row)
    params = [CONFIG, args[0], _WEIGHTS, NORMALIZATION, *args[1:], limit, offset, CONFIG, _HEADLINE]
    await cursor.execute(cast(Any, sql), params)
    return [
        Hit(
            transcript_id=r[0],
            segment=r[1],
            word=r[2],
            speaker=r[3],
            name=r[4] or None,
            start=r[5],
            end=r[6],
            text=r[7],
            marked=r[8],
            score=float(r[9]),
        )
        for r in await cursor.fetchall()
    ]


async def docs(conn: AsyncConnection[Any], transcript_ids: Iterable[str]) -> dict[str, Doc]:
    """The title-line facts of indexed transcripts, by id (ids not indexed are left out)."""
    ids = list(dict.fromkeys(transcript_ids))
    if not ids:
        return {}
    cursor = conn.cursor(row_factory=tuple_row)
    await cursor.execute(
        "SELECT transcript_id, provider, model, endpoint, recording, created_at, duration, kind FROM search_docs"
        " WHERE transcript_id = ANY(%s)",
        (ids,),
    )
    return {r[0]: Doc(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in await cursor.fetchall()}


async def indexed(conn: AsyncConnection[Any]) -> set[str]:
    """Ids of the transcripts in the index."""
    cursor = conn.cursor(row_factory=tuple_row)
    await cursor.execute("SELECT transcript_id FROM search_docs")
    return {str(r[0]) for r in await cursor.fetchall()}
