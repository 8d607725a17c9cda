"""Reading tools on stored transcripts, through the MCP client in memory (`--sandbox` settings, in process):
`rename_speakers` refuses names that would make a speaker ambiguous, and `speakers=` filters stay exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.helpers import error, ok

pytestmark = pytest.mark.anyio

AMI_ES2004A = "re_700000000000000012"  # 4 speakers, SPEAKER_00..SPEAKER_03


@dataclass
class Stored:
    client: Client
    transcript_id: str

    async def rename(self, mapping: dict[str, str]) -> Any:
        """rename_speakers with `mapping` as its list of `{speaker, name}` objects, in the mapping's order."""
        names = [{"speaker": speaker, "name": name} for speaker, name in mapping.items()]
        return await self.client.call_tool("rename_speakers", {"transcript_id": self.transcript_id, "names": names})

    async def names(self) -> dict[str, str | None]:
        page = ok(await self.client.call_tool("get_transcript", {"transcript_id": self.transcript_id}))
        return {s["label"]: s.get("name") for s in page["speakers"]}

    async def labels_shown_for(self, speakers: list[str]) -> set[str]:
        """The labels of the segments a `speakers=` filter selects (json format, first page)."""
        args = {"transcript_id": self.transcript_id, "speakers": speakers, "format": "json", "max_tokens": 20000}
        page = ok(await self.client.call_tool("get_transcript", args))
        return {segment["speaker"] for segment in page["segments"]}


@pytest.fixture
async def stored(tmp_path: Path) -> AsyncIterator[Stored]:
    settings = Settings(sandbox=True, data_dir=tmp_path, rate_limit=0)
    with anyio.fail_after(60):
        async with Client(create_server(settings)) as client:
            result = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
            assert sorted(s["label"] for s in result["speakers"]) == [f"SPEAKER_0{i}" for i in range(4)]
            yield Stored(client, result["transcript_id"])


UNNAMED = {f"SPEAKER_0{i}": None for i in range(4)}


@pytest.mark.parametrize(
    ("mapping", "conflict"),
    [
        ({"SPEAKER_00": "SPEAKER_01"}, "'SPEAKER_01' would be the new name of SPEAKER_00 and the label of SPEAKER_01"),
        ({"SPEAKER_00": "speaker_01 "}, "'speaker_01' would be the new name of SPEAKER_00 and the label of SPEAKER_01"),
        ({"S0": "S1"}, "'S1' would be the new name of SPEAKER_00 and the short alias of SPEAKER_01"),
        (
            {"SPEAKER_00": "Ana Ruiz", "SPEAKER_02": "ana ruiz"},
            "'Ana Ruiz' would be the new name of SPEAKER_00 and the new name of SPEAKER_02",
        ),
        ({"SPEAKER_00": "Ana Ruiz", "S0": "Bea Sol"}, "'SPEAKER_00' and 'S0' both mean speaker SPEAKER_00"),
    ],
)
async def test_a_mapping_that_would_make_a_speaker_ambiguous_is_refused_with_the_conflict_and_changes_nothing(
    stored: Stored, mapping: dict[str, str], conflict: str
) -> None:
    message = error(await stored.rename(mapping))
    assert conflict in message
    assert "Nothing was renamed" in message
    assert await stored.names() == UNNAMED
    assert await stored.labels_shown_for(["SPEAKER_01"]) == {"SPEAKER_01"}


async def test_a_name_another_speaker_has_is_refused_but_two_names_swap_in_one_mapping(stored: Stored) -> None:
    ok(await stored.rename({"SPEAKER_00": "Ana Ruiz", "SPEAKER_01": "Bea Sol"}))
    message = error(await stored.rename({"SPEAKER_02": "ANA RUIZ"}))
    assert "'ANA RUIZ' would be the name of SPEAKER_00 and the new name of SPEAKER_02" in message
    message = error(await stored.rename({"Ana Ruiz": "Bea Sol"}))
    assert "'Bea Sol' would be the new name of SPEAKER_00 and the name of SPEAKER_01" in message
    assert await stored.names() == {**UNNAMED, "SPEAKER_00": "Ana Ruiz", "SPEAKER_01": "Bea Sol"}

    swapped = ok(await stored.rename({"Ana Ruiz": "Bea Sol", "Bea Sol": "Ana Ruiz"}))
    assert swapped["renamed"] == {"SPEAKER_00": "Bea Sol", "SPEAKER_01": "Ana Ruiz"}
    assert await stored.labels_shown_for(["bea sol"]) == {"SPEAKER_00"}
    assert await stored.labels_shown_for(["Ana Ruiz", "S3"]) == {"SPEAKER_01", "SPEAKER_03"}


async def test_a_speaker_may_be_named_by_its_own_label_or_alias_and_a_name_freed_in_the_same_mapping(
    stored: Stored,
) -> None:
    ok(await stored.rename({"SPEAKER_00": "Ana Ruiz"}))
    renamed = ok(await stored.rename({"SPEAKER_00": "", "SPEAKER_01": "Ana Ruiz", "SPEAKER_02": "s2"}))
    assert renamed["renamed"] == {"SPEAKER_01": "Ana Ruiz", "SPEAKER_02": "s2"}
    assert await stored.labels_shown_for(["ana ruiz"]) == {"SPEAKER_01"}
    assert await stored.labels_shown_for(["S2"]) == {"SPEAKER_02"}
    assert await stored.labels_shown_for(["SPEAKER_00"]) == {"SPEAKER_00"}


async def test_the_same_speaker_twice_in_the_list_or_an_entry_with_other_keys_is_refused_and_changes_nothing(
    stored: Stored,
) -> None:
    twice = [{"speaker": "S1", "name": "Ana Ruiz"}, {"speaker": "S1", "name": "Bea Sol"}]
    message = error(
        await stored.client.call_tool("rename_speakers", {"transcript_id": stored.transcript_id, "names": twice})
    )
    assert "'S1' and 'S1' both mean speaker SPEAKER_01" in message
    assert "Nothing was renamed" in message
    loose = [{"speaker": "S1", "name": "Ana Ruiz", "label": "SPEAKER_02"}]
    message = error(
        await stored.client.call_tool("rename_speakers", {"transcript_id": stored.transcript_id, "names": loose})
    )
    assert "label" in message
    assert await stored.names() == UNNAMED
