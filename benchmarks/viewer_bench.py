"""Size of the transcript viewer and its time to first paint for the 66-minute Costco call, in a real browser.

Run: `python benchmarks/viewer_bench.py` (`--runs N` for more page loads; needs Debian's chromium and the dev
extra's playwright; never `playwright install`).

It transcribes the sandbox asset re_700000000000000002 (Earnings-22 4474506, Costco Q1 FY22, 66 min) with
`transcribe_elevenlabs` (diarize) and `transcribe_assemblyai` (speaker_labels) on an in-process mavi-mcp server
(sandbox, a client that declares MCP Apps), then for each transcript opens the package's host page
(`mavi_mcp/app/host.html`) in headless Chromium with the app's HTML from the server's `ui://` resource and every
`tools/call` of the app forwarded to the server through the MCP client, as an Apps host does. Each run is a fresh
page. Figures:

- app: bytes of viewer.html, and gzipped (what a host fetches once and may cache);
- data: bytes of the `viewer_data` structured content (compact JSON) for the transcript, and gzipped;
- first paint: from the host page's navigation start to the app's first contentful paint (its shell);
- transcript painted: from the host page's navigation start to the frame after the timeline, talk time and
  transcript are in the page (`performance.mark("transcript-painted")`, after two animation frames): the
  ui/initialize handshake, the tool result, the viewer_data call through the bridge and the rendering;
- render: the app's own work for that transcript (building the DOM), inside the above.
Medians over the runs, with the range.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp_types import TextResourceContents

from mavi_mcp.app import APP_URI, asset, viewer_html
from mavi_mcp.app.serve import ViewServer, loopback_socket, url_of, view_app
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.store import AsyncStore, Store

COSTCO = "re_700000000000000002"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOST = "http://viewer.bench/t/"
CALLS = {
    "transcribe_elevenlabs": {"asset_id": COSTCO, "diarize": True},
    "transcribe_assemblyai": {"asset_id": COSTCO, "speaker_labels": True},
}


class AppsSupport(ClientExtension):
    identifier = EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [APP_MIME_TYPE]}


def wire(result: Any) -> dict[str, Any]:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


async def load_mcp(browser: Any, client: Client, html: str, arguments: dict[str, Any], result: Any) -> dict[str, float]:
    """One load of the host page, bridged to the MCP server through Playwright request routing."""
    page = await browser.new_page(viewport={"width": 1280, "height": 900})

    async def handle(route: Any) -> None:
        path = route.request.url.removeprefix(HOST)
        if path == "":
            await route.fulfill(status=200, content_type="text/html", body=asset("host.html"))
        elif path == "app":
            await route.fulfill(status=200, content_type="text/html", body=html)
        elif path == "tool-call":
            await route.fulfill(json={"arguments": arguments, "result": wire(result)})
        elif path == "bridge":
            params = json.loads(route.request.post_data or "{}").get("params") or {}
            answer = await client.call_tool(params["name"], params.get("arguments") or {})
            await route.fulfill(json={"result": wire(answer)})
        else:
            await route.fulfill(status=404, body="")

    await page.route("http://viewer.bench/**", handle)
    return await measure(page, HOST)


async def load_view(browser: Any, url: str) -> dict[str, float]:
    """One load of `mavi-mcp view`'s page (real HTTP on loopback)."""
    return await measure(await browser.new_page(viewport={"width": 1280, "height": 900}), url)


async def measure(page: Any, url: str) -> dict[str, float]:
    await page.goto(url)
    app = page.frame_locator("#app")
    await app.locator("body[data-state=ready]").wait_for(timeout=60000)
    host_origin = await page.evaluate("() => performance.timeOrigin")
    frame = next(f for f in page.frames if f.url.endswith("/app"))
    figures = await frame.evaluate(
        """() => ({
            origin: performance.timeOrigin,
            fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
            painted: performance.getEntriesByName('transcript-painted')[0].startTime,
            render: Number(document.body.dataset.renderMs),
            initialized: performance.getEntriesByName('initialized')[0].startTime,
            requested: performance.getEntriesByName('data-requested')[0].startTime,
            received: performance.getEntriesByName('data-received')[0].startTime,
        })"""
    )
    await page.close()
    shift = figures["origin"] - host_origin
    return {
        "first_paint": shift + (figures["fcp"] or float("nan")),
        "painted": shift + figures["painted"],
        "render": figures["render"],
        "initialized": shift + figures["initialized"],
        "requested": shift + figures["requested"],
        "data": figures["received"] - figures["requested"],
    }


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms ({min(values):.0f}-{max(values):.0f})"


def report(title: str, loads: list[dict[str, float]]) -> None:
    print(f"  {title}:")
    print(f"    first paint (app shell):  {summary([x['first_paint'] for x in loads])}")
    print(f"    app initialized:          {summary([x['initialized'] for x in loads])}")
    print(f"    viewer_data asked:        {summary([x['requested'] for x in loads])}")
    print(f"    viewer_data round trip:   {summary([x['data'] for x in loads])}")
    print(f"    render (app's DOM work):  {summary([x['render'] for x in loads])}")
    print(f"    transcript painted:       {summary([x['painted'] for x in loads])}")


@asynccontextmanager
async def view_server(settings: Settings, transcript_id: str) -> AsyncIterator[str]:
    """`mavi-mcp view`'s app for `transcript_id` on a loopback port, in this process; yields its URL."""
    import uvicorn

    store = Store.in_dir(settings.store_dir)
    view = ViewServer(AsyncStore(store), transcript_id)
    sock = loopback_socket()
    server = uvicorn.Server(uvicorn.Config(view_app(view), log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield url_of(view, sock)
    finally:
        server.should_exit = True
        await task
        store.close()


async def main(runs: int) -> None:
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        sys.exit("Debian's chromium is needed: apt-get install -y chromium")
    app_bytes = viewer_html().encode()
    print(f"app: viewer.html {len(app_bytes) / 1024:.1f} KB, {len(gzip.compress(app_bytes)) / 1024:.1f} KB gzipped")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(sandbox=True, data_dir=Path(tmp), rate_limit=0, log_level="WARNING")
        async with Client(create_server(settings), extensions=[AppsSupport()]) as client:
            read = (await client.read_resource(APP_URI)).contents[0]
            assert isinstance(read, TextResourceContents)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                for tool, arguments in CALLS.items():
                    result = await client.call_tool(tool, arguments)
                    assert not result.is_error, result
                    tid = (result.structured_content or {})["transcript_id"]
                    data = (await client.call_tool("viewer_data", {"transcript_id": tid})).structured_content
                    body = json.dumps(data, separators=(",", ":")).encode()
                    assert data is not None
                    print(
                        f"\n{tool} on Costco (66 min): {len(data['speakers'])} speakers, {len(data['segments'])} "
                        f"segments; viewer_data {len(body) / 1024:.0f} KB, {len(gzip.compress(body)) / 1024:.0f} KB "
                        "gzipped"
                    )
                    await load_mcp(browser, client, read.text, arguments, result)  # warm-up
                    report(
                        "MCP host (Playwright-routed bridge to the server)",
                        [await load_mcp(browser, client, read.text, arguments, result) for _ in range(runs)],
                    )
                    async with view_server(settings, tid) as url:
                        await load_view(browser, url)  # warm-up
                        report("mavi-mcp view (loopback HTTP)", [await load_view(browser, url) for _ in range(runs)])
                await browser.close()
    print(f"\n{runs} fresh page loads each, medians (range); headless Chromium {CHROMIUM}.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="page loads per transcript (default 7)")
    asyncio.run(main(parser.parse_args().runs))
