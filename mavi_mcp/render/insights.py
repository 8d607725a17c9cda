"""Everything a provider added beyond the words, for `get_transcript(..., format="insights")`.

Sources (`Extras`, kept as the provider sent them): AssemblyAI summary, chapters, entities, highlights
(`auto_highlights_result`), sentiment (`sentiment_analysis_results`), IAB topics (`iab_categories_result`),
content-safety labels, language confidence (AssemblyAI transcript object,
https://www.assemblyai.com/docs/api-reference/transcripts/get; times in MILLISECONDS); multi-speaker faces and
usage metadata (001_e522976c290095e0.txt); ElevenLabs audio events and language probability (SECONDS).

`insights_data()` gives it all with every time in SECONDS (AssemblyAI's milliseconds converted), so a time
works as `start`/`end` of `get_transcript` and `search_transcripts`. `render_insights()` prints it compactly,
one line per item, section by section, within a page budget (the shared pager; `next_cursor` continues). A
field the provider did not send is absent, in the data and in the text. Provider text derived from the
recording (summaries, headlines, entity text) is untrusted and printed between the transcript markers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from mavi_mcp.errors import InputError
from mavi_mcp.render.cursor import Cursor, Position, decode_cursor, encode_cursor
from mavi_mcp.render.pager import Piece, Unit, cut_page
from mavi_mcp.render.timefmt import clock
from mavi_mcp.render.tokens import estimate_tokens, token_bytes
from mavi_mcp.render.view import CLOSE_TAG, OPEN_TAG, alias, neutralize
from mavi_mcp.transcript import Transcript

MS = 1000.0
VIEW = {"f": "insights"}
"""The view a cursor of an insights page carries (the tool dispatches on `view["f"] == "insights"`)."""

SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "summary"),
    ("chapters", "chapters"),
    ("entities", "entities"),
    ("highlights", "highlights"),
    ("sentiment", "sentiment"),
    ("topics", "topics"),
    ("content_safety", "content safety"),
    ("faces", "faces"),
    ("audio_events", "audio events"),
    ("language", "language"),
    ("usage", "usage"),
)
"""Keys of `insights_data()` in printing order, with their names in the one-line notice."""


def _seconds(value: Any) -> float | None:
    return round(float(value) / MS, 3) if isinstance(value, int | float) else None


def _list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [cast(dict[str, Any], item) for item in cast(list[Any], value) if isinstance(item, dict)]


def _dict(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _some(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _span(item: Mapping[str, Any]) -> dict[str, Any]:
    """`start`/`end` of an AssemblyAI item (MILLISECONDS, directly or under `timestamp`) as SECONDS."""
    where = _dict(item.get("timestamp")) or item
    return _some(start=_seconds(where.get("start")), end=_seconds(where.get("end")))


def _label(transcript: Transcript, speaker: Any) -> str | None:
    """AssemblyAI's speaker "A" as the transcript's label `SPEAKER_A` (as the normalizer names it)."""
    if not isinstance(speaker, str) or not speaker:
        return None
    labels = {s.label for s in transcript.speakers}
    return f"SPEAKER_{speaker}" if f"SPEAKER_{speaker}" in labels else speaker


def insights_data(transcript: Transcript, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every provider insight of `transcript`, times in SECONDS; keys (present only when the provider sent
    them): summary, chapters, entities, highlights, sentiment, topics, content_safety, faces, audio_events,
    language, usage. `names` (the user's renames) decide which speaker a face matches.
    """
    x = transcript.extras
    out: dict[str, Any] = {}
    if x.summary:
        out["summary"] = x.summary
    if x.chapters:
        out["chapters"] = [
            {**_span(c), **_some(headline=c.get("headline"), gist=c.get("gist"), summary=c.get("summary"))}
            for c in x.chapters
        ]
    if x.entities:
        out["entities"] = [{"type": e.get("entity_type"), "text": e.get("text"), **_span(e)} for e in x.entities]
    highlights = _list(_dict(x.highlights).get("results"))
    if highlights:
        out["highlights"] = [
            _some(
                text=h.get("text"),
                count=h.get("count"),
                rank=h.get("rank"),
                times=[[_seconds(t.get("start")), _seconds(t.get("end"))] for t in _list(h.get("timestamps"))],
            )
            for h in highlights
        ]
    if x.sentiment:
        utterances = [
            _some(
                **_span(s),
                speaker=_label(transcript, s.get("speaker")),
                sentiment=s.get("sentiment"),
                confidence=s.get("confidence"),
                text=s.get("text"),
            )
            for s in x.sentiment
        ]
        by_speaker: dict[str, dict[str, int]] = {}
        for u in utterances:
            counts = by_speaker.setdefault(u.get("speaker") or "", {})
            key = str(u.get("sentiment", "unknown")).lower()
            counts[key] = counts.get(key, 0) + 1
        out["sentiment"] = {"by_speaker": by_speaker, "utterances": utterances}
    topics = _dict(x.iab_categories)
    if _list(topics.get("results")) or _dict(topics.get("summary")):
        summary = sorted(_dict(topics.get("summary")).items(), key=lambda kv: -float(kv[1] or 0))
        out["topics"] = {
            "summary": [{"label": label, "relevance": relevance} for label, relevance in summary],
            "segments": [
                {**_span(r), "labels": _list(r.get("labels")), "text": r.get("text")}
                for r in _list(topics.get("results"))
            ],
        }
    safety = _dict(x.content_safety)
    if _list(safety.get("results")) or _dict(safety.get("summary")):
        out["content_safety"] = _some(
            summary=_dict(safety.get("summary")) or None,
            severity=_dict(safety.get("severity_score_summary")) or None,
            segments=[
                {**_span(r), "labels": _list(r.get("labels")), "text": r.get("text")}
                for r in _list(safety.get("results"))
            ],
        )
    if x.faces:
        out["faces"] = [_face(transcript, names or {}, f) for f in x.faces]
    if x.audio_events:
        out["audio_events"] = x.audio_events
    language = _some(
        code=transcript.language,
        confidence=x.language_confidence,
        probability=x.language_probability,
        transcript_confidence=x.confidence,
    )
    if set(language) - {"code"}:
        out["language"] = language
    if x.usage:
        out["usage"] = x.usage
    return out


