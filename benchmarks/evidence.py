"""Tokens to evidence: how many tokens an agent reads to reach the passage that answers a question, by search vs
by paging the transcript from its start.

Run: `python benchmarks/evidence.py` (`--search-tokens N` for another search page budget, `--verbose` per question).

The questions (benchmarks/evidence_questions.json) are about the bundled recordings; each gives the query an agent
would type and a verbatim passage of the transcript that answers it. Every bundled recording is stored in one
index (as a store holding them all would be); for each question:

- search: `search_page` (the `search_transcripts` body) over the question's transcript (`--everywhere`: over
  all 23 stored transcripts, where each call exists in up to five providers' versions), page after page until
  a hit's excerpt shows the passage; the cost is the estimated tokens of every search page read.
- paging: `render_page` (the `get_transcript` body) at the default budget (6,000) from the first page until the
  passage has been shown; the cost is the estimated tokens of every page read.

A passage counts as reached when its words (lower-cased, letters and digits only) appear in order in the text
shown. Goal: median paging/search ratio >= 10 and the passage on the first search page for >= 90%.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import statistics
from pathlib import Path
from typing import Any

from mavi_mcp.normalize import Context
from mavi_mcp.render.cursor import decode_cursor
from mavi_mcp.render.page import render_page
from mavi_mcp.render.search import DEFAULT_TOKENS, SearchRequest
from mavi_mcp.render.view import View
from mavi_mcp.search import sqlite_index
from mavi_mcp.search.service import search_page
from mavi_mcp.shapes import normalize_body
from mavi_mcp.transcript import Transcript

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "mavi_mcp" / "sandbox" / "data"
QUESTIONS = HERE / "evidence_questions.json"
PAGE_TOKENS = 6000
MAX_SEARCH_PAGES = 5
ANCHOR = re.compile(r"\[\d+(?::\d\d)+\]")
"""The text format's inline `[m:ss]` anchors, which sit between words."""


def words(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.casefold()))


def load_all() -> dict[str, Transcript]:
    out: dict[str, Transcript] = {}
    for path in sorted(DATA.glob("*/*.json")):
        key = f"{path.parent.name}/{path.stem}"
        transcript_id = "tr_" + re.sub(r"\W", "_", key)
        out[key] = normalize_body(path.parent.name, path.read_bytes(), Context(transcript_id=transcript_id))
    return out


def by_search(
    db: sqlite3.Connection, transcript: Transcript, query: str, passage: str, budget: int, everywhere: bool
) -> tuple[int, int]:
    """(tokens read, search page where the passage showed; 0 = not within MAX_SEARCH_PAGES)."""
    request = SearchRequest(query, transcript_id=None if everywhere else transcript.id)
    cursor = None
    spent = 0
    for number in range(1, MAX_SEARCH_PAGES + 1):
        page = search_page(db, request, max_tokens=budget, cursor=cursor)
        spent += page.estimated_tokens
        if any(passage in words(hit["text"]) for hit in page.hits):
            return spent, number
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return spent, 0


def by_paging(transcript: Transcript, passage: str) -> tuple[int, int]:
    """(tokens read, pages read) until the passage has been shown, from the first page on."""
    view = View()
    position = None
    page_no = 1
    spent = 0
    shown = ""
    while True:
        page = render_page(transcript, names={}, view=view, position=position, page=page_no, max_tokens=PAGE_TOKENS)
        spent += page.estimated_tokens
        shown = shown[-2000:] + " " + words(ANCHOR.sub(" ", page.text))
        if passage in shown:
            return spent, page_no
        if page.next_cursor is None:
            raise SystemExit(f"passage not in {transcript.id}: {passage!r}")
        cursor = decode_cursor(page.next_cursor, transcript.id)
        position, page_no = cursor.position, cursor.page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search-tokens", type=int, default=DEFAULT_TOKENS)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--everywhere", action="store_true", help="search the whole store, not the question's transcript"
    )
    args = parser.parse_args()

    questions: list[dict[str, Any]] = json.loads(QUESTIONS.read_text())["questions"]
    transcripts = load_all()
    db = sqlite3.connect(":memory:")
    sqlite_index.create_schema(db)
    for transcript in transcripts.values():
        sqlite_index.index_transcript(db, transcript, {})

    ratios: list[float] = []
    first_page = 0
    rows: list[str] = []
    for q in questions:
        transcript = transcripts[q["recording"]]
        passage = words(q["passage"])
        s_tokens, s_page = by_search(db, transcript, q["query"], passage, args.search_tokens, args.everywhere)
        p_tokens, p_pages = by_paging(transcript, passage)
        first_page += s_page == 1
        ratios.append(p_tokens / s_tokens)
        rows.append(
            f"{q['recording']:<48} {q['query'][:30]:<30} search {s_tokens:>6} (page {s_page or '-'})"
            f"  paging {p_tokens:>6} ({p_pages} pages)  x{p_tokens / s_tokens:5.1f}"
        )
    if args.verbose:
        print("\n".join(rows))
    n = len(questions)
    scope = "the whole store" if args.everywhere else "the question's transcript"
    print(f"questions: {n} (search in {scope}, page budget {args.search_tokens} tokens; paging {PAGE_TOKENS})")
    print(f"passage on the first search page: {first_page}/{n} = {first_page / n:.0%} (goal >= 90%)")
    print(f"paging/search token ratio: median x{statistics.median(ratios):.1f} (goal >= 10), min x{min(ratios):.1f}")


if __name__ == "__main__":
    main()
