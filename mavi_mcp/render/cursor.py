"""Opaque page cursors: where the next page starts and the view it belongs to.

Form: `c1.<check>.<segment>.<word>.<page>[.<view>]`, where `check` is 6 hex digits of the transcript id's
SHA-256 (a cursor cannot be used on another transcript by mistake), `segment`/`word` is the position of the
next page, and `view` (present only when not the default) is URL-safe base64 of the view options (format,
window, speakers, timestamps), so every page of one reading is cut the same way. A cursor carries no names:
`rename_speakers` changes how the next page reads, not where it starts. Short, because it is printed on
every page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from mavi_mcp.errors import InputError

PREFIX = "c1"
DEFAULT_VIEW: dict[str, Any] = {"f": "text", "ts": "auto"}


class Position(NamedTuple):
    """Segment index in the transcript and word offset inside that segment's text (ordered like a tuple)."""

    segment: int
    word: int = 0


@dataclass(frozen=True)
class Cursor:
    transcript_id: str
    position: Position
    view: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_VIEW))
    page: int = 2


def _check(transcript_id: str) -> str:
    return hashlib.sha256(transcript_id.encode()).hexdigest()[:6]


def encode_cursor(cursor: Cursor) -> str:
    parts = [PREFIX, _check(cursor.transcript_id), str(cursor.position.segment), str(cursor.position.word)]
    parts.append(str(cursor.page))
    if cursor.view != DEFAULT_VIEW:
        raw = json.dumps(cursor.view, separators=(",", ":"), sort_keys=True).encode()
        parts.append(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    return ".".join(parts)


def decode_cursor(token: str, transcript_id: str) -> Cursor:
    """Parse a cursor returned as `next_cursor` for `transcript_id`.

    Raises:
        InputError: the token is not a cursor, or it belongs to another transcript.
    """
    restart = f"Call get_transcript(transcript_id={transcript_id!r}) without a cursor to start from the beginning."
    parts = token.strip().split(".")
    try:
        if len(parts) not in (5, 6) or parts[0] != PREFIX:
            raise ValueError("not a cursor")
        check, segment, word, page = parts[1], int(parts[2]), int(parts[3]), int(parts[4])
        if segment < 0 or word < 0 or page < 2 or max(segment, word, page) > 10**9:
            raise ValueError("bad position")
        view: dict[str, Any] = dict(DEFAULT_VIEW)
        if len(parts) == 6:
            padded = parts[5] + "=" * (-len(parts[5]) % 4)
            decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(decoded, dict):
                raise ValueError("bad view")
            view = cast(dict[str, Any], decoded)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise InputError(f"The cursor is not one this server returned. {restart}") from None
    if check != _check(transcript_id):
        raise InputError(f"This cursor belongs to another transcript, not {transcript_id!r}. {restart}")
    return Cursor(transcript_id=transcript_id, position=Position(segment, word), view=view, page=page)
