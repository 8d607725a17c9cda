"""What a running server holds: settings, the MAVI client, the store, the job runner.

`RuntimeHolder.open()` opens all of it once per process and closes it in reverse order: running jobs get their
grace period, then the task group is cancelled, then the HTTP clients and the store close. The MCP lifespan
uses the runtime the HTTP app already opened (SSE runs the MCP lifespan once per connection; one runtime must
serve them all), or opens one itself (stdio, in-memory clients in tests).

In sandbox mode the MAVI client talks to the in-process simulator through `httpx2.ASGITransport` (no port, no
network, no key) and the store is a separate file under `<data dir>/sandbox/`, so simulated transcripts never
mix with real ones.

The store is the SQLite file in the data dir, or, when `MAVI_MCP_DATABASE_URL` is set, the PostgreSQL database
that every replica shares (`open_store`). On PostgreSQL the runtime also renews this replica's job leases and
fails the jobs of replicas that stopped (`store_pg.keep_leases`), hears of tasks settled by other replicas at
once (`PgStore.watch_settled`), and paces the account's requests in the database (`PgStore.shared_pacing`).
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx2
from anyio.abc import TaskGroup
from pydantic import SecretStr

from mavi_mcp import __version__
from mavi_mcp.client import MaviClient, RetryPolicy
from mavi_mcp.errors import ConfigurationError
from mavi_mcp.jobs import INTERRUPTED, Jobs
from mavi_mcp.media import only_http
from mavi_mcp.pacing import SharedPacing, SqlitePacing
from mavi_mcp.partials import DOWNLOADS, remove_stale
from mavi_mcp.recovery import keep_recovering
from mavi_mcp.secrecy import make_private, without_secret
from mavi_mcp.settings import Settings
from mavi_mcp.spool import SPOOL
from mavi_mcp.startup import StartupError, check_schema, explained
from mavi_mcp.store import DB_NAME, AsyncStore, Store
from mavi_mcp.store_api import StoreAPI

if TYPE_CHECKING:
    from mavi_mcp.store_pg import PgStore
from mavi_mcp.webhook import (
    SECRET_FILE,
    EmbeddedServer,
    Receiver,
    announce,
    bind,
    heartbeat,
    load_or_create_secret,
    public_url,
    receiver_app,
    serve_receiver,
)

logger = logging.getLogger(__name__)

SANDBOX_BASE_URL = "http://mavi-sandbox.invalid"
SANDBOX_KEY = "sandbox-key"
SANDBOX_WEBHOOK_BASE = "http://mavi-mcp.invalid"


@dataclass
class Runtime:
    settings: Settings
    client: MaviClient
    store: StoreAPI
    jobs: Jobs
    downloads: httpx2.AsyncClient
    data_dir: Path
    receiver: Receiver
    webhook_url: str | None = None
    """The URL to paste into the MAVI console, when a receiver runs in this process."""
    receiver_here: str | None = None
    """How the receiver runs in this process ("embedded on port N", "MCP HTTP app", "sandbox"), or None."""

    @property
    def sandbox(self) -> bool:
        return self.settings.sandbox


class RuntimeHolder:
    """Opens the runtime once and hands the same one to every MCP session of this process."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        download_transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport` / `download_transport`, when given, carry the MAVI requests / media URL downloads
        instead of the network (tests, benchmarks)."""
        self.settings = settings
        self.transport = transport
        self.download_transport = download_transport
        self.current: Runtime | None = None

    @asynccontextmanager
    async def use(self) -> AsyncGenerator[Runtime]:
        """The open runtime, or a new one for the duration of the block."""
        if self.current is not None:
            yield self.current
            return
        async with self.open() as runtime:
            yield runtime

    @asynccontextmanager
    async def open(self) -> AsyncGenerator[Runtime]:
        settings = self.settings
        async with AsyncExitStack() as stack:
            data_dir = settings.store_dir
            store, pg = await open_store(settings, stack)
            secret = load_or_create_secret(settings, data_dir)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(task_group.cancel_scope.cancel)
            jobs = Jobs(store, task_group, spool_dir=data_dir / SPOOL)
            if pg is not None:  # replicas: leases, and completions made on other replicas heard at once
                from mavi_mcp.store_pg import keep_leases

                task_group.start_soon(partial(keep_leases, pg, INTERRUPTED), name="job leases")
                task_group.start_soon(partial(pg.watch_settled, jobs.notify), name="settled tasks")
            else:  # replicas on one SQLite file: a killed one's sync jobs end while the others run
                from mavi_mcp.replicas import keep_failing_stale_jobs

                task_group.start_soon(partial(keep_failing_stale_jobs, store, INTERRUPTED), name="stale jobs")
            receiver = Receiver(
                store,
                secret=secret,
                max_bytes=settings.webhook_max_bytes,
                sandbox=settings.sandbox,
                on_settled=jobs.notify,
            )
            webhook_url, receiver_here = await self._host_receiver(stack, task_group, receiver)

            timeout = httpx2.Timeout(settings.request_timeout, connect=settings.connect_timeout)
            api_key = settings.api_key
            if settings.sandbox:
                transport = await stack.enter_async_context(_sandbox_transport(receiver))
                http = httpx2.AsyncClient(base_url=SANDBOX_BASE_URL, transport=transport, timeout=timeout)
                api_key = api_key or SecretStr(SANDBOX_KEY)
            else:
                transport = self.transport or LazyTransport(_network_transport)
                http = httpx2.AsyncClient(base_url=settings.base_url, timeout=timeout, transport=transport)
            await stack.enter_async_context(http)
            downloads = httpx2.AsyncClient(
                follow_redirects=True,
                max_redirects=5,
                timeout=httpx2.Timeout(settings.download_timeout, connect=settings.connect_timeout),
                headers={"User-Agent": f"mavi-mcp/{__version__}"},
                transport=self.download_transport
                or LazyTransport(lambda: _guarded_transport(settings.allow_private_urls)),
                trust_env=False,  # no proxy from the environment: every connection goes through the guard
                event_hooks={"request": [only_http]},
            )
            await stack.enter_async_context(downloads)
            # one pace per key: for every process on this data dir, or every replica on the database
            pacing: SharedPacing = pg.shared_pacing() if pg is not None else SqlitePacing.in_dir(data_dir)
            stack.push_async_callback(pacing.aclose)
            client = MaviClient(
                http,
                api_key,
                rate_limit=settings.rate_limit,
                policy=RetryPolicy(max_attempts=settings.max_attempts, max_wait=settings.max_retry_wait),
                shared_pacing=pacing,
            )
            stack.push_async_callback(jobs.drain)
            if stale := remove_stale(data_dir / DOWNLOADS):
                logger.info("Removed %d partial download(s) left by a process that stopped", stale)
            task_group.start_soon(partial(keep_recovering, store, sandbox=settings.sandbox, spool_dir=data_dir / SPOOL))
            recovered = await jobs.recover()
            if recovered:
                logger.info("Marked %d job(s) interrupted by an earlier stop as failed", recovered)
            runtime = Runtime(
                settings=settings,
                client=client,
                store=store,
                jobs=jobs,
                downloads=downloads,
                data_dir=data_dir,
                receiver=receiver,
                webhook_url=webhook_url,
                receiver_here=receiver_here,
            )
            self.current = runtime
            try:
                yield runtime
            finally:
                self.current = None

    async def _host_receiver(
        self, stack: AsyncExitStack, task_group: TaskGroup, receiver: Receiver
    ) -> tuple[str | None, str | None]:
        """Run the webhook receiver where this process serves it; returns (URL to paste, how it runs)."""
        settings = self.settings
        if settings.sandbox:
            return SANDBOX_WEBHOOK_BASE + receiver.path, "in-process, fed by the sandbox"
        if settings.transport != "stdio":
            url = public_url(settings, receiver.secret, host=settings.host, port=settings.port)
            how = f"on the MCP {settings.transport} app"
        elif settings.webhook_port is not None:
            sock = bind(settings.webhook_host, settings.webhook_port)
            port = sock.getsockname()[1]
            from mavi_mcp.httpserve import server_config

            config = server_config(receiver_app(receiver), log_level="warning", lifespan="off")
            server = EmbeddedServer(config)
            task_group.start_soon(serve_receiver, server, sock, name="webhook receiver")
            stack.callback(lambda: setattr(server, "should_exit", True))
            url = public_url(settings, receiver.secret, host=settings.webhook_host, port=port)
            how = f"embedded on {settings.webhook_host}:{port}"
        else:
            return None, None
        stored = without_secret(url, receiver.secret)  # the secret stays in its file
        task_group.start_soon(heartbeat, receiver.store, f"{os.getpid()}-{id(receiver)}", stored)
        announce(url, public=bool(settings.webhook_public_url))
        return url, how


async def open_store(settings: Settings, stack: AsyncExitStack) -> tuple[StoreAPI, PgStore | None]:
    """Open the store `settings` name, closed with `stack`: (the store, the same store when it is PostgreSQL).

    `MAVI_MCP_DATABASE_URL` set: the PostgreSQL store (schema migrated, pool open); else the SQLite file in the
    data dir. The data dir is made private either way (it holds the webhook secret); on PostgreSQL no SQLite file
    is created.

    Raises:
        StartupError: the SQLite store cannot be opened, or the database cannot be reached, refuses the login
            (the message masks the URL's password) or has a newer schema than this mavi-mcp (with what to do).
    """
    data_dir = settings.store_dir
    if settings.database_url is not None:
        make_private(data_dir, [])  # the webhook secret's dir; no SQLite file
        from mavi_mcp.store_pg import PgStore

        url = settings.database_url.get_secret_value()
        try:
            pg = await stack.enter_async_context(PgStore.open(url, lease_seconds=settings.lease_seconds))
        except ConfigurationError as exc:  # one line on stderr and exit status 2, as a SQLite store that cannot open
            raise StartupError(str(exc)) from None
        logger.info("Store: PostgreSQL at %s (replica %s)", pg.display_url, pg.owner)
        return pg, pg
    make_private(data_dir, [DB_NAME, SECRET_FILE])
    with explained(data_dir / DB_NAME):  # a store that cannot be opened: StartupError, with what to do
        check_schema(data_dir / DB_NAME)
        store = AsyncStore(Store.in_dir(data_dir))
    stack.callback(store.close)
    return store, None


class LazyTransport(httpx2.AsyncBaseTransport):
    """A transport built on the first request that needs it.

    Building httpx2's network transport loads the CA bundle into an SSL context and imports the HTTP/1.1 stack
    (about 50 ms together): a server spawned by a client that only lists its tools, or only reads stored
    transcripts, never pays it, and the first answer does not wait for it.
    """

    def __init__(self, make: Callable[[], httpx2.AsyncBaseTransport]) -> None:
        self._make = make
        self._transport: httpx2.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._transport is None:
            self._transport = self._make()
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


@cache
def _ssl_context() -> ssl.SSLContext:
    """One SSL context (system CA bundle, or `SSL_CERT_FILE`/`SSL_CERT_DIR`) shared by the API and download clients."""
    return httpx2.create_ssl_context()


def _guarded_transport(allow_private: bool) -> httpx2.AsyncBaseTransport:
    """The download transport: every connection checked by `netguard` (imported here, on the first download)."""
    from mavi_mcp.netguard_http import GuardedTransport

    return GuardedTransport(verify=_ssl_context(), allow_private=allow_private)


def _network_transport() -> httpx2.AsyncBaseTransport:
    return httpx2.AsyncHTTPTransport(verify=_ssl_context())


@asynccontextmanager
async def _sandbox_transport(receiver: Receiver) -> AsyncGenerator[httpx2.AsyncBaseTransport]:
    """An ASGI transport to a running in-process sandbox whose callbacks go to `receiver` in-process."""
    from mavi_mcp.sandbox import SandboxConfig, create_app

    deliveries = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=receiver_app(receiver)))
    async with deliveries:
        sandbox = create_app(SandboxConfig(webhook_url=SANDBOX_WEBHOOK_BASE + receiver.path, webhook_client=deliveries))
        async with sandbox.running():
            yield httpx2.ASGITransport(app=sandbox.app)
