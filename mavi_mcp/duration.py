"""A media file's duration, read locally before anything is paid for.

MAVI accepts audio MP3/WAV/AAC/FLAC/OGG/M4A and video MP4/MOV/AVI/WebM/MKV/FLV/WMV/MPEG (API README, "Assets").
All of them are read here with PyAV (`av` on PyPI; its wheels bundle FFmpeg's demuxers), which is imported on the
first call only, never at server start (`import av` costs about 60-200 ms; `benchmarks/duration_bench.py`).

Only headers and packet timestamps are read, nothing is decoded. In order:

1. the container's duration (`AVFormatContext.duration`, what `ffprobe -show_format` prints);
2. else the longest stream's `duration * time_base`;
3. else, and always for the demuxers whose header duration is only a guess (ADTS AAC: from the bit rate, 2 % short
   on a 1-minute file; MPEG program/transport streams: from the first and last timestamps), a scan of every
X

`read_duration` blocks (file I/O and FFmpeg): call it off the event loop, as `probe_duration` does with
`anyio.to_thread.run_sync`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio.to_thread

if TYPE_CHECKING:
    from av.container import InputContainer

ESTIMATING_DEMUXERS = frozenset({"aac", "mpeg", "mpegts", "mpegvideo"})
"""FFmpeg demuxers whose duration is estimated rather than read: their files are measured by a packet scan."""

Method = Literal["container", "stream", "packets"]
"""Where the duration came from: the container header, a stream header, or a scan of packet timestamps."""


@dataclass(frozen=True)
class MediaDuration:
    """The result of reading a file's duration: `seconds` or, when None, the `problem` in words for the agent."""

    seconds: float | None
    """Duration in seconds (> 0), None when it could not be read."""
    method: Method | None = None
    """How it was read; None when it was not."""
    problem: str | None = None
    """Why it could not be read (None when `seconds` is set), e.g. 'not a media file FFmpeg can read: ...'."""


def read_duration(path: Path) -> MediaDuration:
    """The duration of the media file at `path`, in seconds, from its headers or packet timestamps.

    Never raises for a bad file: an unreadable, non-media, empty or zero-length file gives
    `MediaDuration(seconds=None, problem=...)`. Blocking: run it in a worker thread (`probe_duration`).
    """
    try:
        import av  # lazily: FFmpeg's libraries load only when a duration is read
        from av.error import FFmpegError
    except ImportError as exc:  # pragma: no cover - av is a dependency; kept for broken installs
        return MediaDuration(None, problem=f"PyAV is not installed ({exc}); install mavi-mcp's dependencies")

    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except FileNotFoundError:
        return MediaDuration(None, problem=f"no such file: {path.name}")
    except FFmpegError as exc:
        return MediaDuration(None, problem=f"not a media file FFmpeg can read: {_ffmpeg_reason(exc)}")
    except OSError as exc:
        return MediaDuration(None, problem=f"cannot read {path.name}: {exc.strerror or exc}")
    try:
        with container:
            if container.format.name in ESTIMATING_DEMUXERS:
                scanned = _scan_packets(container)
                if scanned.seconds is not None:
                    return scanned
            if container.duration is not None and container.duration > 0:
                return MediaDuration(container.duration / av.time_base, "container")
            from_streams = [
                float(stream.duration * stream.time_base)
                for stream in container.streams
                if stream.duration is not None and stream.time_base is not None and stream.duration > 0
            ]
            if from_streams:
                return MediaDuration(max(from_streams), "stream")
            return _scan_packets(container)
    except FFmpegError as exc:
        return MediaDuration(None, problem=f"the file is damaged or truncated: {_ffmpeg_reason(exc)}")


def _scan_packets(container: InputContainer) -> MediaDuration:
    """The latest `pts + duration` of any audio/video packet minus the earliest `pts`, in seconds (demuxing
    only, no decoding). Integer timestamps per stream, converted once at the end: the loop is FFmpeg's pace."""
    streams = [s for s in container.streams if s.type in ("audio", "video") and s.time_base is not None]
    if not streams:
        return MediaDuration(None, problem="the file has no audio or video stream")
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for packet in container.demux(streams):
        pts = packet.pts
        if pts is None:
            continue
        index = packet.stream_index
        end = pts + (packet.duration or 0)
        if index not in first or pts < first[index]:
            first[index] = pts
        if end > last.get(index, end - 1):
            last[index] = end
    bases = {s.index: s.time_base for s in streams if s.time_base is not None}
    if not last:
        return MediaDuration(None, problem="the file has no timed audio or video packets (empty or zero-length)")
    start = min(float(first[i] * bases[i]) for i in first if i in bases)
    stop = max(float(last[i] * bases[i]) for i in last if i in bases)
    if not math.isfinite(stop) or stop - start <= 0:
        return MediaDuration(None, problem="the file has no timed audio or video packets (empty or zero-length)")
    return MediaDuration(stop - start, "packets")


def _ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's own words without the file path (`av.FFmpegError.strerror`, e.g. 'Invalid data found ...')."""
    reason = getattr(exc, "strerror", None)
    return str(reason) if reason else type(exc).__name__


async def probe_duration(path: Path) -> MediaDuration:
    """`read_duration` in a worker thread, so the event loop keeps serving while FFmpeg reads the file."""
    return await anyio.to_thread.run_sync(read_duration, path)
