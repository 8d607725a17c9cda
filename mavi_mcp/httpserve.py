"""How every HTTP server of the project is configured: `server_config(app, ...)` -> `uvicorn.Config`.

Used for the MCP HTTP transports, the webhook receiver (embedded or `mavi-mcp webhook`) and the sandbox
(`python -m mavi_mcp.sandbox`), so that idle or trickling clients cannot starve real traffic:

- a client has `HEADER_TIMEOUT` seconds from connecting (or from the end of its previous response) to send a
  complete request head, and `BODY_TIMEOUT` seconds after that to send the whole body; then the connection is
  closed. uvicorn has no such deadline (a client that never finishes its headers stays open for ever), so
  `DeadlineH11Protocol` adds one to uvicorn's h11 protocol;
- an idle kept-alive connection is closed after `KEEP_ALIVE_TIMEOUT` seconds (uvicorn's `timeout_keep_alive`);
- at most `MAX_CONNECTIONS` connections are served at once; beyond that uvicorn answers 503 at once
  (`limit_concurrency`); a request head is at most `MAX_HEAD_BYTES` (h11's incomplete-event limit, else 431/400);
- no access log (it would print the webhook's secret path and any token a client puts in a query string), and
  uvicorn does not configure logging itself (`log_config=None`: its default config writes the access log to
  stdout, which belongs to the stdio transport); the process's stderr logging applies.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class Limits:
    """Deadlines in SECONDS and sizes in BYTES for one server."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive_timeout: int = 5
    max_connections: int = 2000
    max_head_bytes: int = 16 * 1024


DEFAULT_LIMITS = Limits()


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and a body deadline (see the module docstring).

    The deadlines follow h11's view of the client: while it is IDLE (no complete request head yet) the head
    deadline runs; in SEND_BODY the body deadline runs; once the request is complete neither does (the app's
    own time is not limited here). On expiry the connection is closed.
    """

    limits: Limits = DEFAULT_LIMITS

    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_state()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _follow_state(self) -> None:
        state = self.conn.their_state
        if state is h11.IDLE:
            self._cancel_body()
            self._arm_head()
        elif state is h11.SEND_BODY:
            self._cancel_head()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.limits.body_timeout, self._expire)
        else:
            self._cancel()

    def _arm_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._expire)

    def _cancel_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel(self) -> None:
        self._cancel_head()
        self._cancel_body()

    def _expire(self) -> None:
        self._head_timer = self._body_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_with(limits: Limits) -> type[DeadlineH11Protocol]:
    """`DeadlineH11Protocol` with `limits` (a subclass; uvicorn builds one protocol object per connection)."""
    if limits == DEFAULT_LIMITS:
        return DeadlineH11Protocol
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"limits": limits})


def server_config(app: Any, *, log_level: str, limits: Limits = DEFAULT_LIMITS, **options: Any) -> uvicorn.Config:
    """A uvicorn config for `app` with the project's limits, no access log and no logging config of its own.

    `options` are passed on to `uvicorn.Config` (host, port, lifespan, ...).
    """
    return uvicorn.Config(
        app,
        http=protocol_with(limits),
        log_level=log_level.lower(),
        log_config=None,
        access_log=False,
        timeout_keep_alive=limits.keep_alive_timeout,
        limit_concurrency=limits.max_connections,
        h11_max_incomplete_event_size=limits.max_head_bytes,
        **options,
    )
