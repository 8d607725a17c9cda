"""Two `rename_speakers` calls at once, from two servers sharing one store (two SQLite connections, as two
processes would have): the conflict check and the write happen in one transaction (`Store.rename_speakers`), so
they can never give two speakers the same name."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mavi_mcp.errors import InputError
from mavi_mcp.render.view import naming_conflicts
from mavi_mcp.runtime import RuntimeHolder
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.store import Store
from tests.helpers import ok

AMI_ES2004A = "re_700000000000000012"  # 4 speakers, SPEAKER_00..SPEAKER_03
TRIES = 40


def settings(data_dir: Path) -> Settings:
    return Settings(sandbox=True, data_dir=data_dir, rate_limit=0, log_level="WARNING")


@pytest.mark.anyio
async def test_two_servers_renaming_two_speakers_to_one_name_at_once_never_both_succeed(tmp_path: Path) -> None:
    config = settings(tmp_path)
    with anyio.fail_after(120):
        async with (
            Client(create_server(config, holder=RuntimeHolder(config))) as first,
            Client(create_server(config, holder=RuntimeHolder(config))) as second,
        ):
            made = ok(await first.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
            transcript_id = made["transcript_id"]
            outcomes: list[tuple[bool, bool]] = []
            for attempt in range(TRIES):
                name = f"Ana Ruiz {attempt}"
                results: dict[str, Any] = {}

                async def rename(
                    client: Client, label: str, key: str, name: str = name, results: dict[str, Any] = results
                ) -> None:
                    args = {"transcript_id": transcript_id, "names": [{"speaker": label, "name": name}]}
                    results[key] = await client.call_tool("rename_speakers", args)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(rename, first, "SPEAKER_00", "a")
                    tg.start_soon(rename, second, "SPEAKER_01", "b")
                outcomes.append((not results["a"].is_error, not results["b"].is_error))
                page = ok(await first.call_tool("get_transcript", {"transcript_id": transcript_id}))
                named = [s["label"] for s in page["speakers"] if s.get("name") == name]
                assert len(named) == 1, f"attempt {attempt}: {named} all named {name!r}"
    assert all(a != b for a, b in outcomes)  # exactly one of the two won every time


def test_two_connections_renaming_in_threads_never_store_a_name_twice(tmp_path: Path) -> None:
    """The same race at the store's level, in two threads with a connection each, without the tool's pre-checks."""
    config = settings(tmp_path)

    async def make() -> str:
        async with Client(create_server(config, holder=RuntimeHolder(config))) as client:
            made = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
            return str(made["transcript_id"])

    transcript_id = anyio.run(make)
    stores = [Store.in_dir(config.store_dir), Store.in_dir(config.store_dir)]
    transcript = stores[0].get_transcript(transcript_id)
    assert transcript is not None
    start = threading.Barrier(2)
    refused = [0, 0]

    def rename(which: int) -> None:
        label = f"SPEAKER_0{which}"
        for attempt in range(TRIES):
            start.wait(timeout=10)

            def check(after: dict[str, str], label: str = label) -> None:
                if naming_conflicts(transcript, after, {label}):
                    raise InputError("conflict")

            try:
                stores[which].rename_speakers(transcript_id, {label: f"Bea Sol {attempt}"}, check)
            except InputError:
                refused[which] += 1

    try:
        threads = [threading.Thread(target=rename, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        names = list(stores[0].speaker_names(transcript_id).values())
    finally:
        for store in stores:
            store.close()
    assert sum(refused) == TRIES  # each round, the one that came second was refused
    assert len(names) == len({n.casefold() for n in names})