def _face(transcript: Transcript, names: Mapping[str, str], face: Mapping[str, Any]) -> dict[str, Any]:
    name = face.get("name")
    protocol, bucket, blob = face.get("face_file_protocol"), face.get("face_file_bucket"), face.get("face_file_blob")
    location = f"{protocol or 'gs'}://{bucket}/{blob}" if bucket and blob else blob
    speaker = None
    if isinstance(name, str) and name.strip():
        key = name.strip().casefold()
        for s in transcript.speakers:
            if key in {s.label.casefold(), (s.name or "").casefold(), names.get(s.label, "").casefold()}:
                speaker = s.label
                break
    return _some(name=name, face_id=face.get("face_id"), image=location, speaker=speaker)


def available(transcript: Transcript) -> list[str]:
    """Names of the insight sections `transcript` has, in printing order (empty when none)."""
    data = insights_data(transcript)
    return [title for key, title in SECTIONS if key in data]


def insights_notice(transcript: Transcript) -> str | None:
    """The one line for a transcript's first page: which insights exist and how to read them (None if none)."""
    names = available(transcript)
    if not names:
        return None
    return (
        f"Insights available: {', '.join(names)}; read with "
        f'get_transcript(transcript_id="{transcript.id}", format="insights").'
    )


def _span_text(item: Mapping[str, Any]) -> str:
    start, end = item.get("start"), item.get("end")
    if start is None:
        return ""
    if end is None or clock(end) == clock(start):
        return f"[{clock(start)}] "
    return f"[{clock(start)}-{clock(end)}] "


def _num(value: Any) -> str:
    return f"{float(value or 0):.2f}"


def _who(label: str | None, display: Mapping[str, str]) -> str:
    return display.get(label, alias(label)) if label else "?"


