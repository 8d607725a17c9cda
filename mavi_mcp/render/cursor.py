"""Opaque page cursors: where the next page starts and the view it belongs to.

A cursor is URL-safe base64 of a small JSON object: transcript id, segment index, word offset inside that
segment, and the view options (format, window, speakers, timestamps) so every page of one reading is cut
the same way. It carries no names: `rename_speakers` changes how the next page reads, not where it starts.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, cast

from mavi_mcp.errors import InputError

VERSION = 1


@dataclass(frozen=True)
class Position:
    """Segment index in the transcript and word offset inside that segment's text."""

    segment: int
    word: int = 0


@dataclass(frozen=True)
class Cursor:
    transcript_id: str
    position: Position
    view: dict[str, Any]


def encode_cursor(cursor: Cursor) -> str:
    payload = {
        "v": VERSION,
        "t": cursor.transcript_id,
        "s": cursor.position.segment,
        "w": cursor.position.word,
        "o": cursor.view,
    }
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, transcript_id: str) -> Cursor:
    """Parse a cursor returned as `next_cursor` for `transcript_id`.

    Raises:
        InputError: the token is not a cursor, or it belongs to another transcript.
    """
    restart = f"Call get_transcript(transcript_id={transcript_id!r}) without a cursor to start from the beginning."
    try:
        padded = token.strip() + "=" * (-len(token.strip()) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(payload, dict):
            raise ValueError("not a cursor")
        data = cast(dict[str, Any], payload)
        if data.get("v") != VERSION:
            raise ValueError("not a cursor")
        segment, word, view, owner = data["s"], data["w"], data["o"], data["t"]
        if not (isinstance(segment, int) and isinstance(word, int) and segment >= 0 and word >= 0):
            raise ValueError("bad position")
        if not isinstance(view, dict) or not isinstance(owner, str):
            raise ValueError("bad view")
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        raise InputError(f"The cursor is not one this server returned. {restart}") from None
    if owner != transcript_id:
        raise InputError(f"This cursor belongs to transcript {owner!r}, not {transcript_id!r}. {restart}")
    return Cursor(transcript_id=owner, position=Position(segment, word), view=view)  # pyright: ignore[reportUnknownArgumentType]
