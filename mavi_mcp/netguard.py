"""The outbound guard for user-given URLs (`upload_media` downloads): no request reaches the server's own network.

A URL an agent passes is fetched by this server, from the machine it runs on. Without a guard, a remote agent of
a shared deployment could read that machine's loopback services, its private network and the cloud metadata
endpoint (169.254.169.254) through it (server-side request forgery). So every connection the download client
opens, for the first request and for every redirect hop, goes through `GuardedBackend.connect_tcp`:

1. the host is resolved once, off the event loop (`anyio.getaddrinfo`); a numeric host in any spelling
   (`0x7f000001`, `2130706433`, `0177.0.0.1`, `127.1`, `[::ffff:127.0.0.1]`) resolves to the address it means;
2. every address it resolves to is classified (`blocked_reason`, the stdlib `ipaddress` module plus the
   special-purpose blocks Python 3.11 does not flag): loopback, private (RFC 1918, ULA), link-local (cloud
   metadata), shared CGNAT space 100.64.0.0/10, multicast, reserved, unspecified, and IPv6 forms that carry an
   IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) judged by the address they carry;
3. the connection is made to the address that was checked (`mavi_mcp.netguard_http`, loaded on the first
   download): the host name is not resolved a second time, so a
   DNS answer that changes between check and connect cannot slip through; TLS still verifies, and sends SNI
   for, the URL's host name.

Any blocked address refuses the whole host (`BlockedAddressError`, an `InputError` whose message says why and
what to set). `MAVI_MCP_ALLOW_PRIVATE_URLS=1` / `--allow-private-urls` turns the guard off for media servers on
a LAN. Proxies: the download client does not read proxy variables (`trust_env=False`), so no request bypasses
the guard through one.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import anyio

from mavi_mcp.errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

OPT_IN = "MAVI_MCP_ALLOW_PRIVATE_URLS=1 (or --allow-private-urls)"

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_BENCHMARK = ipaddress.IPv4Network("198.18.0.0/15")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class BlockedAddressError(InputError):
    """A user-given URL's host is (or resolves to) an address this server must not reach."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, Teredo client, NAT64), or None."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if (ip in _IPV4_COMPATIBLE and int(ip) > 1) or any(ip in net for net in _NAT64):  # not :: or ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` must not be fetched from (`"a loopback address"`, ...), or None for a public unicast address.

    IPv6 addresses that carry an IPv4 address are judged by that address too (`::ffff:127.0.0.1` is loopback).
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        inner = _embedded_ipv4(ip)
        if inner is not None and inner != ipaddress.IPv4Address(0):  # judged by the IPv4 address it carries
            why = blocked_reason(inner)
            return f"{why}, written as the IPv6 address {ip}" if why else None
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address (this machine)"),
        (ip.is_link_local, "a link-local address (cloud metadata endpoints live there)"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "a shared (carrier-grade NAT) address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK, "a 'this network' address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _BENCHMARK, "a benchmarking-network address"),
        (ip.is_private, "a private-network address"),
        (ip.is_reserved, "a reserved address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local address"),
        (not ip.is_global, "an address that is not publicly routable"),
    ]
    return next((why for hit, why in checks if hit), None)


def _refusal(host: str, ip: str, why: str) -> BlockedAddressError:
    shown = host if host == ip else f"{host} (resolves to {ip})"
    return BlockedAddressError(
        f"Refused to download from {shown}: it is {why}. This server does not fetch URLs on its own machine or "
        "private network (a remote caller could read internal services through it). Pass a public URL, or a "
        f"local path; if the media server really is on your LAN, ask the user to set {OPT_IN} and restart."
    )


def literal_address(host: str) -> IPAddress | None:
    """`host` as an IP address when it is written as one in any spelling inet_aton accepts (`0x7f000001`,
    `2130706433`, `0177.0.0.1`, `127.1`) or as IPv6 (brackets allowed); None for a name."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except (OSError, ValueError):  # ValueError: a NUL in the host
        return None


def url_host(url: str) -> str:
    """The host of `url` as written (no brackets), or "" when it has none or does not parse (port included)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
        return parts.hostname or ""
    except ValueError:
        return ""


def check_literal_host(host: str, *, allow_private: bool) -> None:
    """Refuse at once a URL host that is a blocked IP address in any spelling (no DNS lookup is made).

    Raises:
        BlockedAddressError: the host is a numeric address `blocked_reason` refuses and `allow_private` is off.
    """
    ip = literal_address(host) if host else None
    if ip is None or allow_private:
        return
    why = blocked_reason(ip)
    if why:
        raise _refusal(host, str(ip), why)


async def resolve_checked(host: str, port: int, *, allow_private: bool, exempt: Sequence[IPNetwork] = ()) -> list[str]:
    """Every address `host` resolves to (one lookup, off the event loop), in the resolver's order.

    Raises:
        BlockedAddressError: any of them is refused by `blocked_reason` (unless `allow_private`).
        OSError (socket.gaierror): the name does not resolve.
    """
    infos = await anyio.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            why = None if any(ip in net for net in exempt) else blocked_reason(ip)
            if why:
                raise _refusal(host, address, why)
    return addresses