def _short(text: Any, limit: int = 90) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _lines(data: Mapping[str, Any], display: Mapping[str, str]) -> Iterator[str]:
    """One line per item, with a heading line per section."""
    if "summary" in data:
        yield "Summary:"
        yield from (line.strip() for line in str(data["summary"]).splitlines() if line.strip())
    if "chapters" in data:
        yield f"Chapters ({len(data['chapters'])}; start-end, headline, gist: summary):"
        for c in data["chapters"]:
            yield f"{_span_text(c)}{c.get('headline', '')} | {c.get('gist', '')}: {c.get('summary', '')}".strip()
    if "entities" in data:
        grouped: dict[str, dict[str, list[float]]] = {}
        for e in data["entities"]:
            times = grouped.setdefault(str(e.get("type")), {}).setdefault(str(e.get("text")), [])
            if e.get("start") is not None:
                times.append(e["start"])
        yield f"Entities ({len(data['entities'])}; type: text at times):"
        for kind, texts in grouped.items():
            items = [f"{text} {' '.join(clock(t) for t in times)}".strip() for text, times in texts.items()]
            yield f"{kind}: " + "; ".join(items)
    if "highlights" in data:
        yield f"Highlights ({len(data['highlights'])}; text ×count rank, at):"
        for h in data["highlights"]:
            times = " ".join(clock(a) for a, _ in h.get("times", []) if a is not None)
            yield f"{h.get('text')} ×{h.get('count', '?')} rank {h.get('rank', '?')} at {times}"
    if "sentiment" in data:
        sentiment = data["sentiment"]
        yield "Sentiment by speaker (positive/neutral/negative utterances):"
        for label, counts in sentiment["by_speaker"].items():
            yield (
                f"{_who(label or None, display)}: {counts.get('positive', 0)}/{counts.get('neutral', 0)}/"
                f"{counts.get('negative', 0)}"
            )
        yield f"Sentiment per utterance ({len(sentiment['utterances'])}; start-end speaker sentiment confidence):"
        for u in sentiment["utterances"]:
            confidence = u.get("confidence")
            conf = f" {confidence:.2f}" if isinstance(confidence, float) else ""
            yield f"{_span_text(u)}{_who(u.get('speaker'), display)} {u.get('sentiment')}{conf} {_short(u.get('text'))}"
    if "topics" in data:
        topics = data["topics"]
        yield "Topics (IAB, relevance over the whole recording):"
        yield "; ".join(f"{t['label']} {float(t['relevance'] or 0):.2f}" for t in topics["summary"])
        if topics["segments"]:
            yield f"Topics per part ({len(topics['segments'])}; start-end label relevance):"
            for r in topics["segments"]:
                labels = ", ".join(f"{lab.get('label')} {float(lab.get('relevance') or 0):.2f}" for lab in r["labels"])
                yield f"{_span_text(r)}{labels}"
    if "content_safety" in data:
        safety = data["content_safety"]
        yield "Content safety (label confidence over the recording; severity low/medium/high):"
        for label, confidence in safety.get("summary", {}).items():
            sev = _dict(safety.get("severity", {}).get(label))
            levels = "/".join(f"{float(sev.get(k) or 0):.2f}" for k in ("low", "medium", "high")) if sev else ""
            yield f"{label} {float(confidence or 0):.2f}" + (f" severity {levels}" if levels else "")
        for r in safety.get("segments", []):
            labels = ", ".join(
                f"{lab.get('label')} conf {_num(lab.get('confidence'))} sev {_num(lab.get('severity'))}"
                for lab in r["labels"]
            )
            yield f"{_span_text(r)}{labels}: {_short(r.get('text'))}"
    if "faces" in data:
        yield f"Faces ({len(data['faces'])}; name, face id, image, speaker):"
        for f in data["faces"]:
            speaker = f"speaker {_who(f['speaker'], display)}" if f.get("speaker") else "no matching speaker"
            yield f"{f.get('name', '?')} · {f.get('face_id', '?')} · {f.get('image', '?')} · {speaker}"
    if "audio_events" in data:
        yield f"Audio events ({len(data['audio_events'])}):"
        for e in data["audio_events"]:
            who = f"{_who(e['speaker'], display)} " if e.get("speaker") else ""
            yield f"{_span_text(e)}{who}{e.get('text')}"
    if "language" in data:
        lang = data["language"]
        facts = [str(lang.get("code") or "unknown")]
        for key, title in (("confidence", "confidence"), ("probability", "probability")):
            if key in lang:
                facts.append(f"{title} {float(lang[key]):.2f}")
        if "transcript_confidence" in lang:
            facts.append(f"transcript confidence {float(lang['transcript_confidence']):.2f}")
        yield "Language: " + ", ".join(facts)
    if "usage" in data:
        for u in data["usage"]:
            parts = [f"{k.replace('_', ' ')} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in u.items()]
            yield "Usage: " + ", ".join(parts)


@dataclass
class InsightsPage:
    """A rendered insights page: text, next_cursor, the structured data (all insights, SECONDS)."""

    text: str
    next_cursor: str | None
    page: int
    data: dict[str, Any]
    estimated_tokens: int
    max_tokens: int


def _unit(k: int, line: str, skip: int = 0) -> Unit:
    """Line `k` (from its word `skip` on) as a pager unit that can be cut between words."""

    def pieces() -> list[Piece]:
        words = line.split(" ")
        return [
            Piece((" " if n else "") + word, Position(k, skip + n + 1) if n + 1 < len(words) else Position(k + 1, 0))
            for n, word in enumerate(words)
        ]

    return Unit(start=Position(k, skip), rendered=line, make_pieces=pieces)


def render_insights(
    transcript: Transcript,
    *,
    names: Mapping[str, str],
    display: Mapping[str, str],
    position: Position | None = None,
    page: int = 1,
    max_tokens: int,
) -> InsightsPage:
    """The insights page of `transcript` starting at `position` (line, word; None = the start).

    `names` are the user's renames, `display` label -> printed name (`page.display_names`). The text stays
    within `max_tokens` estimated tokens; a cursor continues (its view is `VIEW`).
    """
    data = insights_data(transcript, names)
    src = transcript.source
    header = (
        f"Insights of {transcript.id} · {src.provider} · duration {clock(transcript.duration)}"
        if page == 1
        else f"Insights of {transcript.id} · page {page}"
    )
    if not data:
        text = f"{header}\nThe provider added nothing beyond the words for this transcript."
        return InsightsPage(text, None, page, data, estimate_tokens(text), max_tokens)
    header += "; times are m:ss (seconds work as start/end of get_transcript and search_transcripts)."
    lines = [neutralize(line) for line in _lines(data, display)]
    start = position or Position(0, 0)
    budget = token_bytes(max_tokens)
    probe = encode_cursor(Cursor(transcript.id, Position(10**6, 10**4), VIEW, page + 1))
    footer_room = len(f'Page {page}; more follows: get_transcript(transcript_id="{transcript.id}", cursor="{probe}")')
    body_budget = max(budget - len(header.encode()) - footer_room - len(f"{OPEN_TAG}\n\n{CLOSE_TAG}\n\n".encode()), 1)

    def units() -> Iterator[Unit]:
        for k in range(start.segment, len(lines)):
            skip = start.word if k == start.segment else 0
            yield _unit(k, " ".join(lines[k].split(" ")[skip:]), skip)

    cut = cut_page(units(), body_budget, separator="\n")
    next_cursor = encode_cursor(Cursor(transcript.id, cut.next, VIEW, page + 1)) if cut.next is not None else None
    footer = (
        f'Page {page}; more follows: get_transcript(transcript_id="{transcript.id}", cursor="{next_cursor}")'
        if next_cursor
        else "End of insights."
    )
    text = f"{header}\n{OPEN_TAG}\n" + "\n".join(cut.parts) + f"\n{CLOSE_TAG}\n{footer}"
    return InsightsPage(text, next_cursor, page, data, estimate_tokens(text), max_tokens)


def insights_page(
    transcript: Transcript,
    *,
    names: Mapping[str, str],
    display: Mapping[str, str],
    max_tokens: int,
    cursor: str | None = None,
) -> InsightsPage:
    """The insights page `cursor` points at (None: the first), for `get_transcript(format="insights")`.

    Raises:
        InputError: the cursor is not one of this transcript (`decode_cursor`) or belongs to another format.
    """
    if cursor is None:
        return render_insights(transcript, names=names, display=display, max_tokens=max_tokens)
    decoded = decode_cursor(cursor, transcript.id)
    if decoded.view != VIEW:
        raise InputError(
            "This cursor continues another format of the transcript, not insights. Call get_transcript with "
            'format="insights" and no cursor to start the insights from the beginning.'
        )
    return render_insights(
        transcript,
        names=names,
        display=display,
        position=decoded.position,
        page=decoded.page,
        max_tokens=max_tokens,
    )
