"""`localfile.open_media`: what upload_media may read, and a message that says what to do for each refusal; media
types and URL secrets."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from mavi_mcp.errors import InputError
from mavi_mcp.localfile import open_media
from mavi_mcp.media import (
    ACCEPTED,
    check_extension,
    content_type,
    scrub_url_secrets,
    scrub_url_secrets_in_raw,
    shown_url,
)

MAX = 1_000_000


def resolve_local_file(raw: str, allowed_roots: list[Path], max_bytes: int) -> tuple[Path, int]:
    """The real path and checked size (bytes) of what `open_media` opens, the file closed again."""
    opened = open_media(raw, allowed_roots, max_bytes)
    try:
        return opened.path, opened.size
    finally:
        opened.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An allowed root (resolved, as the server passes `Settings.resolved_allowed_dirs`)."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    return allowed.resolve()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder.resolve()


def _write(path: Path, size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * size)
    return path


def _refusal(raw: str, roots: list[Path], max_bytes: int = MAX) -> str:
    with pytest.raises(InputError) as caught:
        resolve_local_file(raw, roots, max_bytes)
    return str(caught.value)


def test_file_inside_an_allowed_root_is_accepted_with_its_size(root: Path) -> None:
    file = _write(root / "talks" / "meeting.mp3", 1234)
    assert resolve_local_file(str(file), [root], MAX) == (file, 1234)


def test_file_in_the_second_root_is_accepted(root: Path, outside: Path) -> None:
    file = _write(outside / "call.wav")
    assert resolve_local_file(str(file), [root, outside], MAX) == (file, 64)


def test_upper_case_extension_is_accepted(root: Path) -> None:
    file = _write(root / "INTERVIEW.M4A")
    assert resolve_local_file(str(file), [root], MAX)[0] == file


def test_surrounding_whitespace_in_the_path_is_ignored(root: Path) -> None:
    file = _write(root / "a.flac")
    assert resolve_local_file(f"  {file}\n", [root], MAX)[0] == file


def test_home_relative_path_is_expanded(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("HOME", str(root))
    file = _write(root / "memo.ogg")
    assert resolve_local_file("~/memo.ogg", [root], MAX)[0] == file


def test_file_outside_every_allowed_root_is_refused(root: Path, outside: Path) -> None:
    file = _write(outside / "secret.mp3")
    message = _refusal(str(file), [root])
    assert "outside the directories this server may read" in message
    assert str(root) in message
    assert "MAVI_MCP_ALLOWED_DIRS" in message
    assert "Move or copy the file" in message


def test_sibling_folder_sharing_the_roots_name_prefix_is_outside(root: Path) -> None:
    file = _write(root.parent / f"{root.name}-evil" / "x.mp3")
    assert "outside the directories" in _refusal(str(file), [root])


def test_symlink_inside_the_root_pointing_outside_is_refused(root: Path, outside: Path) -> None:
    target = _write(outside / "private.mp3")
    link = root / "innocent.mp3"
    link.symlink_to(target)
    message = _refusal(str(link), [root])
    assert f"resolves to {str(target)!r}" in message
    assert "outside the directories" in message


def test_symlinked_folder_escaping_the_root_is_refused(root: Path, outside: Path) -> None:
    _write(outside / "deep" / "x.mp3")
    (root / "shortcut").symlink_to(outside / "deep")
    assert "outside the directories" in _refusal(str(root / "shortcut" / "x.mp3"), [root])


def test_symlink_to_a_file_inside_the_root_is_accepted_as_its_target(root: Path) -> None:
    target = _write(root / "real" / "take1.mp4", 10)
    link = root / "latest.mp4"
    link.symlink_to(target)
    assert resolve_local_file(str(link), [root], MAX) == (target, 10)


def test_dot_dot_escaping_the_root_is_refused(root: Path, outside: Path) -> None:
    _write(outside / "x.mp3")
    sneaky = f"{root}/sub/../../{outside.name}/x.mp3"
    message = _refusal(sneaky, [root])
    assert "outside the directories" in message
    assert str(outside / "x.mp3") in message  # the message shows where the path really leads


def test_dot_dot_staying_inside_the_root_is_accepted(root: Path) -> None:
    file = _write(root / "a" / "x.mp3")
    assert resolve_local_file(f"{root}/a/b/../x.mp3", [root], MAX)[0] == file


def test_relative_path_is_refused(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(root / "x.mp3")
    monkeypatch.chdir(root)
    message = _refusal("x.mp3", [root])
    assert "relative path" in message
    assert "Pass an absolute path" in message


def test_no_root_refuses_everything(root: Path) -> None:
    file = _write(root / "x.mp3")
    assert "(none)" in _refusal(str(file), [])


def test_directory_is_refused(root: Path) -> None:
    (root / "album.mp3").mkdir()
    message = _refusal(str(root / "album.mp3"), [root])
    assert "is a directory" in message
    assert "one audio or video file inside it" in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_refused_without_blocking(root: Path) -> None:
    fifo = root / "stream.mp3"
    os.mkfifo(fifo)
    message = _refusal(str(fifo), [root])
    assert "not a regular file" in message
    assert "FIFO" in message


def test_missing_file_is_refused(root: Path) -> None:
    message = _refusal(str(root / "nope.mp3"), [root])
    assert "does not exist" in message
    assert str(root / "nope.mp3") in message


def test_empty_file_is_refused(root: Path) -> None:
    file = _write(root / "silence.wav", 0)
    message = _refusal(str(file), [root])
    assert "is empty (0 bytes)" in message
    assert "recording with audio" in message


def test_file_larger_than_the_limit_is_refused_with_both_sizes(root: Path) -> None:
    file = _write(root / "long.mp3", 2048)
    message = _refusal(str(file), [root], max_bytes=1000)
    assert "2.0 KB" in message
    assert "1000 bytes upload limit" in message
    assert "Split or compress" in message


def test_file_exactly_at_the_limit_is_accepted(root: Path) -> None:
    file = _write(root / "edge.mp3", 1000)
    assert resolve_local_file(str(file), [root], 1000) == (file, 1000)


def test_default_three_gigabyte_limit_reads_in_gigabytes(root: Path) -> None:
    file = root / "huge.mkv"
    with file.open("wb") as handle:
        handle.truncate(4 * 1024**3)  # sparse: no disk space used
    message = _refusal(str(file), [root], max_bytes=3 * 1024**3)
    assert "is 4.0 GB, above the 3.0 GB upload limit" in message


@pytest.mark.parametrize("name", ["notes.txt", "photo.jpg", "archive.mp3.zip"])
def test_extension_that_is_not_audio_or_video_is_refused(root: Path, name: str) -> None:
    file = _write(root / name)
    message = _refusal(str(file), [root])
    assert Path(name).suffix in message
    assert "audio and video files only" in message
    assert ACCEPTED in message
    assert "Convert it" in message


def test_file_without_extension_is_refused(root: Path) -> None:
    file = _write(root / "recording")
    assert "no extension" in _refusal(str(file), [root])


def test_nul_byte_in_the_path_is_refused(root: Path) -> None:
    message = _refusal(f"{root}/a\x00.mp3", [root])
    assert "NUL character" in message


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_path_is_refused(root: Path, raw: str) -> None:
    assert "The path is empty" in _refusal(raw, [root])


def test_symlink_loop_is_refused(root: Path) -> None:
    (root / "a.mp3").symlink_to(root / "b.mp3")
    (root / "b.mp3").symlink_to(root / "a.mp3")
    message = _refusal(str(root / "a.mp3"), [root])
    assert "a.mp3" in message
    assert "loop of symbolic links" in message


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_refused(root: Path) -> None:
    file = _write(root / "locked.mp3")
    file.chmod(0)
    try:
        assert "not readable" in _refusal(str(file), [root])
    finally:
        file.chmod(0o600)


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("a.mp3", "audio/mpeg"),
        ("a.WAV", "audio/wav"),
        ("a.m4a", "audio/mp4"),
        ("a.mov", "video/quicktime"),
        ("a.webm", "video/webm"),
        ("a.mpg", "video/mpeg"),
        ("a.bin", "application/octet-stream"),
    ],
)
def test_content_type_by_extension(name: str, mime: str) -> None:
    assert content_type(name) == mime


def test_check_extension_returns_the_lower_cased_suffix() -> None:
    assert check_extension("Talk.MKV") == ".mkv"
    with pytest.raises(InputError, match="no extension"):
        check_extension("README")


# --- URLs without their secrets ----------------------------------------------------------------------

SIGNED = "https://ana:pa55-word-9@bucket.s3.example/calls/q1.mp3?X-Amz-Signature=f00d-sig-123&X-Amz-Expires=60#t=5"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (SIGNED, "https://…@bucket.s3.example/calls/q1.mp3?…"),
        ("https://media.example/a.mp3", "https://media.example/a.mp3"),
        ("gs://bucket/call.mp3?generation=17", "gs://bucket/call.mp3?…"),
        ("https://media.example/a.mp3#t=10", "https://media.example/a.mp3#…"),
        ("https://media.example/sk-mavi-0123456789abc.mp3", "https://media.example/[redacted].mp3"),
    ],
)
def test_a_url_is_shown_without_user_password_query_fragment_or_key_like_strings(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_a_url_and_its_secret_parts_are_taken_out_of_text_in_every_spelling_an_answer_may_use() -> None:
    escaped = json.dumps(SIGNED)[1:-1].replace("/", "\\/")
    go = SIGNED.replace("&", "\\u0026")
    text = f"a: {SIGNED} b: {escaped} c: {go} d: pa55-word-9 e: X-Amz-Signature=f00d-sig-123"
    scrubbed = scrub_url_secrets(text, SIGNED, None)
    shown = shown_url(SIGNED)
    assert scrubbed.startswith(f"a: {shown} b: ")
    assert f"c: {shown} d: … e: X-Amz-Signature=…" in scrubbed
    assert "pa55" not in scrubbed
    assert "f00d" not in scrubbed
    assert scrub_url_secrets(text) == text


def test_a_raw_answer_loses_the_urls_secrets_but_keeps_short_parts_elsewhere_and_any_bytes() -> None:
    url = "https://media.example/a.mp3?v=1&sig=0123456789abcdef"
    body = {"audio_url": url, "text": "v=1 is the version; sig=0123456789abcdef leaked", "n": "\u00e9"}
    raw = json.dumps(body).encode() + b"\xff\xfe"
    scrubbed = scrub_url_secrets_in_raw(raw, url)
    assert scrubbed.endswith(b"\xff\xfe")
    kept = json.loads(scrubbed[:-2])
    assert kept["audio_url"] == "https://media.example/a.mp3?…"
    assert kept["text"] == "v=1 is the version; sig=… leaked"
    assert scrub_url_secrets_in_raw(raw, None) == raw
