"""Start-up faults of the data dir and the store (mavi_mcp/startup.py): one message, exit status 2, no traceback.

Each fault is made for real and `mavi-mcp` is run as a subprocess (stdio server, `webhook`, `--check`). Root
ignores file permissions, so as root "permission denied" runs the server as the user `nobody`, and the
read-only and full disks are small tmpfs mounts (read-only / 64 KB, filled); without root those two cases skip.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.settings import Settings
from mavi_mcp.startup import StartupError
from mavi_mcp.store import DB_NAME, SCHEMA_VERSION
from tests.conftest import mavi_mcp_command, server_env

pytestmark = pytest.mark.e2e

ROOT = os.geteuid() == 0


def run(data_dir: Path, tmp_path: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server_env(tmp_path, "http://127.0.0.1:9", MAVI_MCP_DATA_DIR=str(data_dir))}
    return subprocess.run(
        [*prefix, *mavi_mcp_command(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "ExceptionGroup" not in done.stderr
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.startswith("mavi-mcp: ")]
    assert len(lines) == 1, done.stderr
    for text in expected:
        assert text in lines[0]
    return lines[0]


def fill(path: Path) -> None:
    """Write zeros to `path` until its disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\x00" * 4096)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)


@contextmanager
def mounted(options: str) -> Iterator[Path]:
    """A small tmpfs mounted with `options` (root only)."""
    if not ROOT:
        pytest.skip("mounting a tmpfs needs root; this fault cannot be made otherwise")
    where = Path(tempfile.mkdtemp(prefix="mavi-mount-"))
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, check=False
    )
    if mount.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.decode().strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()


@pytest.mark.parametrize("args", [[], ["webhook", "--port", "0"], ["--check"]])
def test_a_store_file_that_is_not_a_database_is_named_with_what_to_do(tmp_path: Path, args: list[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_NAME).write_text("these are my meeting notes, not a database\n" * 50)
    assert_refused(
        run(data, tmp_path, *args), str(data / DB_NAME), "is not a readable SQLite database", "Move the file aside"
    )
    assert (data / DB_NAME).read_text().startswith("these are my meeting notes")  # nothing overwritten


def test_a_store_written_by_a_newer_version_is_refused_and_left_untouched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / DB_NAME) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    message = assert_refused(run(data, tmp_path), str(data / DB_NAME), "newer mavi-mcp", "Upgrade mavi-mcp")
    assert f"store schema {SCHEMA_VERSION + 1}" in message
    with sqlite3.connect(data / DB_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_a_data_dir_under_a_file_says_a_file_is_in_the_way(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert_refused(run(blocker / "data", tmp_path), str(blocker / "data"), "a file is in the way", "MAVI_MCP_DATA_DIR")


def test_a_data_dir_the_user_cannot_write_is_refused_with_permission_denied(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    # root writes anywhere: as root, the server runs without the capabilities that bypass file permissions
    if ROOT and shutil.which("setpriv") is None:
        pytest.skip("as root this needs setpriv (util-linux) to drop the capabilities that bypass permissions")
    prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner") if ROOT else ()
    try:
        done = run(locked / "data", tmp_path, prefix=prefix)
        assert_refused(done, str(locked / "data"), "not writable", "Permission denied", "write access")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_data_dir_on_a_read_only_disk_is_refused(tmp_path: Path) -> None:
    with mounted("ro,size=64k") as disk:
        assert_refused(run(disk, tmp_path), str(disk), "MAVI_MCP_DATA_DIR")


def test_a_full_disk_is_named_with_what_to_do(tmp_path: Path) -> None:
    with mounted("size=64k") as disk:
        fill(disk / "filler")
        assert_refused(run(disk / "data", tmp_path), str(disk / "data"), "is full", "Free some space")


@pytest.mark.anyio
async def test_the_runtime_itself_refuses_a_store_that_is_not_a_database_with_the_same_message(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_text("not a database\n" * 100)
    with pytest.raises(StartupError, match="is not a readable SQLite database"):
        async with RuntimeHolder(Settings(data_dir=tmp_path, rate_limit=0)).open():
            pass
