"""The `mavi-mcp` command: serve over stdio (default), SSE or streamable HTTP, or against the sandbox.

Flags override environment variables, which override defaults (`mavi_mcp.settings`). Logs go to stderr;
stdout belongs to the MCP stdio transport and is never written to (only `mavi-mcp view`, no MCP server, prints
its URL there).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Generator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pydantic

from mavi_mcp import __version__
from mavi_mcp.commands import COMMANDS, add_commands
from mavi_mcp.settings import DEFAULT_BASE_URL, Settings

EPILOG = f"""\
environment variables (flags win over them):
  MAVI_API_KEY            your MAVI API key (memories.ai console -> API keys); secret, never logged
  MAVI_BASE_URL           API base URL (default {DEFAULT_BASE_URL})
  MAVI_MCP_DATA_DIR       where the SQLite store lives (default: the platform's per-user data directory)
  MAVI_MCP_ALLOWED_DIRS   folders upload_media may read, separated by '{__import__("os").pathsep}' (default: your home)
  MAVI_MCP_TRANSPORT, MAVI_MCP_HOST, MAVI_MCP_PORT, MAVI_MCP_SANDBOX, MAVI_MCP_RATE_LIMIT,
  MAVI_MCP_WAIT_SECONDS, MAVI_MCP_PAGE_TOKENS, MAVI_MCP_STRUCTURED_TEXT, MAVI_MCP_LOG_LEVEL, MAVI_MCP_MAX_ATTEMPTS,
  MAVI_MCP_MAX_RETRY_WAIT, MAVI_MCP_REQUEST_TIMEOUT, MAVI_MCP_CONNECT_TIMEOUT,
  MAVI_MCP_MAX_UPLOAD_BYTES, MAVI_MCP_DOWNLOAD_TIMEOUT, MAVI_MCP_WEBHOOK_PORT,
  MAVI_MCP_WEBHOOK_HOST, MAVI_MCP_WEBHOOK_PUBLIC_URL, MAVI_MCP_ALLOW_UNAUTHENTICATED,
  MAVI_MCP_CONFIRM_ABOVE_USD, MAVI_MCP_DAILY_BUDGET_USD,
  MAVI_MCP_ALLOW_PRIVATE_URLS, MAVI_MCP_ALLOWED_HOSTS (comma-separated), MAVI_MCP_TOOLS (comma-separated)
                          the flags of the same names
  MAVI_MCP_AUTH_TOKEN     bearer token required on the HTTP MCP endpoint (secret)
  MAVI_MCP_WEBHOOK_SECRET secret path of the webhook URL (default: generated, kept in the data dir)
  MAVI_MCP_WEBHOOK_MAX_BYTES  largest webhook body (default 32 MB)

examples:
  mavi-mcp                                   stdio server (Claude Desktop, Claude Code, IDEs)
  mavi-mcp --sandbox                         same tools against the built-in MAVI simulator, no key needed
  mavi-mcp --transport streamable-http --port 8000
  mavi-mcp view tr_0123456789abcdef          a stored transcript in the browser (prints its URL)
  mavi-mcp transcribe talk.mp3 --speakers --format srt --out talk.srt   the command line for people (below)

commands for people (each drives the same tools in process; add --sandbox to try them free):
  transcribe, speakers, search, transcripts   (mavi-mcp COMMAND --help; exit codes 0 ok, 2 usage, 3 no key,
                                               4 API error, 5 confirmation refused)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mavi-mcp",
        description="MCP server for the memories.ai MAVI transcription API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--version", action="version", version=f"mavi-mcp {__version__}")
    parser.add_argument("--sandbox", action="store_true", help="serve against the built-in MAVI simulator")
    parser.add_argument("--transport", choices=["stdio", "sse", "streamable-http"], help="default stdio")
    parser.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8000)")
    parser.add_argument("--base-url", dest="base_url", help="MAVI API base URL")
    parser.add_argument("--data-dir", dest="data_dir", type=Path, help="directory of the store")
    parser.add_argument(
        "--allowed-dir",
        dest="allowed_dirs",
        action="append",
        type=Path,
        metavar="DIR",
        help="a folder upload_media may read (repeat for several; replaces MAVI_MCP_ALLOWED_DIRS)",
    )
    parser.add_argument("--rate-limit", dest="rate_limit", type=float, help="requests/second per key (0 = off)")
    parser.add_argument("--wait-seconds", dest="wait_seconds", type=float, help="tool wait before a task handle")
    parser.add_argument("--page-tokens", dest="page_tokens", type=int, help="default page budget in tokens")
    parser.add_argument("--max-attempts", dest="max_attempts", type=int, help="attempts per safe-to-retry request")
    parser.add_argument("--max-retry-wait", dest="max_retry_wait", type=float, help="longest wait between attempts")
    parser.add_argument("--request-timeout", dest="request_timeout", type=float, help="read timeout (s)")
    parser.add_argument("--connect-timeout", dest="connect_timeout", type=float, help="connect timeout (s)")
    parser.add_argument("--max-upload-bytes", dest="max_upload_bytes", type=int, help="largest upload (bytes)")
    parser.add_argument("--download-timeout", dest="download_timeout", type=float, help="URL download limit (s)")
    parser.add_argument(
        "--structured-text",
        dest="structured_text",
        action=argparse.BooleanOptionalAction,
        help="page text in structured content too (default on)",
    )
    parser.add_argument("--log-level", dest="log_level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument(
        "--tools", dest="tools", metavar="NAMES", help="tools to expose: tool or group names, comma-separated (all)"
    )
    parser.add_argument("--confirm-above-usd", dest="confirm_above_usd", type=float, help="ask above this cost ($)")
    parser.add_argument("--daily-budget-usd", dest="daily_budget_usd", type=float, help="daily spend limit ($)")
    parser.add_argument(
        "--allow-private-urls",
        dest="allow_private_urls",
        action="store_true",
        help="let upload_media download from loopback/private/link-local addresses (a media server on your LAN)",
    )
    parser.add_argument(
        "--webhook-port", dest="webhook_port", type=int, help="stdio mode: also run the webhook receiver on this port"
    )
    parser.add_argument("--webhook-host", dest="webhook_host", help="bind address of the receiver (127.0.0.1)")
    parser.add_argument("--webhook-public-url", dest="webhook_public_url", help="public HTTPS base of the receiver")
    parser.add_argument(
        "--allow-unauthenticated",
        dest="allow_unauthenticated",
        action="store_true",
        help="serve HTTP on a non-loopback address without MAVI_MCP_AUTH_TOKEN (not recommended)",
    )
    parser.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        metavar="HOST",
        help="a public host name (e.g. a reverse proxy's) accepted in Host/Origin headers (repeat for several)",
    )
    parser.add_argument(
        "--replica-name",
        dest="replica_name",
        metavar="NAME",
        help="this replica's name behind a proxy: session ids become NAME.<id> (sticky routing of 2025 sessions)",
    )
    parser.add_argument(
        "--check", action="store_true", help="print the configuration (secrets masked), test the API, and exit"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    hook = commands.add_parser(
        "webhook",
        help="run only the webhook receiver, as a long-lived service writing to the shared store",
        description="Receive MAVI's async results (webhook callbacks) and store them where every mavi-mcp server "
        "of this user reads them. Paste the printed URL (behind public HTTPS) into the MAVI console.",
        argument_default=argparse.SUPPRESS,
    )
    hook.add_argument("--port", dest="webhook_port", type=int, required=True, help="port to listen on (0 = any)")
    hook.add_argument("--host", dest="webhook_host", help="bind address (default 127.0.0.1)")
    hook.add_argument("--data-dir", dest="data_dir", type=Path, help="directory of the store")
    hook.add_argument("--public-url", dest="webhook_public_url", help="public HTTPS base in front of this port")
    hook.add_argument("--sandbox", action="store_true", help="write to the sandbox store (testing)")
    hook.add_argument("--log-level", dest="log_level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    view = commands.add_parser(
        "view",
        help="show a stored transcript in the browser (speaker timeline, talk time, searchable text)",
        description="Serve the transcript viewer for TRANSCRIPT_ID on a loopback port and print its URL.",
        argument_default=argparse.SUPPRESS,
    )
    view.add_argument("transcript_id", metavar="TRANSCRIPT_ID", help="a transcript_id (tr_...) from a transcription")
    view.add_argument("--port", dest="view_port", type=int, default=0, help="port on 127.0.0.1 (default: any free)")
    view.add_argument("--open", dest="open_browser", action="store_true", help="open the URL in the default browser")
    view.add_argument("--data-dir", dest="data_dir", type=Path, help="directory of the store")
    view.add_argument("--sandbox", action="store_true", help="read the sandbox store")
    view.add_argument("--log-level", dest="log_level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    add_commands(commands)  # transcribe, speakers, search, transcripts (mavi_mcp.commands)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings with the given flags over the environment. Raises `SystemExit(2)` on invalid values."""
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if k in Settings.model_fields}
    try:
        return Settings(**overrides)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"mavi-mcp: invalid configuration: {problems}", file=sys.stderr)
        raise SystemExit(2) from None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for noisy in ("httpx2", "httpcore", "httpcore2", "mcp.server.lowlevel.server"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelNamesMapping()[level]))


