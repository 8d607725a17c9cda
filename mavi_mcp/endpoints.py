"""The MAVI API operations this server calls, each once: method, path, and whether it is billed.

Source: ../shared/mavi-api/README.md ("Assets", "Transcription endpoints") and the vendor pages beside it.
`billed` requests are never resent once they may have been processed (`client.RetryPolicy`); `idempotent` ones
may be resent after any failure. The response shapes each endpoint produces are in `mavi_mcp.shapes`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """One API operation. `path` may hold `{asset_id}`."""

    name: str
    method: str
    path: str
    billed: bool
    idempotent: bool
    is_async: bool = False
    """Answers with a `task_id`; the result arrives later at the account's webhook."""


UPLOAD = Endpoint("upload", "POST", "/upload", billed=False, idempotent=False)
METADATA = Endpoint("metadata", "GET", "/{asset_id}/metadata", billed=False, idempotent=True)
SYNC_SPEAKER = Endpoint("sync-generate-speaker", "POST", "/transcriptions/sync-generate-speaker", True, False)
SYNC_AUDIO = Endpoint("sync-generate-audio", "POST", "/transcriptions/sync-generate-audio", True, False)
SPEECH_TO_TEXT = Endpoint("speech-to-text", "POST", "/transcriptions/speech-to-text", True, False)
ASYNC_SPEAKER = Endpoint(
    "async-generate-speaker", "POST", "/transcriptions/async-generate-speaker", True, False, is_async=True
)
ASYNC_AUDIO = Endpoint(
    "async-generate-audio", "POST", "/transcriptions/async-generate-audio", True, False, is_async=True
)
ASYNC_MULTI_SPEAKER = Endpoint(
    "async-generate-multi-speaker", "POST", "/transcriptions/async-generate-multi-speaker", True, False, is_async=True
)
ASYNC_ENDPOINTS = {e.name: e for e in (ASYNC_SPEAKER, ASYNC_AUDIO, ASYNC_MULTI_SPEAKER)}
