"""The pages a tool returned, as one document of their format (what a person saves or reads).

Every page the tools render is: header lines, `<transcript>`, the body in the page's format, `</transcript>`,
a footer (`mavi_mcp.render.page`). Words that spell a marker are defused there, so the body is exactly what lies
between the first opening and the last closing marker. Pages concatenate into one valid document: SRT cue
numbers run over the whole transcript; each WebVTT page is a complete file, so later pages lose their `WEBVTT`
line; JSON is one object with the first page's metadata (transcript id, provider, duration, speakers, counts of
the whole transcript) and every page's segments in order (times in SECONDS; a segment cut across pages appears
as its parts, each with `"part"`).
"""

from __future__ import annotations

import json
from typing import Any

from mavi_mcp.render.view import CLOSE_TAG, OPEN_TAG


def page_body(text: str) -> str:
    """The recording's part of a page: what lies between `<transcript>` and `</transcript>`; a page without the
    markers (a format that frames nothing as the recording's words) is all content and comes back whole."""
    opening = f"{OPEN_TAG}\n"
    if opening not in text:
        return text
    inner = text.split(opening, 1)[1]
    return inner.rsplit(f"\n{CLOSE_TAG}", 1)[0]


def assemble(fmt: str, pages: list[tuple[str, dict[str, Any]]]) -> str:
    """One document from `(page text, structured content)` pairs, in order; ends with a newline.

    `fmt` is the pages' format: text, srt, vtt, rttm or json.
    """
    if fmt == "json":
        first = dict(pages[0][1]) if pages else {}
        for name in ("segments", "next_cursor", "page", "estimated_tokens", "window", "status"):
            first.pop(name, None)
        counts: dict[str, Any] = first.pop("counts", None) or {}
        first["counts"] = {k: v for k, v in counts.items() if k in ("segments", "words", "speakers")}
        segments: list[Any] = []
        for _, data in pages:
            segments.extend(data.get("segments") or [])
        first["segments"] = segments
        return json.dumps(first, ensure_ascii=False, indent=1) + "\n"
    bodies = [page_body(text).strip("\n") for text, _ in pages]
    if fmt == "vtt":
        bodies = [bodies[0], *(b.removeprefix("WEBVTT").lstrip("\n") for b in bodies[1:])] if bodies else ["WEBVTT"]
    separator = "\n\n" if fmt in ("srt", "vtt") else "\n"
    return separator.join(b for b in bodies if b) + "\n"
