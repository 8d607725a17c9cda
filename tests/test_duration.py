"""`mavi_mcp.duration` on real files of every container MAVI accepts, written in the test by PyAV's encoders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from mavi_mcp.duration import MediaDuration, probe_duration, read_duration
from tests.media_files import KINDS, make_media

SECONDS = 20.0
"""Long enough that an estimate from the bit rate (2 % short on ADTS AAC, 0.4 s here) would show."""


def tolerance(seconds: float) -> float:
    """Encoders pad the last frame (AAC 1024 samples, MP3 1152, a video frame at 10 fps): 0.15 s, or 0.5 %."""
    return max(0.15, 0.005 * seconds)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    return {name: make_media(folder, name, SECONDS) for name in KINDS}


def test_every_container_mavi_accepts_is_covered() -> None:
    assert sorted(KINDS) == sorted(
        ["MP3", "WAV", "AAC", "FLAC", "OGG", "M4A", "MP4", "MOV", "AVI", "WebM", "MKV", "FLV", "WMV", "MPEG"]
    )


@pytest.mark.parametrize("name", list(KINDS))
def test_the_duration_of_each_container_is_read_to_within_a_frame(name: str, media: dict[str, Path]) -> None:
    found = read_duration(media[name])
    assert found.problem is None
    assert found.seconds is not None
    assert abs(found.seconds - SECONDS) <= tolerance(SECONDS), f"{name}: {found}"


def test_adts_aac_is_measured_by_its_packets_not_guessed_from_its_bit_rate(media: dict[str, Path]) -> None:
    found = read_duration(media["AAC"])
    assert found.method == "packets"
    assert found.seconds is not None
    assert abs(found.seconds - SECONDS) <= tolerance(SECONDS)


def test_a_short_clip_is_read_too(tmp_path: Path) -> None:
    found = read_duration(make_media(tmp_path, "M4A", 2.5))
    assert found.seconds is not None
    assert abs(found.seconds - 2.5) <= tolerance(2.5)
    assert found.method == "container"


def test_a_file_that_is_not_media_gives_no_duration_and_says_why(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("these are meeting notes, not audio\n" * 50)
    found = read_duration(text)
    assert found.seconds is None
    assert found.problem is not None
    assert found.problem.startswith("not a media file FFmpeg can read")
    assert str(tmp_path) not in found.problem  # no local path leaks to the agent


def test_an_empty_file_and_a_missing_file_give_no_duration_and_say_why(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert read_duration(empty).seconds is None
    assert read_duration(empty).problem
    missing = read_duration(tmp_path / "gone.mp3")
    assert missing == MediaDuration(None, problem="no such file: gone.mp3")


def test_a_truncated_file_gives_a_duration_or_a_reason_never_an_exception(
    media: dict[str, Path], tmp_path: Path
) -> None:
    for name in ("MP4", "MKV", "MP3", "AAC"):
        whole = media[name].read_bytes()
        cut = tmp_path / f"cut-{media[name].name}"
        cut.write_bytes(whole[: len(whole) // 3])
        found = read_duration(cut)
        assert (found.seconds is None) == (found.problem is not None), f"{name}: {found}"
        if found.seconds is not None:
            assert 0 < found.seconds <= SECONDS + tolerance(SECONDS)


@pytest.mark.anyio
async def test_probe_duration_reads_in_a_worker_thread(media: dict[str, Path]) -> None:
    with anyio.fail_after(30):
        found = await probe_duration(media["FLAC"])
    assert found.seconds is not None
    assert abs(found.seconds - SECONDS) <= tolerance(SECONDS)


def test_neither_the_module_nor_a_started_server_loads_ffmpeg(tmp_path: Path) -> None:
    code = (
        "import sys, mavi_mcp.duration, mavi_mcp.cost, mavi_mcp.confirm, mavi_mcp.ledger\n"
        "from mavi_mcp.server import create_server\n"
        "from mavi_mcp.settings import Settings\n"
        f"create_server(Settings(data_dir={str(tmp_path)!r}))\n"
        "print('av' in sys.modules, 'mavi_mcp.duration' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False True"
