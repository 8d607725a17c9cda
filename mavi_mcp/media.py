"""Media types, sizes and URLs that `upload_media` may send: extensions, content types, and URLs without secrets
(local files are opened and checked by `mavi_mcp.localfile.open_media`).

Formats are the vendor's (../shared/mavi-api/README.md "Assets"): audio MP3/WAV/AAC/FLAC/OGG/M4A and video
MP4/MOV/AVI/WebM/MKV/FLV/WMV/MPEG. Images are accepted by MAVI's upload but have no speech, so they are refused.
Every refusal raises `InputError` with a message that says what to do instead.

Media URLs carry secrets: user:password, and presigned S3/GCS/Azure signatures in the query. A URL is used in full
where that is its purpose (the download, the body sent to MAVI); everywhere else (messages, logs, stored tasks and
transcripts, raw answers that echo it) it appears as `shown_url` gives it, and `scrub_url_secrets` takes its secret
parts out of any other text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2

from mavi_mcp.errors import InputError, redact

AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".aac": "audio/aac",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
}
VIDEO_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".flv": "video/x-flv",
    ".wmv": "video/x-ms-wmv",
    ".mpeg": "video/mpeg",
    ".mpg": "video/mpeg",
}
MEDIA_TYPES = AUDIO_TYPES | VIDEO_TYPES
ACCEPTED = ", ".join(sorted(ext.lstrip(".") for ext in MEDIA_TYPES))


async def only_http(request: httpx2.Request) -> None:
    """Download request hook: every request, redirects included, must be http(s) (no file:, ftp:, ...)."""
    if request.url.scheme not in ("http", "https"):
        raise InputError(f"A download redirected to a {request.url.scheme}: URL; only http(s) is followed.")


def human_size(size: int) -> str:
    """A byte count for people: `812 bytes`, `2.0 KB`, `3.0 GB` (binary multiples, as in the vendor's "3 GB")."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def content_type(name: str) -> str:
    """The MIME type MAVI expects for a file name, by extension (`application/octet-stream` if unknown)."""
    return MEDIA_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def check_extension(name: str) -> str:
    """The lower-cased extension of `name` if MAVI accepts it for transcription; else `InputError`."""
    suffix = Path(name).suffix.lower()
    if suffix not in MEDIA_TYPES:
        shown = suffix or "no extension"
        raise InputError(
            f"{name!r} has {shown}; MAVI transcribes audio and video files only ({ACCEPTED}). "
            "Convert it (for example with ffmpeg) or pass a file with one of these extensions."
        )
    return suffix


# --- URLs without their secrets ---------------------------------------------------------------------

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _split_secrets(url: str) -> tuple[str, list[str]]:
    """`url` without user:password, query and fragment, and the parts taken out (split as `urlsplit` does):
    user:password, the password alone, query and fragment together, the query, the fragment, and each query
    value of 8 characters or more (signatures, credentials, tokens: they may be echoed on their own)."""
    text = url.strip()
    secrets: list[str] = []
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
        secrets += [userinfo, userinfo.partition(":")[2]]
        authority = "…@" + authority
    cut = min((i for i in (tail.find("?"), tail.find("#")) if i >= 0), default=len(tail))
    if cut < len(tail):
        query, _, fragment = tail[cut + 1 :].partition("#") if tail[cut] == "?" else ("", "", tail[cut + 1 :])
        secrets += [tail[cut + 1 :], query, fragment]
        secrets += [value for _, _, value in (p.partition("=") for p in query.split("&")) if len(value) >= 8]
        tail = tail[: cut + 1] + "…"
    return f"{scheme}{sep}{authority}{tail}", [s for s in secrets if s]


def shown_url(url: str) -> str:
    """`url` as it may be shown to the agent, logged or stored: no user:password (`…@host`), no query or fragment
    (`?…`, `#…`), no control characters, no key-like strings, at most 200 characters.

    `https://ana:pw@bucket.s3.example/a.mp3?X-Amz-Signature=f00` -> `https://…@bucket.s3.example/a.mp3?…`.
    """
    text = redact(_CONTROL_CHARS.sub("?", _split_secrets(url)[0]))
    return text if len(text) <= 200 else text[:199] + "…"


def _spellings(text: str) -> set[str]:
    """`text` as it may appear in an answer: as is, JSON-escaped (ASCII or not), with `/` escaped as `\\/`, and
    with `&`, `<`, `>` escaped as `\\u0026`.. (Go's encoder)."""
    escaped = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    escaped |= {e.replace("/", "\\/") for e in escaped}
    return escaped | {e.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") for e in escaped}


def scrub_url_secrets(text: str, *urls: str | None, min_part: int = 1) -> str:
    """`text` with every given URL's secrets taken out: each whole URL becomes its `shown_url` form, then what
    remains of its user:password, password, query or fragment becomes `…`. Escaped spellings (JSON, `\\/`,
    `\\u0026`) count too. Parts shorter than `min_part` characters are only removed as part of their whole URL
    (so a raw answer is not rewritten wherever a short query like `v=1` happens to appear)."""
    for url in filter(None, urls):
        shown = shown_url(url)
        plain = url.strip()
        for spelling in sorted(_spellings(plain), key=len, reverse=True):
            text = text.replace(spelling, shown if spelling == plain else json.dumps(shown, ensure_ascii=False)[1:-1])
        parts = {p for p in _split_secrets(url)[1] if len(p) >= min_part and p not in shown}
        for spelling in sorted({s for p in parts for s in _spellings(p)}, key=len, reverse=True):
            text = text.replace(spelling, "…")
    return text


def url_error_detail(error: BaseException, url: str) -> str:
    """The message of an error about `url` (from the HTTP library) without the URL's secrets, control characters
    or key-like strings, at most 200 characters."""
    return redact(_CONTROL_CHARS.sub("?", scrub_url_secrets(str(error), url)))[:200]


def scrub_url_secrets_in_raw(raw: bytes, *urls: str | None) -> bytes:
    """A raw answer (as received; any bytes) with the given URLs' secrets taken out (`scrub_url_secrets`, parts
    of 8 characters or more also on their own)."""
    if not any(urls):
        return raw
    text = raw.decode("utf-8", "surrogateescape")
    return scrub_url_secrets(text, *urls, min_part=8).encode("utf-8", "surrogateescape")
