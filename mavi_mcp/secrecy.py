"""Keeping secrets secret: the webhook secret's shape, private permissions on the data directory, masked URLs.

- `webhook_secret_problem`: the secret is a URL path segment, so it must be URL-safe (`A-Z a-z 0-9 - _`; a
  `/`, `%`, `?` or `#` would make the printed URL answer 404 for ever) and long enough not to be guessed
  (at least 32 characters, as `secrets.token_urlsafe(24)` gives).
- `make_private(data_dir, files)`: the data directory holds every transcript and the webhook secret, so it is
  0700 and the store, its WAL/SHM files and the secret file are 0600; modes found looser are tightened and a
  warning says so. The store file is created 0600 before SQLite opens it, and SQLite gives its WAL and SHM files
  the database file's mode.
- `mask_url`: a URL for display with its user:password replaced by `…@` and no query (`--check`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 32
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def webhook_secret_problem(secret: str) -> str | None:
    """Why `secret` cannot be the webhook's path secret (an actionable sentence), or None when it can."""
    bad = sorted({c for c in secret if not _URL_SAFE.fullmatch(c)})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        return (
            f"MAVI_MCP_WEBHOOK_SECRET contains {shown}, which cannot stand in a URL path as it is (the webhook URL "
            "would answer 404 and every async result would be lost). Use only letters, digits, '-' and '_' "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or unset it to have one generated"
        )
    if len(secret) < MIN_SECRET_LENGTH:
        return (
            f"MAVI_MCP_WEBHOOK_SECRET is {len(secret)} characters long; it must be at least {MIN_SECRET_LENGTH} "
            "so that the webhook URL cannot be guessed (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`), or unset it to have one generated"
        )
    return None


def _tighten(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        path.chmod(mode)
        logger.warning("Tightened %s from %o to %o (it holds transcripts or secrets)", path, current, mode)


def make_private(data_dir: Path, files: list[str]) -> None:
    """Create `data_dir` (0700) if missing, tighten it and the given files (and their `-wal`/`-shm`) to
    0700/0600 when looser, and create each `files[0]` (the store) empty with mode 0600 if it does not exist.

    Raises:
        OSError: the directory cannot be created or its mode changed (not owned by this user).
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(data_dir, 0o700)
    for name in files:
        for path in (data_dir / name, data_dir / f"{name}-wal", data_dir / f"{name}-shm"):
            _tighten(path, 0o600)
    if files:
        store = data_dir / files[0]
        with contextlib.suppress(FileExistsError):
            os.close(os.open(store, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


SECRET_PLACEHOLDER = "<secret>"  # noqa: S105 - a placeholder, not a secret


def without_secret(url: str, secret: str) -> str:
    """`url` with the webhook secret replaced by a placeholder: what is stored in the receivers table (the secret
    itself is kept only in its file, or in the environment)."""
    return url.replace(secret, SECRET_PLACEHOLDER) if secret else url


def mask_url(url: str) -> str:
    """`url` for display: `https://user:pw@host/p?q` -> `https://…@host/p?…` (see `media.shown_url`)."""
    from mavi_mcp.media import shown_url

    return shown_url(url)
