"""What N `mavi-mcp --transport streamable-http` replicas behind one reverse proxy need from each process.

- **Stateless requests (MCP 2026-07-28)** carry no session: any replica may answer any request. A multi-round
  request (a cost confirmation answered through `InputRequiredResult`) hands the client a sealed `requestState`
  that the next round echoes, possibly to another replica; the SDK seals it with `RequestStateSecurity`, whose
  default key is made per process. `request_state_security(settings)` builds one policy from
  `MAVI_MCP_REQUEST_STATE_KEYS`, shared by every replica; its audience is the server name, "mavi-mcp" on every
  replica (`server.create_server`).
- **Session-based clients (MCP 2025-x, the `initialize` handshake)** hold a session in ONE process's memory (the
  SDK's `StreamableHTTPSessionManager`), named by the `Mcp-Session-Id` header; any other replica answers 404 and
  the client must start over. The session id is made by the SDK (a random hex string, not configurable), so a
  proxy cannot tell from it which replica holds the session. `ReplicaSessionIds` prefixes every session id this
  process issues with `MAVI_MCP_REPLICA_NAME` and a dot (`r1.0f3a...`) and strips the prefix from requests; the
  proxy routes on the prefix (examples/deploy/nginx.conf: a `map` of the header to one upstream per replica).
  Hashing the header alone (`hash $http_mcp_session_id`) does not work: `initialize` has no session id yet, so
  the replica that creates a session is not the one the hash later picks.
- **Jobs of a replica that died**, on one SQLite file shared by the replicas of one machine: every running replica
  fails them (`keep_failing_stale_jobs`, by process id), not only a replica that starts. On PostgreSQL job leases
  do this (`store_pg.keep_leases`).
"""

from __future__ import annotations

import logging
import sqlite3

import anyio
from mcp.server.request_state import RequestStateSecurity
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mavi_mcp.errors import StoreUnavailableError
from mavi_mcp.settings import Settings
from mavi_mcp.store_api import StoreAPI

logger = logging.getLogger(__name__)

SESSION_HEADER = b"mcp-session-id"


def request_state_security(settings: Settings) -> RequestStateSecurity | None:
    """The SDK's requestState policy under the shared `request_state_keys` (AES-256-GCM, first key seals, all
    open), or None (the SDK's per-process key) when none are set. Keys are 32+ bytes (validated by Settings)."""
    if not settings.request_state_keys:
        return None
    return RequestStateSecurity(keys=[key.get_secret_value() for key in settings.request_state_keys])


class ReplicaSessionIds:
    """ASGI middleware: session ids leave as `<replica>.<id>` (response header) and arrive back as `<id>`.

    An incoming id with another replica's prefix is passed on unchanged, so the SDK answers it as an unknown
    session (404: the client starts a new session), exactly as for a replica that restarted.
    """

    def __init__(self, app: ASGIApp, *, replica: str) -> None:
        self.app = app
        self.prefix = replica.encode() + b"."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = [
            (name, value[len(self.prefix) :] if name == SESSION_HEADER and value.startswith(self.prefix) else value)
            for name, value in scope.get("headers", [])
        ]

        async def send_prefixed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [
                    (name, self.prefix + value if name.lower() == SESSION_HEADER else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app({**scope, "headers": headers}, receive, send_prefixed)


STALE_EVERY = 10.0
"""SECONDS between two checks for the sync jobs of a process that died (SQLite store shared by replicas)."""


async def keep_failing_stale_jobs(store: StoreAPI, reason: str, *, every: float = STALE_EVERY) -> None:
    """Every `every` SECONDS until cancelled, mark the sync jobs whose owning process is gone as failed with
    `reason` (`StoreAPI.fail_stale_jobs`): on one SQLite file shared by replicas, the jobs of a replica that was
    killed end while the others run, not only when some process starts. A store fault is logged and the next
    check tries again."""
    while True:
        await anyio.sleep(every)
        try:
            if failed := await store.fail_stale_jobs(reason):
                logger.info("Marked %d job(s) of a stopped process as failed", failed)
        except (sqlite3.Error, OSError, StoreUnavailableError) as exc:
            logger.warning("Check for jobs of stopped processes failed: %s", exc)
