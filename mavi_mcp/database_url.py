"""`MAVI_MCP_DATABASE_URL`: the PostgreSQL connection URL, checked and shown without its password.

The URL is libpq's (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS):
`postgresql://user:password@host:5432/dbname?sslmode=verify-full&sslrootcert=/path/ca.pem`. Every query
parameter (TLS ones included: `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, ...) is passed to libpq unchanged.
A password may sit in the user-info part or in a `password=` parameter; both are masked for display.

Pure string handling (no driver import), so `--check` and the settings can use it cheaply.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from mavi_mcp.errors import ConfigurationError

SCHEMES = ("postgresql", "postgres")
MASK = "***"


def check_database_url(url: str) -> str:
    """`url` stripped, if it is a `postgresql://` (or `postgres://`) URL.

    Raises:
        ConfigurationError: anything else; the message shows the URL masked, never the password.
    """
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"MAVI_MCP_DATABASE_URL must be a postgresql:// URL (postgresql://user:password@host:5432/dbname), "
            f"got {mask_database_url(url)!r}. Unset it to use the embedded SQLite store."
        )
    return url


def mask_database_url(url: str) -> str:
    """`url` with its password (user-info or `password=` parameter) replaced by `***`; the rest kept for display.

    Text that does not parse as a URL is shown only by its length, since it might be all secret.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return f"…({len(url)} chars)"
    if not parts.scheme or (not parts.netloc and not parts.query):
        return f"…({len(url)} chars)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hosts}" if colon else f"{user}@{hosts}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() == "password" else v) for k, v in pairs], safe="/:*")
    # by hand: urlunsplit would drop the empty host of `postgresql:///db?host=/socket/dir`
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
