"""Inbound HTTP checks: which binds are loopback, Host/Origin (DNS-rebinding) protection, the bearer token's
scheme and the webhook's content type.

- "Is this bind loopback?" is decided on the addresses the host resolves to (`ipaddress`), never on a string
  prefix: `127.0.0.2` and `localhost` are loopback, a host name that merely starts with "127." is not.
- DNS rebinding: a web page in the user's browser can make `evil.example` resolve to 127.0.0.1 and talk to a
  local server with the page's Host and Origin. The MCP SDK's `TransportSecuritySettings` refuses foreign
  Host (421) and Origin (403) values; `transport_security(settings)` turns it on for every loopback bind (the
  SDK itself only does for the exact strings 127.0.0.1, localhost and ::1) and for any bind given
  `MAVI_MCP_ALLOWED_HOSTS` (the public names of a reverse proxy in front of the server). A non-loopback bind
  without `MAVI_MCP_ALLOWED_HOSTS` is deliberately public (it needs `MAVI_MCP_AUTH_TOKEN` anyway): the names
  clients will use are unknown there, so Host is not checked.
- `Authorization` schemes are case-insensitive (RFC 9110 section 11.1): `bearer <token>` is as good as
  `Bearer <token>`.
- Content types are parsed (RFC 9110 section 8.3.1): `application/json; charset=utf-8` and `application/x+json`
  are JSON; `text/plain; x=json` is not.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket

from mcp.server.transport_security import TransportSecuritySettings

from mavi_mcp.netguard import literal_address
from mavi_mcp.settings import Settings

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def host_addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses `host` means: itself when numeric (any spelling), else what it resolves to ([] if nothing)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def is_loopback_host(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x)."""
    addresses = host_addresses(host)

    def loopback(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_loopback
        return ip.is_loopback

    return bool(addresses) and all(loopback(ip) for ip in addresses)


def _host_forms(host: str) -> list[str]:
    bare = host.strip("[]")
    return [f"[{bare}]" if ":" in bare else bare]


def transport_security(settings: Settings) -> TransportSecuritySettings | None:
    """DNS-rebinding protection for the HTTP transports (see the module docstring), or None when the bind is
    deliberately public (non-loopback, no `MAVI_MCP_ALLOWED_HOSTS`).

    Allowed Host values: the loopback names and the bind host, any port, plus each of `allowed_hosts` (a name
    with a port matches exactly, a name without one matches any port and none). Allowed Origins: the same
    hosts over http and https.
    """
    extra = [h.strip() for h in settings.allowed_hosts if h.strip()]
    if not extra and not is_loopback_host(settings.host):
        return None
    names: list[str] = list(LOOPBACK_NAMES)  # a rebinding page uses its own name, never these
    if settings.host not in ("0.0.0.0", "::", ""):  # noqa: S104 - wildcard binds have no name of their own
        names += _host_forms(settings.host)
    hosts: list[str] = []
    origins: list[str] = []
    for name in dict.fromkeys(names):
        hosts += [name, f"{name}:*"]
        origins += [f"http://{name}", f"http://{name}:*", f"https://{name}", f"https://{name}:*"]
    for name in dict.fromkeys(extra):
        has_port = name.rsplit(":", 1)[-1].isdigit() and not name.endswith("]")
        hosts += [name] if has_port else [name, f"{name}:*"]
        origins += [f"https://{name}", f"http://{name}"] + (
            [] if has_port else [f"https://{name}:*", f"http://{name}:*"]
        )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(hosts)),
        allowed_origins=list(dict.fromkeys(origins)),
    )


def bearer_matches(header: bytes, token: str) -> bool:
    """True when an `Authorization` header value is `Bearer <token>` (scheme in any case, one or more spaces),
    compared in constant time."""
    scheme, _, given = header.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(given.strip(), token.encode())


def media_type(content_type: str) -> str:
    """The media type of a Content-Type value, lower-cased, without parameters: `Application/JSON; q=1` ->
    `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    """True for `application/json` and any `<type>/<subtype>+json`, parameters ignored."""
    kind = media_type(content_type)
    return kind == "application/json" or (kind.count("/") == 1 and kind.endswith("+json"))
