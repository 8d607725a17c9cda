"""The nginx fixture the replica tests stand on: Debian's nginx, run without root from a temporary directory,
spreads requests over its upstreams and routes around one that is down."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2
import pytest

from tests.services import nginx_proxy


@contextmanager
def named_server(name: str) -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on a loopback port that answers every GET with its name."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.e2e
def test_nginx_spreads_requests_over_replicas_and_skips_one_that_is_down(nginx_available: Path) -> None:
    with named_server("a") as a, named_server("b") as b:
        ports = [a.server_address[1], b.server_address[1]]
        with nginx_proxy([int(p) for p in ports]) as proxy, httpx2.Client(base_url=proxy.url, timeout=10) as http:
            seen = [http.get(f"/mcp?n={n}").text for n in range(6)]
            assert sorted(set(seen)) == ["a", "b"], seen
            b.shutdown()
            b.server_close()
            after = [http.get(f"/mcp?n={n}") for n in range(4)]
            assert [(r.status_code, r.text) for r in after] == [(200, "a")] * 4
            assert "connect() failed" in proxy.log()
