"""The download transport of `mavi_mcp.netguard`: httpx2's network transport whose every connection is resolved,
checked and pinned by `GuardedBackend` (kept apart so that the HTTP stack loads only on the first download)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any, cast

import anyio
import httpcore2
import httpx2
from httpcore2 import AsyncNetworkBackend, AsyncNetworkStream

from mavi_mcp.netguard import IPNetwork, resolve_checked


class GuardedBackend(AsyncNetworkBackend):
    """An httpcore2 network backend that resolves, checks, then connects to the checked address.

    httpcore2 calls `connect_tcp` for every new connection (each redirect to a new origin included) with the
    URL's host; TLS is started afterwards with that host name as SNI and for certificate checks, so pinning the
    TCP connection to the checked IP changes nothing else.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        exempt: Sequence[IPNetwork] = (),
        inner: AsyncNetworkBackend | None = None,
    ) -> None:
        """`exempt`: networks allowed although not public (a test's own loopback server), checked per address."""
        self.allow_private = allow_private
        self.exempt = tuple(exempt)
        self._inner = inner or cast(AsyncNetworkBackend, httpcore2.AnyIOBackend())

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await resolve_checked(host, port, allow_private=self.allow_private, exempt=self.exempt)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from None
        except socket.gaierror as exc:
            raise httpcore2.ConnectError(f"[Errno {exc.errno}] {exc.strerror}: {host}") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore2.ConnectError(f"{host} resolved to no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's interface
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:  # pragma: no cover - never used by the download client
        raise httpcore2.ConnectError("Unix sockets are not used for downloads")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's network transport whose connections go through `GuardedBackend` (no proxy, no Unix socket)."""

    def __init__(self, *, verify: ssl.SSLContext, allow_private: bool, exempt: Sequence[IPNetwork] = ()) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx2's transport takes no network backend; its pool (httpcore2's public class) does.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(allow_private=allow_private, exempt=exempt),
        )