def refuse_open_http(settings: Settings) -> str | None:
    """Why serving would expose the API key to strangers (non-loopback HTTP without a token), or None."""
    from mavi_mcp.httpguard import is_loopback_host

    if settings.transport == "stdio" or is_loopback_host(settings.host):
        return None
    if settings.auth_token is not None or settings.allow_unauthenticated:
        return None
    return (
        f"refusing to serve {settings.transport} on {settings.host} without authentication: anyone who can reach "
        "it could spend your MAVI credits. Set MAVI_MCP_AUTH_TOKEN (clients then send 'Authorization: Bearer "
        "<token>'), bind to 127.0.0.1, or pass --allow-unauthenticated if something else protects the port."
    )


def check(settings: Settings) -> int:
    """`--check`: the configuration with secrets masked, and whether the API (or the sandbox) answers."""
    from mavi_mcp.errors import MaviError, NotFoundError
    from mavi_mcp.runtime import RuntimeHolder

    out = sys.stderr
    print(f"mavi-mcp {__version__} configuration:", file=out)
    for name, value in settings.masked().items():
        print(f"  {name} = {value}", file=out)

    async def probe() -> int:
        async with RuntimeHolder(settings).open() as runtime:
            target = "sandbox (in process)" if settings.sandbox else settings.masked()["base_url"]
            asset = "re_700000000000000001" if settings.sandbox else "re_000000000000000000"
            try:
                await runtime.client.metadata(asset)
            except NotFoundError:
                pass  # the API answered and accepted the key: the probe asset simply does not exist
            except MaviError as exc:  # a refused key (AuthenticationError) included
                print(f"API check FAILED at {target}: {exc}", file=out)
                return 1
            print(f"API check OK: {target} answered and accepted the key.", file=out)
            print(f"Store: {runtime.store.display_url}", file=out)
            return 0

    return anyio.run(probe)


