"""Whether a process of this host still runs: how the stores, the spool and the downloads folder tell a live
owner's files and jobs from those a stopped (or killed) process left behind."""

from __future__ import annotations

import os


def process_alive(pid: int | None) -> bool:
    """Whether process `pid` exists on this host (signal 0 sends nothing); a process of another user counts as
    existing, no pid (None or 0) as not."""
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True
