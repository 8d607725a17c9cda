"""Real media files of every container MAVI accepts (API README, "Assets"), made on the spot with PyAV's
encoders (FFmpeg's, bundled in the `av` wheel): nothing is shipped in the repository.

`make_media(folder, kind, seconds)` writes a tone (and, for video containers, a small moving picture) of the
given length and returns its path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame


@dataclass(frozen=True)
class Kind:
    """How to write one container: its muxer, file suffix, audio codec and (for video) video codec."""

    suffix: str
    muxer: str
    audio: str
    video: str | None = None
    sample_rate: int = 44100
    fps: int = 10
    audio_bit_rate: int = 64000


KINDS: dict[str, Kind] = {
    "MP3": Kind(".mp3", "mp3", "libmp3lame"),
    "WAV": Kind(".wav", "wav", "pcm_s16le", sample_rate=16000),
    "AAC": Kind(".aac", "adts", "aac"),
    "FLAC": Kind(".flac", "flac", "flac"),
    "OGG": Kind(".ogg", "ogg", "libopus", sample_rate=48000),
    "M4A": Kind(".m4a", "ipod", "aac"),
    "MP4": Kind(".mp4", "mp4", "aac", "libx264"),
    "MOV": Kind(".mov", "mov", "aac", "mpeg4"),
    "AVI": Kind(".avi", "avi", "libmp3lame", "mpeg4"),
    "WebM": Kind(".webm", "webm", "libopus", "libvpx", sample_rate=48000),
    "MKV": Kind(".mkv", "matroska", "flac", "libx264"),
    "FLV": Kind(".flv", "flv", "libmp3lame", "flv", sample_rate=44100),
    "WMV": Kind(".wmv", "asf", "wmav2", "wmv2"),
    "MPEG": Kind(".mpeg", "mpeg", "mp2", "mpeg1video", fps=25),  # MPEG-1 allows 23.976..60 fps only
}
"""Every container MAVI accepts, by the name its page uses."""

WIDTH, HEIGHT = 64, 48
CHUNK = 1024
"""Samples per audio frame written."""
_TONE = b"".join(int(8000 * math.sin(2 * math.pi * i / 64)).to_bytes(2, "little", signed=True) for i in range(CHUNK))
"""One frame of a mono 16-bit tone (a period of 64 samples, so frames join without a click)."""


def make_media(folder: Path, name: str, seconds: float) -> Path:
    """Write `seconds` of media in container `name` (a key of KINDS) to `folder`; returns the file's path."""
    kind = KINDS[name]
    path = folder / f"sample-{name.lower()}{kind.suffix}"
    with av.open(str(path), mode="w", format=kind.muxer) as out:
        video = None
        if kind.video is not None:
            video = out.add_stream(kind.video, rate=kind.fps)
            video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream(kind.audio, rate=kind.sample_rate)
        audio.layout = "mono"
        audio.bit_rate = kind.audio_bit_rate  # WMA refuses to open without one

        total = round(seconds * kind.sample_rate)
        for start in range(0, total, CHUNK):
            n = min(CHUNK, total - start)
            frame = AudioFrame(format="s16", layout="mono", samples=n)
            frame.planes[0].update(_TONE[: 2 * n] + bytes(frame.planes[0].buffer_size - 2 * n))
            frame.sample_rate = kind.sample_rate
            frame.pts = start
            frame.time_base = Fraction(1, kind.sample_rate)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)

        if video is not None:
            for index in range(round(seconds * kind.fps)):
                picture = VideoFrame(WIDTH, HEIGHT, "yuv420p")
                for plane in picture.planes:
                    plane.update(bytes([(index * 7) % 256]) * plane.buffer_size)
                picture.pts = index
                picture.time_base = Fraction(1, kind.fps)
                for packet in video.encode(picture):
                    out.mux(packet)
            for packet in video.encode(None):
                out.mux(packet)
    return path
