"""The full-text index in the store's SQLite file: FTS5 with BM25 ranking.

Tables (all created by `create_schema`, in the caller's transaction):

| table | holds |
| --- | --- |
| `search_docs` | one row per indexed transcript: what a hit's title line shows, the provider's speaker names |
| `search_passages` | one row per passage (`passages.passages`): transcript id, first segment and word, |
| | speaker label, display name, start/end SECONDS, text |
| `search_fts` | FTS5 over `search_passages` (`name`, `text`), external content, so the text is stored once |

Tokenizer `porter unicode61 remove_diacritics 2`: case and diacritics folded, English (Porter) stemming; the
query side (`query.to_fts5`) quotes every term, so both sides split words the same way.

Every function takes the store's `sqlite3.Connection` and runs inside the caller's transaction (none commits):
`index_transcript` in the transaction that saves the transcript, `reindex_names` in the one that stores a
rename. `search` only reads. FTS5 docs: https://sqlite.org/fts5.html (external content tables, bm25,
highlight).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from mavi_mcp.search.passages import MARK_CLOSE, MARK_OPEN, Doc, Hit, display_name, passages
from mavi_mcp.transcript import Transcript

SCHEMA_VERSION = 1
"""Version of the tables below; a store records it to know when to rebuild the index (`backfill`)."""

NAME_WEIGHT = 0.5
"""BM25 weight of a match in the speaker's name, relative to a match in the spoken text (1.0)."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS search_docs (
        transcript_id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT,
        endpoint TEXT NOT NULL,
        recording TEXT,
        created_at TEXT NOT NULL,
        duration REAL NOT NULL,
        kind TEXT NOT NULL,
        speakers TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE IF NOT EXISTS search_passages (
        id INTEGER PRIMARY KEY,
        transcript_id TEXT NOT NULL,
        segment INTEGER NOT NULL,
        word INTEGER NOT NULL,
        speaker TEXT,
        start REAL NOT NULL,
        end REAL NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS search_passages_transcript ON search_passages(transcript_id, speaker)",
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
        name, text, content='search_passages', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )""",
)


def create_schema(db: sqlite3.Connection) -> None:
    """Create the index tables if missing and set the ranking (idempotent; no commit)."""
    for statement in _SCHEMA:
        db.execute(statement)
    db.execute("INSERT INTO search_fts (search_fts, rank) VALUES ('rank', ?)", (f"bm25({NAME_WEIGHT}, 1.0)",))


def index_transcript(db: sqlite3.Connection, transcript: Transcript, names: Mapping[str, str] | None = None) -> int:
    """Index `transcript` (replacing an earlier index of the same id); `names` are the user's renames
    (label -> name). Returns the number of passages indexed (0 for a diarization: no words).
    """
    delete_transcript(db, transcript.id)
    names = names or {}
    provider = {s.label: s.name for s in transcript.speakers if s.name}
    doc = Doc.of(transcript)
    db.execute(
        "INSERT INTO search_docs (transcript_id, provider, model, endpoint, recording, created_at, duration, kind,"
        " speakers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            doc.transcript_id,
            doc.provider,
            doc.model,
            doc.endpoint,
            doc.recording,
            doc.created_at.isoformat(),
            doc.duration,
            doc.kind,
            json.dumps(provider, ensure_ascii=False),
        ),
    )
    rows = [
        (transcript.id, p.segment, p.word, p.speaker, p.start, p.end, display_name(p.speaker, names, provider), p.text)
        for p in passages(transcript)
    ]
    db.executemany(
        "INSERT INTO search_passages (transcript_id, segment, word, speaker, start, end, name, text)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.execute(
        "INSERT INTO search_fts (rowid, name, text) SELECT id, name, text FROM search_passages WHERE transcript_id = ?",
        (transcript.id,),
    )
    return len(rows)


def delete_transcript(db: sqlite3.Connection, transcript_id: str) -> None:
    """Remove a transcript from the index (nothing happens if it is not indexed)."""
    db.execute(
        "INSERT INTO search_fts (search_fts, rowid, name, text)"
        " SELECT 'delete', id, name, text FROM search_passages WHERE transcript_id = ?",
        (transcript_id,),
    )
    db.execute("DELETE FROM search_passages WHERE transcript_id = ?", (transcript_id,))
    db.execute("DELETE FROM search_docs WHERE transcript_id = ?", (transcript_id,))


def reindex_names(db: sqlite3.Connection, transcript_id: str, names: Mapping[str, str]) -> int:
    """Make speaker names searchable as they now read: `names` are ALL the user's renames in effect for the
    transcript (label -> name; a speaker without one falls back to the provider's name). Call after
    `rename_speakers` stored them, in the same transaction. Returns the number of passages updated.
    """
    row = db.execute("SELECT speakers FROM search_docs WHERE transcript_id = ?", (transcript_id,)).fetchone()
    if row is None:
        return 0
    provider: dict[str, str] = json.loads(row[0])
    labels = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT speaker FROM search_passages WHERE transcript_id = ? AND speaker IS NOT NULL",
            (transcript_id,),
        )
    ]
    changed = 0
    for label in labels:
        name = display_name(label, names, provider)
        where = "FROM search_passages WHERE transcript_id = ? AND speaker = ? AND name != ?"
        args = (transcript_id, label, name)
        delete = f"INSERT INTO search_fts (search_fts, rowid, name, text) SELECT 'delete', id, name, text {where}"
        db.execute(delete, args)
        cursor = db.execute(
            "UPDATE search_passages SET name = ? WHERE transcript_id = ? AND speaker = ? AND name != ?", (name, *args)
        )
        if cursor.rowcount:
            changed += cursor.rowcount
            db.execute(
                "INSERT INTO search_fts (rowid, name, text) SELECT id, name, text FROM search_passages"
                " WHERE transcript_id = ? AND speaker = ?",
                (transcript_id, label),
            )
    return changed


_SELECT_MARKED = (
    "SELECT p.id, p.transcript_id, p.segment, p.word, p.speaker, p.name, p.start, p.end, p.text,"
    " highlight(search_fts, 1, ?, ?) FROM search_fts JOIN search_passages AS p ON p.id = search_fts.rowid"
    " WHERE search_fts MATCH ? AND search_fts.rowid IN"
)


_SELECT_DOCS = "SELECT transcript_id, provider, model, endpoint, recording, created_at, duration, kind FROM search_docs"


def search(
    db: sqlite3.Connection,
    compiled_query: str,
    *,
    transcript_id: str | None = None,
    speakers: Sequence[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Hit]:
    """Passages matching `compiled_query` (an FTS5 expression from `query.to_fts5`), best first (BM25).

    Filters: one transcript; `speakers` as labels (a name given instead matches the display name,
    case-insensitively); passages overlapping the window `start`..`end` (SECONDS). Each hit's `marked` text
    has every matched word between `MARK_OPEN`/`MARK_CLOSE` (FTS5 `highlight`).

    Two steps keep it fast: rank (rowid and bm25 only, the transcript filter as a rowid range, since a
    transcript's passages are inserted together), then read and highlight only the page of hits.
    """
    where = ["search_fts MATCH ?"]
    args: list[Any] = [compiled_query]
    if transcript_id is not None:
        low, high = db.execute(
            "SELECT min(id), max(id) FROM search_passages WHERE transcript_id = ?", (transcript_id,)
        ).fetchone()
        if low is None:
            return []
        where.append("search_fts.rowid BETWEEN ? AND ?")
        args.extend([low, high])
    joined = bool(speakers) or start is not None or end is not None
    if speakers:
        marks = ", ".join("?" * len(speakers))
        where.append(f"(p.speaker IN ({marks}) OR p.name COLLATE NOCASE IN ({marks}))")
        args.extend(speakers)
        args.extend(speakers)
    if start is not None:
        where.append("p.end >= ?")
        args.append(start)
    if end is not None:
        where.append("p.start <= ?")
        args.append(end)
    join = " JOIN search_passages AS p ON p.id = search_fts.rowid" if joined else ""
    # only fixed conditions with placeholders are interpolated
    rank_sql = (
        f"SELECT search_fts.rowid, rank FROM search_fts{join} WHERE {' AND '.join(where)}"  # noqa: S608
        " ORDER BY rank, search_fts.rowid LIMIT ? OFFSET ?"
    )
    ranked = db.execute(rank_sql, [*args, limit, offset]).fetchall()
    if not ranked:
        return []
    order = {rowid: k for k, (rowid, _) in enumerate(ranked)}
    scores = dict(ranked)
    marks = ", ".join("?" * len(ranked))
    marked_sql = f"{_SELECT_MARKED} ({marks})"
    rows = db.execute(marked_sql, [MARK_OPEN, MARK_CLOSE, compiled_query, *order]).fetchall()
    rows.sort(key=lambda r: order[r[0]])
    if transcript_id is not None:  # a transcript's ids are one contiguous range; checked, not assumed
        rows = [r for r in rows if r[1] == transcript_id]
    return [
        Hit(
            transcript_id=r[1],
            segment=r[2],
            word=r[3],
            speaker=r[4],
            name=r[5] or None,
            start=r[6],
            end=r[7],
            text=r[8],
            marked=r[9],
            score=-scores[r[0]],
        )
        for r in rows
    ]


def docs(db: sqlite3.Connection, transcript_ids: Iterable[str]) -> dict[str, Doc]:
    """The title-line facts of indexed transcripts, by id (ids not indexed are left out)."""
    ids = list(dict.fromkeys(transcript_ids))
    out: dict[str, Doc] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        marks = ", ".join("?" * len(chunk))
        sql = f"{_SELECT_DOCS} WHERE transcript_id IN ({marks})"
        for r in db.execute(sql, chunk):
            out[r[0]] = Doc(r[0], r[1], r[2], r[3], r[4], datetime.fromisoformat(r[5]), r[6], r[7])
    return out


def indexed(db: sqlite3.Connection) -> set[str]:
    """Ids of the transcripts in the index."""
    return {r[0] for r in db.execute("SELECT transcript_id FROM search_docs")}


def backfill(
    db: sqlite3.Connection, load_transcripts: Callable[[], Iterable[tuple[Transcript, Mapping[str, str]]]]
) -> int:
    """Index every transcript `load_transcripts()` yields (with its user renames) that is not indexed yet.

    For the first start after an upgrade: create the schema, then call this in one transaction. Returns how
    many transcripts were indexed.
    """
    create_schema(db)
    done = indexed(db)
    count = 0
    for transcript, names in load_transcripts():
        if transcript.id in done:
            continue
        index_transcript(db, transcript, names)
        done.add(transcript.id)
        count += 1
    return count


def stored_transcripts(db: sqlite3.Connection) -> Iterator[tuple[Transcript, dict[str, str]]]:
    """Every transcript in the store's `transcripts` table with its `speaker_names` (the store's schema 1),
    one at a time: the `load_transcripts` of `backfill` for the store as it is today.
    """
    names: dict[str, dict[str, str]] = {}
    for transcript_id, label, name in db.execute("SELECT transcript_id, label, name FROM speaker_names"):
        names.setdefault(transcript_id, {})[label] = name
    ids = [r[0] for r in db.execute("SELECT id FROM transcripts ORDER BY created_at")]
    for transcript_id in ids:
        row = db.execute("SELECT body FROM transcripts WHERE id = ?", (transcript_id,)).fetchone()
        if row is not None:
            yield Transcript.model_validate_json(row[0]), names.get(transcript_id, {})
