"""Hosting the receiver: a listening socket, uvicorn beside another server, the liveness heartbeat, and
`serve_receiver`, which the embedded receiver (stdio `--webhook-port`) and `mavi-mcp webhook` both use."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Generator

import anyio
import uvicorn

from mavi_mcp.errors import StoreUnavailableError
from mavi_mcp.store_api import StoreAPI

logger = logging.getLogger(__name__)


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: it runs beside another server in the same process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free port); binding here makes the real port known at once.

    Made with `IPPROTO_TCP` so that asyncio sets TCP_NODELAY on every connection it accepts (it only does for that
    protocol number): with Nagle's algorithm on, each answer after the first on a kept-alive connection waits
    ~40 ms for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def heartbeat(store: StoreAPI, receiver_id: str, url: str, every: float = 10.0) -> None:
    """Record this receiver as alive every `every` seconds until cancelled, then forget it. A database that is
    down (PostgreSQL, `StoreUnavailableError`) is logged and tried again at the next beat, never raised."""
    try:
        while True:
            try:
                await store.heartbeat(receiver_id, url)
            except StoreUnavailableError as exc:
                logger.warning("Receiver heartbeat not recorded (retrying in %.0fs): %s", every, exc)
            await anyio.sleep(every)
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(StoreUnavailableError):
            await store.forget_receiver(receiver_id)


async def serve_receiver(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve `server` on `sock` until it exits or is cancelled; the listening socket never outlives it (cancelled
    before uvicorn's own shutdown, the port would otherwise stay open)."""
    try:
        await server.serve(sockets=[sock])
    finally:
        for listening in server.servers:
            listening.close()  # stops accepting, then closes the socket
        sock.close()
