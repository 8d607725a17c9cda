"""Toolsets (`--tools` / `MAVI_MCP_TOOLS`, `mavi_mcp.toolsets`): the server lists exactly the chosen tools, in its
fixed order, and an unknown name stops start-up with the valid names."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp_types import Tool

from mavi_mcp.cli import build_parser, settings_from
from mavi_mcp.commands.confirm import Confirmation
from mavi_mcp.commands.progress import Display
from mavi_mcp.commands.session import open_session, structured
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.toolsets import GROUPS, TOOLS

pytestmark = pytest.mark.anyio


async def listed(tmp_path: Path, tools: str) -> list[Tool]:
    server = create_server(Settings(sandbox=True, data_dir=tmp_path, tools=tools))
    with anyio.fail_after(30):
        async with Client(server) as client:
            return (await client.list_tools()).tools


async def test_groups_and_names_mix_and_are_listed_in_the_servers_order_whatever_the_order_given(
    tmp_path: Path,
) -> None:
    names = [t.name for t in await listed(tmp_path, " get_task, ASSEMBLYAI ,upload_media,core")]
    assert names == [t for t in TOOLS if t in {*GROUPS["core"], "transcribe_assemblyai"}]
    assert "transcribe_elevenlabs" not in names
    assert "webhook_info" not in names


async def test_every_tool_is_listed_by_default_and_the_read_only_group_is_the_read_only_annotated_tools(
    tmp_path: Path,
) -> None:
    every = await listed(tmp_path, "all")
    assert [t.name for t in every] == list(TOOLS)
    read_only = [t.name for t in every if t.annotations and t.annotations.read_only_hint]
    assert read_only == list(GROUPS["read-only"])
    assert [t.name for t in await listed(tmp_path, "read-only")] == read_only
    assert Settings(sandbox=True, data_dir=tmp_path).tool_names == TOOLS


def test_an_unknown_tool_name_stops_start_up_listing_the_valid_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        settings_from(build_parser().parse_args(["--tools", "core,transcribe_deepgram"]))
    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert "unknown tool or group 'transcribe_deepgram'" in message
    assert "groups core, whisper, assemblyai, elevenlabs, async, read-only, all" in message
    assert all(tool in message for tool in TOOLS)


def test_the_environment_variable_chooses_the_tools_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAVI_MCP_TOOLS", "whisper")
    assert settings_from(build_parser().parse_args([])).tool_names == ("transcribe_whisper",)
    flagged = settings_from(build_parser().parse_args(["--tools", "elevenlabs,get_transcript"]))
    assert flagged.tool_names == ("transcribe_elevenlabs", "get_transcript")
    monkeypatch.setenv("MAVI_MCP_TOOLS", "nope")
    with pytest.raises(SystemExit):
        settings_from(build_parser().parse_args([]))


async def test_the_commands_for_people_call_every_tool_whatever_the_toolset(tmp_path: Path) -> None:
    settings = Settings(sandbox=True, data_dir=tmp_path, tools="whisper")
    with anyio.fail_after(30):
        async with open_session(
            settings, display=Display(None), confirmation=Confirmation(assume_yes=True, ask=None)
        ) as session:
            assert await session.tool_names() >= set(TOOLS)
            listed = structured(await session.call("list_transcripts", {}, label="listing"))
    assert listed == {"transcripts": [], "next_cursor": None}