@contextlib.contextmanager
def collector_paused(paused: bool = True) -> Generator[None]:
    """Cyclic garbage collection off for the block (when `paused`), back on after it whatever happens.

    Start-up builds ~100,000 objects that live as long as the process (the SDK's and our modules, pydantic models,
    tool schemas) and leaves ~3,000 cycles of garbage: the collector, run by allocation counts, walks the young
    ones over and over for nothing, about 60 ms of the ~1 s start-up CPU (measured with `gc.callbacks`).
    `serve` ends the pause itself once the server is built (`started`).
    """
    enabled = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def started() -> None:
    """End the start-up pause: what start-up built moves to the collector's permanent generation (`gc.freeze`:
    never walked again, so later collections only walk what tool calls allocate), and collection resumes. The
    start-up garbage stays (~1 MB)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def serve(settings: Settings) -> None:
    from mavi_mcp.runtime import RuntimeHolder
    from mavi_mcp.server import create_server, http_app

    holder = RuntimeHolder(settings)
    server = create_server(settings, holder=holder)
    started()
    log = logging.getLogger("mavi_mcp")
    if settings.api_key is None and not settings.sandbox:
        log.warning("MAVI_API_KEY is not set: tools are listed, but calls to MAVI will explain how to set it.")
    if settings.transport == "stdio":
        from mavi_mcp.commands.hint import print_terminal_hint

        print_terminal_hint(settings)  # stderr, only when a person started it from a terminal
        anyio.run(server.run_stdio_async)
        return
    import uvicorn

    from mavi_mcp.httpserve import server_config

    app = http_app(server, settings, holder)
    config = server_config(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    log.info("Serving MCP over %s on http://%s:%d", settings.transport, settings.host, settings.port)
    anyio.run(uvicorn.Server(config).serve)


def serve_webhook(settings: Settings) -> None:
    """`mavi-mcp webhook`: the receiver alone, until interrupted, on the store `settings` name (SQLite or
    PostgreSQL, `runtime.open_store`)."""
    import uvicorn

    from mavi_mcp.httpserve import server_config
    from mavi_mcp.recovery import keep_recovering
    from mavi_mcp.runtime import open_store
    from mavi_mcp.secrecy import without_secret
    from mavi_mcp.webhook import (
        Receiver,
        announce,
        bind,
        heartbeat,
        load_or_create_secret,
        public_url,
        receiver_app,
        serve_receiver,
    )

    async def run() -> None:
        async with contextlib.AsyncExitStack() as stack:
            store, _ = await open_store(settings, stack)
            secret = load_or_create_secret(settings, settings.store_dir)
            receiver = Receiver(store, secret=secret, max_bytes=settings.webhook_max_bytes, sandbox=settings.sandbox)
            sock = bind(settings.webhook_host, settings.webhook_port or 0)
            port = sock.getsockname()[1]
            url = public_url(settings, secret, host=settings.webhook_host, port=port)
            announce(url, public=bool(settings.webhook_public_url))
            where = f"mavi-mcp webhook receiver listening on {settings.webhook_host}:{port}"
            print(f"{where}, store {store.display_url}", file=sys.stderr)
            config = server_config(receiver_app(receiver), log_level=settings.log_level, lifespan="off")
            server = uvicorn.Server(config)
            async with anyio.create_task_group() as tg:
                # the secret stays in its file; the heartbeat's id is unique per process (replicas share a database)
                tg.start_soon(heartbeat, store, f"webhook-{os.getpid()}-{port}", without_secret(url, secret))
                tg.start_soon(partial(keep_recovering, store, sandbox=settings.sandbox))  # deliveries `received`
                await serve_receiver(server, sock)
                tg.cancel_scope.cancel()

    anyio.run(run)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    configure_logging(settings.log_level)
    from mavi_mcp.startup import exit_on_startup_error, preflight

    command = getattr(args, "command", None)
    serving = command is None and not getattr(args, "check", False)
    with (
        contextlib.suppress(KeyboardInterrupt),
        exit_on_startup_error(settings),
        collector_paused(serving),  # until the MCP server is built (`serve` resumes it)
    ):
        # the commands for people check the key first, then open the store themselves; PostgreSQL is checked
        # when the runtime opens it (`runtime.open_store`: the same one message and exit status 2)
        if command not in COMMANDS and settings.database_url is None:
            preflight(settings)  # a data dir or store that cannot be used: one message, exit status 2
        if getattr(args, "command", None) == "webhook":
            serve_webhook(settings)
        elif getattr(args, "command", None) == "view":
            from mavi_mcp.app.serve import run_view

            raise SystemExit(
                run_view(
                    settings,
                    args.transcript_id,
                    port=args.view_port,
                    open_browser=getattr(args, "open_browser", False),
                    log_level=settings.log_level,
                )
            )
        elif getattr(args, "command", None) in COMMANDS:
            from mavi_mcp.commands.run import run_command

            if "log_level" not in settings.model_fields_set:
                configure_logging("WARNING")  # a person's terminal: the tools' INFO lines would bury the result
            raise SystemExit(run_command(args, settings))
        elif getattr(args, "check", False):
            raise SystemExit(check(settings))
        else:
            refusal = refuse_open_http(settings)
            if refusal:
                print(f"mavi-mcp: {refusal}", file=sys.stderr)
                raise SystemExit(2)
            serve(settings)


if __name__ == "__main__":
    main()
