"""One search, end to end, over the store's connection: query text -> ranked hits -> a rendered page.

This is the body of the `search_transcripts` tool minus argument checking: parse the query (`query.parse`),
decode the cursor, fetch one page of ranked hits plus one (to know whether more follow), read the title facts
of their transcripts, render within the budget. When no passage holds every word of the query, the passages
holding some of them are shown instead (`query.relaxed`), and the page says so. Read-only: run it in any
transaction or none. `search_page` runs on the SQLite store's connection (`sqlite_index`), `search_page_pg` on
a PostgreSQL connection (`pg_index`): same steps, same page.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from mavi_mcp.render.search import (
    DEFAULT_TOKENS,
    SearchPage,
    SearchRequest,
    decode_search_cursor,
    render_search,
)
from mavi_mcp.search import sqlite_index
from mavi_mcp.search.passages import Doc, Hit
from mavi_mcp.search.query import Query, parse, relaxed, to_fts5, to_tsquery

if TYPE_CHECKING:
    from psycopg import AsyncConnection

RELAXED_NOTE = "No passage holds every word; these hold some of them."

FETCH = 40
"""Hits fetched per page: more than a page of `DEFAULT_TOKENS` holds (about 15)."""


def _plan(request: SearchRequest, cursor: str | None, max_tokens: int) -> tuple[Query, int, int]:
    """The parsed query, the offset the cursor points at, and how many hits to fetch for one page (both backends).

    Raises:
        InputError: an unusable query or a cursor of another search.
    """
    query = parse(request.query)
    offset = decode_search_cursor(cursor, request) if cursor else 0
    return query, offset, max(FETCH, max_tokens // 50)


def _page(
    hits: list[Hit],
    docs: dict[str, Doc],
    request: SearchRequest,
    offset: int,
    fetch: int,
    max_tokens: int,
    note: str | None,
) -> SearchPage:
    """The rendered page of the first `fetch` hits (one more was fetched to know whether a next page exists)."""
    return render_search(
        hits[:fetch],
        docs,
        request=request,
        offset=offset,
        has_more=len(hits) > fetch,
        max_tokens=max_tokens,
        note=note,
    )


def search_page(
    db: sqlite3.Connection,
    request: SearchRequest,
    *,
    max_tokens: int = DEFAULT_TOKENS,
    cursor: str | None = None,
) -> SearchPage:
    """The page of hits for `request` that `cursor` points at (None: the best hits).

    `request.speakers` are labels (resolve names with `render.view.resolve_speakers` when the transcript is
    known) or display names, matched case-insensitively. Times in SECONDS.

    Raises:
        InputError: an unusable query (`query.parse`) or a cursor of another search.
    """
    query, offset, fetch = _plan(request, cursor, max_tokens)

    def run(compiled: str, limit: int, at: int) -> list[Hit]:
        return sqlite_index.search(
            db,
            compiled,
            transcript_id=request.transcript_id,
            speakers=request.speakers or None,
            start=request.start,
            end=request.end,
            limit=limit,
            offset=at,
        )

    note = None
    hits = run(to_fts5(query), fetch + 1, offset)
    loose = relaxed(query)
    if not hits and loose is not None and (offset == 0 or not run(to_fts5(query), 1, 0)):
        hits = run(to_fts5(loose), fetch + 1, offset)
        note = RELAXED_NOTE
    docs = sqlite_index.docs(db, (h.transcript_id for h in hits[:fetch]))
    return _page(hits, docs, request, offset, fetch, max_tokens, note)


async def search_page_pg(
    conn: AsyncConnection[Any],
    request: SearchRequest,
    *,
    max_tokens: int = DEFAULT_TOKENS,
    cursor: str | None = None,
) -> SearchPage:
    """`search_page` on the PostgreSQL store's connection (`pg_index`): same arguments, same page, same errors."""
    from mavi_mcp.search import pg_index

    query, offset, fetch = _plan(request, cursor, max_tokens)

    async def run(compiled: str, limit: int, at: int) -> list[Hit]:
        return await pg_index.search(
            conn,
            compiled,
            transcript_id=request.transcript_id,
            speakers=request.speakers or None,
            start=request.start,
            end=request.end,
            limit=limit,
            offset=at,
        )

    note = None
    hits = await run(to_tsquery(query), fetch + 1, offset)
    loose = relaxed(query)
    if not hits and loose is not None and (offset == 0 or not await run(to_tsquery(query), 1, 0)):
        hits = await run(to_tsquery(loose), fetch + 1, offset)
        note = RELAXED_NOTE
    docs = await pg_index.docs(conn, (h.transcript_id for h in hits[:fetch]))
    return _page(hits, docs, request, offset, fetch, max_tokens, note)
