"""The viewer's data: a whole stored transcript as one compact JSON object (`viewer_payload`).

Shape (version 1; all times in SECONDS from the start of the recording, rounded to 0.01 s):

```
{
  "v": 1, "transcript_id", "kind" ("transcript" | "diarization"), "provider", "model", "endpoint",
  "asset_id", "language", "duration", "created_at" (ISO 8601), "sandbox",
  "speakers": [{"label", "name" (the user's name from rename_speakers, else the provider's, else null),
                "provider_name", "talk_time" (s), "share" (0..1), "turns", "first_heard", "last_heard"}],
  "segments": [[start, end, speaker index into "speakers" or null, text], ...]   # in time order
  "summary": str | null,
  "chapters": [{"start", "end", "headline", "gist", "summary"}] | null,
  "highlights": [{"text", "count", "rank", "times": [[start, end], ...]}] | null,
  "faces": [{"face_id", "name"}] | null,
  "warnings": [str]
}
```

Provider extras are converted here, once: AssemblyAI's chapter and highlight times are MILLISECONDS
(`Extras` keeps them as sent) and become seconds. Entries without usable times are dropped, not guessed.
Text is passed through as given: the app renders every string as text, never as HTML.
"""

from __future__ import annotations

import math
from typing import Any, cast

from mavi_mcp.transcript import Transcript

PAYLOAD_VERSION = 1


def _seconds(value: object, scale: float) -> float | None:
    """`value` (a number in the provider's unit) as seconds rounded to 0.01, or None if it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return round(value / scale, 2)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _chapters(raw: list[dict[str, Any]] | None, scale: float) -> list[dict[str, Any]] | None:
    out: list[dict[str, Any]] = []
    for chapter in raw or ():
        start, end = _seconds(chapter.get("start"), scale), _seconds(chapter.get("end"), scale)
        if start is None:
            continue
        out.append(
            {
                "start": start,
                "end": end if end is not None and end >= start else start,
                "headline": _text(chapter.get("headline")) or _text(chapter.get("gist")) or "",
                "gist": _text(chapter.get("gist")),
                "summary": _text(chapter.get("summary")),
            }
        )
    return sorted(out, key=lambda c: c["start"]) or None


def _dicts(value: object) -> list[dict[str, Any]]:
    """The dict items of `value` when it is a list (anything else: no items)."""
    items = cast("list[object]", value) if isinstance(value, list) else []
    return [cast("dict[str, Any]", item) for item in items if isinstance(item, dict)]


def _highlights(raw: dict[str, Any] | None, scale: float) -> list[dict[str, Any]] | None:
    out: list[dict[str, Any]] = []
    for item in _dicts((raw or {}).get("results")):
        if not _text(item.get("text")):
            continue
        times: list[list[float]] = []
        for stamp in _dicts(item.get("timestamps")):
            s, e = _seconds(stamp.get("start"), scale), _seconds(stamp.get("end"), scale)
            if s is not None:
                times.append([s, e if e is not None and e >= s else s])
        count, rank = item.get("count"), item.get("rank")
        out.append(
            {
                "text": item["text"],
                "count": count if isinstance(count, int) else len(times),
                "rank": rank if isinstance(rank, int | float) else None,
                "times": sorted(times),
            }
        )
    out.sort(key=lambda h: -(h["rank"] or 0))
    return out or None


def _faces(raw: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    out = [
        {"face_id": _text(face.get("face_id")), "name": _text(face.get("name"))}
        for face in raw or ()
        if _text(face.get("name")) or _text(face.get("face_id"))
    ]
    return out or None


def viewer_payload(transcript: Transcript, names: dict[str, str]) -> dict[str, Any]:
    """The whole of `transcript` for the viewer, with the user's speaker `names` (label -> name) applied.

    Returns the JSON-ready dict drawn in the module docstring. Never raises on odd provider extras: an
    extra whose shape is not understood is left out.
    """
    index = {s.label: i for i, s in enumerate(transcript.speakers)}
    # AssemblyAI documents chapter and highlight times in milliseconds; no other provider sends them.
    scale = 1000.0 if transcript.source.provider == "assemblyai" else 1.0
    extras = transcript.extras
    return {
        "v": PAYLOAD_VERSION,
        "transcript_id": transcript.id,
        "kind": transcript.kind,
        "provider": transcript.source.provider,
        "model": transcript.source.model,
        "endpoint": transcript.source.endpoint,
        "asset_id": transcript.source.asset_id,
        "language": transcript.language,
        "duration": round(transcript.duration, 2),
        "created_at": transcript.created_at.isoformat(),
        "sandbox": transcript.source.sandbox,
        "speakers": [
            {
                "label": s.label,
                "name": names.get(s.label) or s.name,
                "provider_name": s.name,
                "talk_time": s.talk_time,
                "share": s.share,
                "turns": s.turns,
                "first_heard": s.first_heard,
                "last_heard": s.last_heard,
            }
            for s in transcript.speakers
        ],
        "segments": [
            [round(seg.start, 2), round(seg.end, 2), index.get(seg.speaker) if seg.speaker else None, seg.text]
            for seg in transcript.segments
        ],
        "summary": _text(extras.summary),
        "chapters": _chapters(extras.chapters, scale),
        "highlights": _highlights(extras.highlights, scale),
        "faces": _faces(extras.faces),
        "warnings": list(transcript.warnings),
    }
