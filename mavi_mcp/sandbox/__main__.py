"""`python -m mavi_mcp.sandbox`: the MAVI simulator on a real loopback port (logs on stderr)."""

from __future__ import annotations

import argparse
import logging
import sys

import anyio
import uvicorn

from mavi_mcp.httpserve import server_config
from mavi_mcp.sandbox.app import SandboxConfig, create_app
from mavi_mcp.sandbox.faults import Fault, parse_fault
from mavi_mcp.webhook import bind


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mavi_mcp.sandbox", description="The MAVI API simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stderr)")
    parser.add_argument("--webhook-url", help="where async results are POSTed (the MAVI console setting)")
    parser.add_argument("--callback-delay", type=float, default=2.0, help="seconds before a callback is sent")
    parser.add_argument("--no-rate-limit", action="store_true", help="turn off the 1 request/second limit")
    parser.add_argument("--api-key", help="accept only this key (default: any non-empty key)")
    parser.add_argument("--upload-processing-seconds", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API answer")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ENDPOINT:KIND[:k=v,...]",
        help="inject a fault (repeatable), e.g. sync-generate-audio:status:status=503,count=2 (see faults.py)",
    )
    args = parser.parse_args(argv)
    faults: dict[str, list[Fault]] = {}
    for spec in args.fault:
        try:
            endpoint, fault = parse_fault(spec)
        except ValueError as exc:
            parser.error(str(exc))
        faults.setdefault(endpoint, []).append(fault)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    sandbox = create_app(
        SandboxConfig(
            rate_limit=not args.no_rate_limit,
            api_key=args.api_key,
            webhook_url=args.webhook_url,
            callback_delay=args.callback_delay,
            upload_processing_seconds=args.upload_processing_seconds,
            latency=args.latency,
            faults=faults,
        )
    )
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    config = server_config(sandbox.app, log_level="warning")
    print(f"MAVI sandbox listening on http://{args.host}:{port}", file=sys.stderr, flush=True)
    anyio.run(lambda: uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
