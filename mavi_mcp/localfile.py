"""A local file for `upload_media`, opened once and sent from that descriptor: no check-then-open race.

`open_media(raw, roots, max_bytes)` (blocking: run it in a worker thread) opens the path ONCE with
`O_NOFOLLOW | O_NONBLOCK` (a final symlink is resolved once and its target opened the same way; a FIFO or
device never blocks the open), then checks the OPEN DESCRIPTOR, not the path:

- `fstat`: a regular file, not empty, at most `max_bytes`;
- its real path (Linux `/proc/self/fd/N`, macOS `F_GETPATH`) lies inside one of the allowed roots;
- its extension is a media type MAVI accepts.

The returned `OpenedMedia` hands out a fresh `reader()` per upload attempt, reading with `os.pread` from
offset 0 up to the size checked at open: swapping the path for a symlink, another file or a FIFO between
attempts changes nothing that is sent, and a file that grows after the check is sent only up to the checked
size, so the cap holds for the bytes actually sent. `sent` is the number of bytes the last reader gave out:
the size reported is the size sent.

Errors are `InputError`s whose messages say what to do (each says what to do instead).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from mavi_mcp.errors import InputError
from mavi_mcp.media import check_extension, human_size

_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class DescriptorReader:
    """A binary, seekable, read-only view of the first `size` bytes of a descriptor (`os.pread`, own offset).

    httpx2's multipart encoder measures it with `seek(0, SEEK_END)`/`tell()` and reads it in chunks; it never
    sees `fileno()`, so the length it sends is the checked size, not whatever the file has grown to.
    """

    mode = "rb"

    def __init__(self, owner: OpenedMedia) -> None:
        self._owner = owner
        self._pos = 0
        owner.sent = 0

    def read(self, n: int | None = -1) -> bytes:
        left = self._owner.size - self._pos
        want = left if n is None or n < 0 else min(n, left)
        if want <= 0:
            return b""
        chunk = os.pread(self._owner.fd, want, self._pos)
        self._pos += len(chunk)
        self._owner.sent += len(chunk)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._owner.size}[whence]
        self._pos = max(0, base + offset)
        if self._pos == 0:
            self._owner.sent = 0
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        """The descriptor belongs to `OpenedMedia` (later attempts read it again); nothing to close here."""


@dataclass
class OpenedMedia:
    """An open, checked media file: descriptor, real path, checked size (BYTES), bytes sent by the last reader."""

    fd: int
    path: Path
    size: int
    sent: int = 0

    @property
    def name(self) -> str:
        return self.path.name

    def reader(self) -> DescriptorReader:
        """A new reader from offset 0 (one per upload attempt)."""
        return DescriptorReader(self)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1


def _is_within(path: Path, root: Path) -> bool:
    """Whether `path` is `root` or lies under it (both resolved; case-insensitive where the platform is)."""
    if os.path.normcase(str(path)) == os.path.normcase(str(root)):
        return True
    try:
        common = os.path.commonpath([os.path.normcase(str(path)), os.path.normcase(str(root))])
    except ValueError:  # different drives on Windows
        return False
    return common == os.path.normcase(str(root))


def _real_path(fd: int, fallback: Path) -> Path:
    """The path the kernel has for `fd` (Linux `/proc/self/fd`, macOS `F_GETPATH`), else `fallback` resolved."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            return Path(os.readlink(f"/proc/self/fd/{fd}"))
    if sys.platform == "darwin":
        import fcntl

        with contextlib.suppress(OSError):
            raw = fcntl.fcntl(fd, 50, b"\0" * 1024)  # F_GETPATH
            return Path(raw.split(b"\0", 1)[0].decode())
    return fallback.resolve()


def _open(path: Path, raw: str) -> int:
    try:
        return os.open(path, _FLAGS)
    except FileNotFoundError:
        raise InputError(f"{str(path)!r} does not exist. Check the path (it must be absolute).") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise InputError(f"{raw!r} is a loop of symbolic links. Pass the path of the file itself.") from None
        raise InputError(f"{str(path)!r} cannot be read ({exc.strerror or type(exc).__name__}).") from None


def open_media(raw: str, allowed_roots: list[Path], max_bytes: int) -> OpenedMedia:
    """Open `raw` once and check the descriptor (see the module docstring). Blocking: call it in a thread.

    Raises:
        InputError: empty, NUL, relative path; missing, unreadable; outside `allowed_roots`; not a regular
            file; not a media extension; empty or above `max_bytes`.
    """
    if not raw or not raw.strip():
        raise InputError("The path is empty. Pass the absolute path of an audio or video file.")
    if "\x00" in raw:
        raise InputError("The path contains a NUL character. Pass a plain file path.")
    given = Path(os.path.normpath(os.path.expanduser(raw.strip())))  # `..` resolved lexically: `a/../b` is `b`
    if not given.is_absolute():
        raise InputError(
            f"{raw!r} is a relative path; the server's working directory is not yours. Pass an absolute path."
        )
    if given.is_symlink():  # resolved once; the target is opened without following anything further
        given = Path(os.path.realpath(given))
    fd = _open(given, raw)
    try:
        opened = _check(fd, given, raw, allowed_roots, max_bytes)
    except BaseException:
        os.close(fd)
        raise
    return opened


def _check(fd: int, given: Path, raw: str, allowed_roots: list[Path], max_bytes: int) -> OpenedMedia:
    info = os.fstat(fd)
    real = _real_path(fd, given)
    roots_shown = os.pathsep.join(str(r) for r in allowed_roots) or "(none)"
    if not any(_is_within(real, root) for root in allowed_roots):
        raise InputError(
            f"{raw!r} resolves to {str(real)!r}, outside the directories this server may read ({roots_shown}). "
            "Move or copy the file into one of them, or ask the user to add its folder to MAVI_MCP_ALLOWED_DIRS."
        )
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
    return OpenedMedia(fd=fd, path=real, size=info.st_size)
