"""The transcript viewer (MCP Apps, `mavi_mcp.viewer`, `mavi_mcp/app/`): what Apps and other clients see, the
viewer's JSON, and the app itself in Debian's Chromium (Playwright) behind a host page bridged to a real server.

Screenshots go to each test's temporary directory.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp_types import CallToolResult, TextResourceContents

from mavi_mcp.app import APP_URI, asset, viewer_html
from mavi_mcp.app.data import viewer_payload
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.store import Store
from mavi_mcp.transcript import Extras, Segment, Source, Transcript, summarize_speakers, utcnow
from mavi_mcp.viewer import APP_TOOL, LINKED_TOOLS
from tests.conftest import mavi_mcp_command, start, stdio_params
from tests.viewer_browser import AppsSupport, McpAppsHost, chromium

pytestmark = pytest.mark.anyio

COSTCO = "re_700000000000000002"  # Earnings-22 4474506, 66 min, ElevenLabs with diarize: 17 speakers
AMI_ES2004A = "re_700000000000000012"  # speaker turns only, 4 speakers
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert first.type == "text"
    return first.text


def crafted_transcript() -> Transcript:
    """An AssemblyAI-shaped transcript whose words, chapter and highlight carry HTML, with faces (times: seconds,
    the extras' in milliseconds as AssemblyAI sends them)."""
    segments = [
        Segment(start=0.0, end=4.0, speaker="A", text=f"Hello {XSS_IMG} there."),
        Segment(start=3.5, end=9.0, speaker="B", text=f"And {XSS_SCRIPT} too."),
        Segment(start=9.0, end=20.0, speaker="A", text="Quarterly membership fees grew nicely."),
    ]
    return Transcript(
        id="tr_00000000000000aa",
        kind="transcript",
        source=Source(provider="assemblyai", endpoint="speech-to-text-assemblyai", sandbox=True),
        duration=20.0,
        segments=segments,
        speakers=summarize_speakers(segments),
        extras=Extras(
            summary="A short call.",
            chapters=[
                {"start": 0, "end": 9000, "headline": f"Greetings {XSS_IMG}", "gist": "hello", "summary": "s"},
                {"start": 9000, "end": 20000, "headline": "Membership", "gist": "fees", "summary": "s"},
                {"start": "soon", "headline": "no time: dropped"},
            ],
            highlights={
                "status": "success",
                "results": [
                    {"text": "membership fees", "count": 1, "rank": 0.9, "timestamps": [{"start": 9500, "end": 11000}]}
                ],
            },
            faces=[{"face_id": "f1", "name": "Ana Ruiz", "face_file_protocol": "gs", "face_file_blob": "x.png"}],
        ),
        created_at=utcnow(),
    )


# --- the viewer's JSON --------------------------------------------------------------------------------------


def test_viewer_payload_gives_seconds_for_assemblyai_milliseconds_and_applies_the_users_names() -> None:
    payload = viewer_payload(crafted_transcript(), {"A": "Ana Ruiz"})

    assert [c["start"] for c in payload["chapters"]] == [0.0, 9.0]  # the chapter without a time is left out
    assert payload["chapters"][1]["end"] == 20.0
    assert payload["highlights"] == [{"text": "membership fees", "count": 1, "rank": 0.9, "times": [[9.5, 11.0]]}]
    assert payload["faces"] == [{"face_id": "f1", "name": "Ana Ruiz"}]
    assert [(s["label"], s["name"]) for s in payload["speakers"]] == [("A", "Ana Ruiz"), ("B", None)]
    assert payload["segments"][1] == [3.5, 9.0, 1, f"And {XSS_SCRIPT} too."]
    assert payload["summary"] == "A short call."
    json.dumps(payload)  # JSON-ready as it is


# --- what clients see ---------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(sandbox=True, data_dir=tmp_path / "data", rate_limit=0)


async def test_a_client_without_apps_sees_no_viewer_tool_resource_or_links(settings: Settings) -> None:
    with anyio.fail_after(60):
        async with Client(create_server(settings)) as client:
            tools = (await client.list_tools()).tools
            resources = (await client.list_resources()).resources
            advertised = client.server_capabilities.extensions or {}
    assert EXTENSION_ID in advertised  # the server says it could; the client did not ask
    assert APP_TOOL not in {t.name for t in tools}
    assert all(not (t.meta or {}).get("ui") for t in tools)
    assert APP_URI not in {str(r.uri) for r in resources}


async def test_an_apps_client_gets_linked_tools_an_app_only_tool_and_the_html_resource(settings: Settings) -> None:
    with anyio.fail_after(60):
        async with Client(create_server(settings), extensions=[AppsSupport()]) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            resources = {str(r.uri): r for r in (await client.list_resources()).resources}
            read = await client.read_resource(APP_URI)

    assert tools[APP_TOOL].meta == {"ui": {"resourceUri": APP_URI, "visibility": ["app"]}}
    linked = {name for name, tool in tools.items() if (tool.meta or {}).get("ui", {}).get("resourceUri") == APP_URI}
    assert linked == {*LINKED_TOOLS, APP_TOOL}
    assert resources[APP_URI].mime_type == APP_MIME_TYPE
    content = read.contents[0]
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == APP_MIME_TYPE
    assert content.text == viewer_html()
    assert content.text.startswith("<!DOCTYPE html>")


@pytest.mark.e2e
async def test_over_stdio_an_apps_client_is_offered_the_viewer_and_a_plain_one_is_not(tmp_path: Path) -> None:
    env = {"MAVI_MCP_DATA_DIR": str(tmp_path / "data")}
    with anyio.fail_after(60):
        async with Client(stdio_params(env, "--sandbox"), extensions=[AppsSupport()]) as apps:
            apps_tools = {t.name: t.meta for t in (await apps.list_tools()).tools}
        async with Client(stdio_params(env, "--sandbox")) as plain:
            plain_tools = {t.name: t.meta for t in (await plain.list_tools()).tools}
    assert apps_tools[APP_TOOL] == {"ui": {"resourceUri": APP_URI, "visibility": ["app"]}}
    assert apps_tools["get_transcript"] == {"ui": {"resourceUri": APP_URI}}
    assert set(plain_tools) == set(apps_tools) - {APP_TOOL}
    assert not any(plain_tools.values())


async def test_the_viewer_html_loads_nothing_from_the_network() -> None:
    html = viewer_html()
    for needle in ("http://", "https://", "//cdn", "<link", "src=", "@import", "fetch(", "XMLHttpRequest"):
        assert needle not in html, needle
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in html, sink


async def test_tool_results_are_the_same_text_with_and_without_apps(settings: Settings) -> None:
    args = {"asset_id": AMI_ES2004A, "mode": "sync"}
    with anyio.fail_after(60):
        async with Client(create_server(settings)) as plain:
            first = await plain.call_tool("identify_speakers", args)
            page = {"transcript_id": first.structured_content["transcript_id"]}  # type: ignore[index]
            plain_page = await plain.call_tool("get_transcript", page)
        async with Client(create_server(settings), extensions=[AppsSupport()]) as apps:
            apps_page = await apps.call_tool("get_transcript", page)
            data = await apps.call_tool(APP_TOOL, page)
    assert text_of(apps_page) == text_of(plain_page)
    assert apps_page.structured_content == plain_page.structured_content
    payload = data.structured_content
    assert payload is not None
    assert json.loads(text_of(data)) == payload
    assert len(payload["speakers"]) == 4
    assert payload["kind"] == "diarization"


async def test_viewer_data_for_an_unknown_transcript_says_how_to_find_ids(settings: Settings) -> None:
    with anyio.fail_after(60):
        async with Client(create_server(settings), extensions=[AppsSupport()]) as client:
            result = await client.call_tool(APP_TOOL, {"transcript_id": "tr_nope"})
    assert result.is_error
    assert "list_transcripts" in text_of(result)


# --- the app in Chromium, behind a host page bridged to the real server -------------------------------------


@dataclass
class Shown:
    host: McpAppsHost
    payload: dict[str, Any]
    frame: Any  # the app's playwright Frame


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


async def show(client: Client, browser: Any, tool: str, args: dict[str, Any], *, width: int = 1200) -> Shown:
    page = await browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    host = McpAppsHost(client, page)
    await host.install()
    result = await host.show(tool, args)
    assert not result.is_error, text_of(result)
    await host.app.locator("body[data-state=ready]").wait_for(timeout=20000)
    assert errors == []
    tid = (result.structured_content or {})["transcript_id"]
    payload = (await client.call_tool(APP_TOOL, {"transcript_id": tid})).structured_content
    assert payload is not None
    frame = next(f for f in page.frames if f.url.endswith("/app"))
    return Shown(host, payload, frame)


async def test_the_lanes_match_the_speakers_and_a_click_on_a_bar_scrolls_to_its_turn(
    settings: Settings, browser: Any, tmp_path: Path
) -> None:
    with anyio.fail_after(120):
        async with Client(create_server(settings), extensions=[AppsSupport()]) as client:
            shown = await show(client, browser, "transcribe_elevenlabs", {"asset_id": COSTCO, "diarize": True})
            app, payload = shown.host.app, shown.payload
            await shown.host.page.screenshot(path=tmp_path / "viewer-costco.png", full_page=True)

            speakers = payload["speakers"]
            assert len(speakers) == 17
            lanes = app.locator(".lane")
            assert await lanes.count() == len(speakers)
            assert await app.locator(".lane .tlabel").all_inner_texts() == [s["label"] for s in speakers]
            for i in (0, 1, 9):
                expected = sum(1 for seg in payload["segments"] if seg[2] == i)
                assert await lanes.nth(i).locator(".bar").count() == expected
            # the app asked the server through the host for the whole transcript
            assert call(APP_TOOL, {"transcript_id": payload["transcript_id"]}) in shown.host.forwarded

            bar = lanes.nth(9).locator(".bar").last
            seg = payload["segments"][int(await bar.get_attribute("data-seg"))]
            await bar.click()
            row = app.locator(".turn.cur")
            assert await row.count() == 1
            assert await row.get_attribute("data-turn") == await bar.get_attribute("data-turn")
            assert words(seg[3])[:60] in words(await row.inner_text())
            assert await row_is_visible(shown.frame)
            await shown.host.page.screenshot(path=tmp_path / "viewer-costco-clicked.png", full_page=True)


def words(text: str) -> str:
    """`text` with every run of white space as one space (the app breaks long turns into paragraphs)."""
    return " ".join(text.split())


async def row_is_visible(frame: Any) -> bool:
    """Whether the current turn lies inside the transcript's scrolled viewport."""
    return await frame.evaluate(
        """() => {
            const box = document.getElementById('transcript').getBoundingClientRect();
            const row = document.querySelector('.turn.cur').getBoundingClientRect();
            return row.top >= box.top - 1 && row.top < box.bottom - 10;
        }"""
    )


async def test_search_finds_a_phrase_and_marks_every_occurrence(
    settings: Settings, browser: Any, tmp_path: Path
) -> None:
    with anyio.fail_after(120):
        async with Client(create_server(settings), extensions=[AppsSupport()]) as client:
            shown = await show(client, browser, "transcribe_elevenlabs", {"asset_id": COSTCO, "diarize": True})
            app, payload = shown.host.app, shown.payload
            phrase = "supply chain"
            occurrences = sum(seg[3].lower().count(phrase) for seg in payload["segments"])
            assert occurrences >= 2

            await app.locator("#search").fill(phrase)
            await app.locator("#count").filter(has_text=f"1 / {occurrences}").wait_for(timeout=5000)
            marks = app.locator("mark")
            assert await marks.count() == occurrences
            assert {t.lower() for t in await marks.all_text_contents()} == {phrase}
            current = app.locator("mark.cur")
            assert await current.count() == 1
            assert await row_is_visible(shown.frame)
            await app.locator("#search").press("Enter")
            await app.locator("#count").filter(has_text=f"2 / {occurrences}").wait_for(timeout=5000)
            assert await app.locator(".bar.hit").count() >= 1
            await shown.host.page.screenshot(path=tmp_path / "viewer-search.png", full_page=True)


async def test_a_pending_result_fills_in_when_the_job_is_done(settings: Settings, browser: Any) -> None:
    with anyio.fail_after(120):
        async with Client(create_server(settings), extensions=[AppsSupport()]) as client:
            args = {"asset_id": AMI_ES2004A, "wait_seconds": 0}
            page = await browser.new_page()
            host = McpAppsHost(client, page)
            await host.install()
            result = await host.show("identify_speakers", args)
            assert (result.structured_content or {})["status"] == "pending"
            await host.app.locator("body[data-state=ready]").wait_for(timeout=30000)
            assert await host.app.locator(".lane").count() == 4
            asked = [m["params"]["name"] for m in host.forwarded]
            assert asked[0] == "get_task"
            assert asked[-1] == APP_TOOL


async def test_html_in_speaker_names_words_and_chapters_is_shown_as_text(
    settings: Settings, browser: Any, tmp_path: Path
) -> None:
    crafted = crafted_transcript()
    store = Store.in_dir(settings.store_dir)
    store.save_transcript(crafted)
    store.close()
    with anyio.fail_after(120):
        async with Client(create_server(settings), extensions=[AppsSupport()]) as client:
            renamed = await client.call_tool(
                "rename_speakers",
                {
                    "transcript_id": crafted.id,
                    "names": [{"speaker": "A", "name": "Ana Ruiz"}, {"speaker": "B", "name": XSS_SCRIPT}],
                },
            )
            assert not renamed.is_error, text_of(renamed)
            shown = await show(client, browser, "get_transcript", {"transcript_id": crafted.id})
            app, frame = shown.host.app, shown.frame
            await shown.host.page.screenshot(path=tmp_path / "viewer-html-as-text.png", full_page=True)

            assert await frame.evaluate("() => window.__xss") is None
            assert await app.locator("img").count() == 0
            assert await app.locator("script").count() == 1  # the app's own
            labels = await app.locator(".lane .tlabel").all_inner_texts()
            assert labels == ["Ana Ruiz", XSS_SCRIPT]
            text = await app.locator("#transcript").inner_text()
            assert XSS_IMG in text
            assert XSS_SCRIPT in text
            assert f"Greetings {XSS_IMG}" in await app.locator("#extras").inner_text()
            # faces, chapters and highlights are shown; a chapter is a way into the transcript
            assert "face" in await app.locator("#speakers").inner_text()
            await app.locator(".chapters button").nth(1).click()
            assert "Quarterly membership fees" in await app.locator(".turn.cur").inner_text()


async def test_the_keyboard_steps_through_a_lanes_turns_at_a_narrow_width(
    settings: Settings, browser: Any, tmp_path: Path
) -> None:
    with anyio.fail_after(120):
        async with Client(create_server(settings), extensions=[AppsSupport()]) as client:
            args = {"asset_id": AMI_ES2004A, "mode": "sync"}
            shown = await show(client, browser, "identify_speakers", args, width=380)
            app, payload = shown.host.app, shown.payload
            assert await shown.frame.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
            lane = app.locator(".lane .track").nth(2)
            await lane.focus()
            await lane.press("ArrowRight")
            await lane.press("ArrowRight")
            first_two = [i for i, seg in enumerate(payload["segments"]) if seg[2] == 2][:2]
            selected = app.locator(".bar.sel")
            assert await selected.get_attribute("data-seg") == str(first_two[1])
            cur = app.locator(".turn.cur")
            assert await cur.count() == 1
            assert await cur.get_attribute("data-turn") == await selected.get_attribute("data-turn")
            assert await row_is_visible(shown.frame)
            assert await app.locator("#next").evaluate("e => e.getBoundingClientRect().right <= innerWidth")
            await shown.host.page.screenshot(path=tmp_path / "viewer-narrow.png", full_page=True)


# --- mavi-mcp view -------------------------------------------------------------------------------------------


@pytest.mark.e2e
async def test_mavi_mcp_view_serves_the_viewer_on_loopback_and_only_that_transcript(
    settings: Settings, browser: Any, tmp_path: Path
) -> None:
    with anyio.fail_after(60):
        async with Client(create_server(settings)) as client:
            made = await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"})
    tid = (made.structured_content or {})["transcript_id"]
    assert settings.data_dir is not None
    process = start([*mavi_mcp_command(), "view", tid, "--sandbox", "--data-dir", str(settings.data_dir)])
    try:
        url = process.wait_for(r" at (http://127\.0\.0\.1:\d+/\S+/) ").group(1)
        page = await browser.new_page(viewport={"width": 1100, "height": 800})
        await page.goto(url)
        app = page.frame_locator("#app")
        await app.locator("body[data-state=ready]").wait_for(timeout=20000)
        assert await app.locator(".lane").count() == 4
        await page.screenshot(path=tmp_path / "view-command.png", full_page=True)

        async with httpx2.AsyncClient(timeout=10) as http:
            assert (await http.get(url)).status_code == 200
            app_response = await http.get(url + "app")
            assert "default-src 'none'" in app_response.headers["content-security-policy"]
            origin = url.split("/")[2]
            assert (await http.get(f"http://{origin}/")).status_code == 404  # no token, nothing
            assert (await http.get(url, headers={"Host": "attacker.example"})).status_code == 400
            other = await http.post(url + "bridge", json=call(APP_TOOL, {"transcript_id": "tr_other"}))
            assert other.json()["result"]["isError"] is True
            refused = await http.post(url + "bridge", json=call("transcribe_whisper", {"asset_id": AMI_ES2004A}))
            assert refused.json()["error"]["code"] == -32601
            data = (await http.post(url + "bridge", json=call(APP_TOOL, {"transcript_id": tid}))).json()
            assert data["result"]["structuredContent"]["transcript_id"] == tid
    finally:
        process.stop()


def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"method": "tools/call", "params": {"name": name, "arguments": arguments}}


