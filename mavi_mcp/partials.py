"""Partial downloads in `<data dir>/downloads/`: named after the process that writes them, removed when stale.

`upload_media` with a URL downloads the file there before uploading it. The download removes its own file on
every failure path (size cap, dropped connection, timeout, cancellation, disk full); a process killed mid-download
cannot, so each file is named `download-<pid>-<random><suffix>` and a starting process removes the files of
processes that are no longer running (`remove_stale`). Files of a live process (another server on the same data
dir, busy downloading) are left alone.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from mavi_mcp.processes import process_alive

logger = logging.getLogger(__name__)

DOWNLOADS = "downloads"
"""The folder of the data dir that holds downloads in progress."""

_NAME = re.compile(r"^download-(?:(\d+)-)?")


def partial_prefix() -> str:
    """The file name prefix of a download by this process: `download-<pid>-`."""
    return f"download-{os.getpid()}-"


def remove_stale(directory: Path) -> int:
    """Remove the partial downloads in `directory` whose writing process is gone; returns how many were removed.

    Files named without a pid (older versions) count as stale. A missing directory has nothing to remove; a file
    that cannot be removed is logged and skipped (never raised: start-up goes on).
    """
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return 0
    except OSError as exc:
        logger.warning("Cannot list %s to remove partial downloads: %s", directory, exc)
        return 0
    removed = 0
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None or not entry.is_file():
            continue
        pid = match.group(1)
        if pid is not None and int(pid) != os.getpid() and process_alive(int(pid)):
            continue
        try:
            entry.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("Cannot remove the partial download %s: %s", entry, exc)
            continue
        removed += 1
    return removed


__all__ = ["DOWNLOADS", "partial_prefix", "remove_stale"]
