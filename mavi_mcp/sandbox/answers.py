"""What the sandbox answers: the vendor's error texts and envelopes, uploads, and results for a target.

Texts are the vendor's own (003_7014b9b1b540d339.txt "Error Responses", ../shared/mavi-api/README.md "Base, auth,
envelope"). A target is a preloaded recording (`catalog.Asset`, real results) or an upload (`Upload`, a labelled
text over its real duration: the sandbox runs no speech recognition).
"""

from __future__ import annotations

import io
import json
import wave
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from mavi_mcp.sandbox import catalog
from mavi_mcp.sandbox.catalog import Asset

LIMIT = "Request has exceeded the limit."
NO_ASSET_ID = "asset_id cannot be null or empty"
NO_WEBHOOK = "An async request requires at least one webhook."
NOT_FOUND = "Asset not found"
UNAUTHORIZED = "Unauthorized"


class Reject(Exception):
    """An error answer: HTTP status and message, sent as `{"code": status, "msg": message, "data": null}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def ok(data: Any, code: int | str = 200) -> Response:
    """A success envelope with the `code` the endpoint's page shows (200, or "0000" on older pages)."""
    return json_response({"code": code, "msg": "success", "data": data, "success": True, "failed": False})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error envelope: HTTP `status` and `{"code": status, "msg": message, "data": null}`."""
    return json_response({"code": status, "msg": message, "data": None}, status, headers)


@dataclass
class Upload:
    """An uploaded file. `created` in epoch SECONDS, `size` in bytes, `duration` in SECONDS."""

    asset_id: str
    owner: str
    filename: str
    size: int
    duration: float
    created: float

    def status(self, now: float, span: float) -> tuple[str, float]:
        """`(upload_status, modified)` at `now`: WAITING for the first third of `span`, UPLOADING until its end,
        then SUCCESS (FAILED for an empty file); `modified` is when the status last changed (epoch seconds)."""
        age = now - self.created
        if age < span / 3:
            return "WAITING", self.created
        if age < span:
            return "UPLOADING", self.created + span / 3
        return ("SUCCESS" if self.size > 0 else "FAILED"), self.created + span


def sandbox_text(filename: str, duration: float) -> str:
    """The labelled text that stands in for an upload's transcript (`duration` in SECONDS)."""
    return (
        f"[MAVI sandbox] No speech recognition ran: this is the built-in simulator. "
        f"It received '{filename}' ({duration:.1f} s)."
    )


def speaker_items(target: Asset | Upload) -> list[dict[str, Any]]:
    """`sync-generate-speaker` items `{start, end, speaker}` (SECONDS); an upload: one `SPEAKER_00` turn."""
    if isinstance(target, Upload):
        return [{"start": 0.0, "end": target.duration, "speaker": "SPEAKER_00"}]
    return catalog.speaker_items(target)


def whisper_items(target: Asset | Upload, speaker: bool) -> list[dict[str, Any]]:
    """`sync-generate-audio` items `{text, start_time, end_time, speaker?}` (SECONDS)."""
    if isinstance(target, Upload):
        item: dict[str, Any] = {
            "text": " " + sandbox_text(target.filename, target.duration),
            "start_time": 0.0,
            "end_time": target.duration,
        }
        return [{**item, "speaker": "SPEAKER_00"} if speaker else item]
    return catalog.whisper_items(target, speaker=speaker)


def upload_duration(filename: str, content: bytes) -> float:
    """Seconds of a WAV file (stdlib `wave`); other formats: a rough 128 kbit/s estimate."""
    if filename.lower().endswith(".wav"):
        try:
            with wave.open(io.BytesIO(content)) as reader:
                return round(reader.getnframes() / float(reader.getframerate() or 1), 3)
        except (wave.Error, EOFError):
            pass
    return round(len(content) / 16000, 3)