def test_mavi_mcp_view_of_an_unknown_transcript_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mavi_mcp.app.serve import run_view

    assert run_view(Settings(data_dir=tmp_path), "tr_missing") == 2
    err = capsys.readouterr().err
    assert "tr_missing" in err
    assert str(tmp_path) in err
    assert "list_transcripts" in err


async def test_mavi_mcp_view_reads_a_postgresql_store_and_names_it_without_the_password(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from urllib.parse import urlsplit

    from mavi_mcp.app.serve import ViewServer, run_view
    from mavi_mcp.store_pg import PgStore

    crafted = crafted_transcript()
    async with PgStore.open(pg_url) as store:
        await store.save_transcript(crafted)
        await store.set_speaker_names(crafted.id, {"A": "Ana Ruiz"})
        view = ViewServer(store, crafted.id, store.display_url)
        answer = await view.bridge(call(APP_TOOL, {"transcript_id": crafted.id}))
        assert answer["result"]["structuredContent"] == viewer_payload(crafted, {"A": "Ana Ruiz"})
    settings = Settings(data_dir=tmp_path, database_url=pg_url)  # pyright: ignore[reportArgumentType]
    assert await anyio.to_thread.run_sync(run_view, settings, "tr_missing") == 2
    err = capsys.readouterr().err
    assert "tr_missing" in err
    assert "postgresql://" in err
    password = urlsplit(pg_url).password
    assert password
    assert password not in err
    assert not (tmp_path / "mavi-mcp.sqlite3").exists()


def test_the_wheel_carries_the_viewer_and_its_host_page() -> None:
    folder = os.environ.get("MAVI_MCP_DIST")
    if not folder:
        pytest.skip("MAVI_MCP_DIST is not set (the packaging step of .ci/run builds the wheel)")
    (wheel,) = Path(folder).glob("mavi_mcp-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("mavi_mcp/app/viewer.html").decode() == viewer_html()
        assert archive.read("mavi_mcp/app/host.html").decode() == asset("host.html")
