"""The webhook's secret and URL: the secret path segment (from settings, else generated once and kept in
`<data dir>/webhook-secret`, mode 0600), the route, and the URL to paste into the MAVI console."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from mavi_mcp.settings import Settings

ROUTE = "/webhooks/mavi/{secret}"
SECRET_FILE = "webhook-secret"  # noqa: S105 - a file name, not a secret


def webhook_path(secret: str) -> str:
    return ROUTE.replace("{secret}", secret)


def load_or_create_secret(settings: Settings, data_dir: Path) -> str:
    """The webhook secret: from settings, else the one kept in `data_dir`, else a new one saved there (0600)."""
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value().strip():
        return settings.webhook_secret.get_secret_value().strip()
    path = data_dir / SECRET_FILE
    try:
        existing = path.read_text().strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
    except FileExistsError:  # pragma: no cover - another process won the race
        return path.read_text().strip()
    return secret


def public_url(settings: Settings, secret: str, *, host: str | None = None, port: int | None = None) -> str:
    """The URL to paste into the MAVI console: `MAVI_MCP_WEBHOOK_PUBLIC_URL` + path, else the local address."""
    if settings.webhook_public_url:
        return settings.webhook_public_url.rstrip("/") + webhook_path(secret)
    return f"http://{host or settings.webhook_host}:{port or 0}{webhook_path(secret)}"


def announce(url: str, *, public: bool) -> None:
    """Print the webhook URL for the user (stderr; stdout belongs to the stdio transport)."""
    print(f"mavi-mcp webhook receiver: {url}", file=sys.stderr)
    if not public:
        print(
            "  MAVI needs a public HTTPS URL: expose this port (e.g. with a tunnel), set MAVI_MCP_WEBHOOK_PUBLIC_URL "
            "to its public base, and paste <public base>/webhooks/mavi/<secret> into the MAVI console "
            "(Webhooks Settings).",
            file=sys.stderr,
        )
