"""Formats beyond the compact text: JSON lines, SRT, WebVTT and RTTM, as pager units (one per segment).

- `json`: one JSON object per line, `{"i", "start", "end", "speaker", "name"?, "text", "part"?}`; times in
  SECONDS. A segment cut across pages carries `"part": [first_word, last_word_exclusive, words]`.
- `srt`: SubRip cues written by the `srt` library; cue number = segment number in the whole transcript, so
  pages concatenate into one valid file. Text is `Speaker: text`.
- `vtt`: WebVTT cues written by `webvtt-py`, speaker as a voice span `<v Speaker>`; each page is a complete
  WebVTT file (it starts with `WEBVTT`).
- `rttm`: NIST RTTM `SPEAKER <file> 1 <onset> <duration> <NA> <NA> <speaker> <NA> <NA>`, the diarization
  standard; the file id is the asset id (or transcript id), spaces in names become underscores.

Subtitle cues cut across pages keep word times when the provider gave them aligned with the text. The
subtitle libraries (srt, webvtt-py) are imported inside the functions that write cues, so a server that never
writes SRT or WebVTT never loads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from mavi_mcp.render.cursor import Position
from mavi_mcp.render.pager import Piece, Unit
from mavi_mcp.render.view import Format, Span, alias, neutralize
from mavi_mcp.transcript import Transcript


def _start_index(spans: list[Span], position: Position) -> tuple[int, int]:
    from mavi_mcp.render.text import _start_index as start_index  # pyright: ignore[reportPrivateUsage]

    return start_index(spans, position)


def _name(span: Span, display: dict[str, str]) -> str | None:
    return display.get(span.speaker, span.speaker) if span.speaker is not None else None


def _part_times(span: Span, first: int, last: int) -> tuple[float, float]:
    """Start and end (seconds) of tokens first..last-1 of a span: word times if aligned, else the segment's."""
    if span.times is not None and first < last:
        return span.times[first][1], max(w[2] for w in span.times[first:last])
    return span.segment.start, span.segment.end


def _json_line(span: Span, first: int, last: int, display: dict[str, str]) -> str:
    start, end = _part_times(span, first, last)
    record: dict[str, Any] = {"i": span.index, "start": round(start, 3), "end": round(end, 3)}
    if span.speaker is not None:
        record["speaker"] = span.speaker
        name = display.get(span.speaker)
        if name and name != span.speaker:
            record["name"] = name
    record["text"] = " ".join(span.tokens[first:last])
    if (first, last) != (0, len(span.tokens)):
        record["part"] = [first, last, len(span.tokens)]
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _srt_cue(span: Span, first: int, last: int, display: dict[str, str]) -> str:
    import srt

    start, end = _part_times(span, first, last)
    name = _name(span, display)
    text = " ".join(span.tokens[first:last]) or "…"
    content = f"{name}: {text}" if name else text
    cue = srt.Subtitle(
        index=span.index + 1, start=timedelta(seconds=start), end=timedelta(seconds=end), content=content
    )
    return cue.to_srt().rstrip("\n") + "\n"


def _vtt_time(seconds: float) -> str:
    import srt

    stamp: str = srt.timedelta_to_srt_timestamp(timedelta(seconds=seconds))  # pyright: ignore[reportUnknownMemberType]
    return stamp.replace(",", ".")


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt_cue(span: Span, first: int, last: int, display: dict[str, str]) -> str:
    import webvtt

    start, end = _part_times(span, first, last)
    name = _name(span, display)
    text = _vtt_escape(" ".join(span.tokens[first:last]) or "…")
    if name:
        text = f"<v {_vtt_escape(name)}>{text}"
    doc = webvtt.WebVTT(captions=[webvtt.Caption(start=_vtt_time(start), end=_vtt_time(end), text=text)])
    return doc.content.removeprefix("WEBVTT").lstrip("\n").rstrip("\n") + "\n"


def _rttm_line(span: Span, file_id: str, display: dict[str, str]) -> str:
    segment = span.segment
    label = segment.speaker
    shown = display.get(label, label) if label is not None else None
    if label is not None and shown == alias(label):
        shown = label  # RTTM keeps the label itself unless the speaker has a name
    speaker = (shown or "unknown").replace(" ", "_")
    return f"SPEAKER {file_id} 1 {segment.start:.3f} {segment.end - segment.start:.3f} <NA> <NA> {speaker} <NA> <NA>"


def units(
    fmt: Format, transcript: Transcript, spans: list[Span], position: Position, *, display: dict[str, str]
) -> Iterator[Unit]:
    """Pager units for `fmt` (not "text") from `position` on: one per segment."""
    i, first = _start_index(spans, position)
    file_id = (transcript.source.asset_id or transcript.id).replace(" ", "_")
    for n, span in enumerate(spans[i:]):
        start_k = first if n == 0 else span.first
        if fmt == "rttm":
            yield Unit(Position(span.index, 0), rendered=_rttm_line(span, file_id, display))
            continue
        render = _RENDERERS[fmt]
        whole = render(span, start_k, span.last, display)

        def pieces(span: Span = span, start_k: int = start_k, whole: str = whole) -> list[Piece]:
            # made only when the pager must cut this cue (it alone is larger than a page)
            words = span.tokens[start_k : span.last]
            overhead = max(len(whole) - sum(len(w) + 1 for w in words), 0)
            return [
                Piece(("#" * overhead if k == 0 else "") + word + " ", Position(span.index, start_k + k + 1))
                for k, word in enumerate(words)
            ] or [Piece(whole, Position(span.index + 1, 0))]

        def split(taken: int, span: Span = span, start_k: int = start_k, render: _Render = render) -> str:
            return render(span, start_k, start_k + taken, display)

        yield Unit(Position(span.index, start_k), rendered=whole, split=split, make_pieces=pieces)


_Render = Callable[[Span, int, int, dict[str, str]], str]
_RENDERERS: dict[str, _Render] = {"json": _json_line, "srt": _srt_cue, "vtt": _vtt_cue}


def wrap(fmt: Format, body: str, *, page: int) -> str:
    """The page body as a complete document of its format (WebVTT needs its `WEBVTT` line on every page)."""
    if fmt == "vtt":
        return "WEBVTT\n\n" + body if body else "WEBVTT\n"
    if fmt == "srt":
        return body.replace("\n\n\n", "\n\n")
    return body


def json_segments(
    spans: list[Span], start: Position, stop: Position | None, display: dict[str, str]
) -> list[dict[str, Any]]:
    """The page's segments as dicts (for structured content with `format="json"`)."""
    out: list[dict[str, Any]] = []
    for span in spans:
        first = max(span.first, start.word) if span.index == start.segment else span.first
        last = span.last
        if stop is not None and span.index == stop.segment:
            last = min(last, stop.word)
        if span.tokens and first >= last:
            continue
        out.append(json.loads(_json_line(span, first, last, display)))
    return out


__all__ = ["json_segments", "neutralize", "units", "wrap"]
