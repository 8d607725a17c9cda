"""Local files and URLs that `upload_media` may send: confinement, file kind, format and size checks.

Formats are the vendor's (../shared/mavi-api/README.md "Assets"): audio MP3/WAV/AAC/FLAC/OGG/M4A and video
MP4/MOV/AVI/WebM/MKV/FLV/WMV/MPEG. Images are accepted by MAVI's upload but have no speech, so they are refused.
Every refusal raises `InputError` with a message that says what to do instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx2

from mavi_mcp.errors import InputError

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


def _is_within(path: Path, root: Path) -> bool:
    if os.path.normcase(str(path)) == os.path.normcase(str(root)):
        return True
    try:
        common = os.path.commonpath([os.path.normcase(str(path)), os.path.normcase(str(root))])
    except ValueError:  # different drives on Windows
        return False
    return common == os.path.normcase(str(root))


def resolve_local_file(raw: str, allowed_roots: list[Path], max_bytes: int) -> tuple[Path, int]:
    """Resolve `raw` (symlinks, `..`, `~`) and check it may be uploaded; returns the real path and its size.

    Checks, in order: the resolved path lies inside one of `allowed_roots` (compared case-insensitively where
    the platform is), it exists, it is a regular file (not a directory, device, FIFO or socket), its extension
    is a media type MAVI accepts, and it is not empty and not larger than `max_bytes`.

    Raises:
        InputError: with the reason and what to do instead.
    """
    if not raw or not raw.strip():
        raise InputError("The path is empty. Pass the absolute path of an audio or video file.")
    if "\x00" in raw:
        raise InputError("The path contains a NUL character. Pass a plain file path.")
    expanded = Path(os.path.expanduser(raw.strip()))
    if not expanded.is_absolute():
        raise InputError(
            f"{raw!r} is a relative path; the server's working directory is not yours. Pass an absolute path."
        )
    try:
        real = expanded.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise InputError(f"{raw!r} cannot be resolved ({type(exc).__name__}). Pass a plain file path.") from None
    roots_shown = os.pathsep.join(str(r) for r in allowed_roots) or "(none)"
    if not any(_is_within(real, root) for root in allowed_roots):
        raise InputError(
            f"{raw!r} resolves to {str(real)!r}, outside the directories this server may read ({roots_shown}). "
            "Move or copy the file into one of them, or ask the user to add its folder to MAVI_MCP_ALLOWED_DIRS."
        )
    try:
        info = real.stat()
    except FileNotFoundError:
        raise InputError(f"{str(real)!r} does not exist. Check the path (it must be absolute).") from None
    except OSError as exc:
        raise InputError(f"{str(real)!r} cannot be read ({exc.strerror or type(exc).__name__}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{str(real)!r} is a directory. Pass the path of one audio or video file inside it.")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{str(real)!r} is not a regular file (a device, FIFO or socket). Pass an audio or video file."
        )
    check_extension(real.name)
    if info.st_size == 0:
        raise InputError(f"{str(real)!r} is empty (0 bytes). Pass a recording with audio in it.")
    if info.st_size > max_bytes:
        raise InputError(
            f"{str(real)!r} is {human_size(info.st_size)}, above the {human_size(max_bytes)} upload limit. "
            "Split or compress it (for example extract the audio track as MP3 with ffmpeg)."
        )
    if not os.access(real, os.R_OK):
        raise InputError(f"{str(real)!r} is not readable by the server's user. Check its permissions.")
    return real, info.st_size
