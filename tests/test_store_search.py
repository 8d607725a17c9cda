"""The store keeps its search index in step: every way a transcript is stored indexes it in the same transaction,
renames are searchable (and stop being when removed), and the schema migration runs once."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mavi_mcp.normalize import Context
from mavi_mcp.render.search import SearchRequest
from mavi_mcp.search import sqlite_index as si
from mavi_mcp.shapes import normalize_body
from mavi_mcp.store import SCHEMA_VERSION, Store
from mavi_mcp.transcript import Transcript
from tests import data

PHRASE = '"membership fee income"'


@pytest.fixture(scope="module")
def costco() -> Transcript:
    """Costco's Q1 call as AssemblyAI (utterances, speakers A..)."""
    return normalize_body(data.ASSEMBLYAI, data.raw(data.ASSEMBLYAI, "4474506"), Context(transcript_id="tr_costco"))


@pytest.fixture(scope="module")
def monro() -> Transcript:
    """Monro's call as the multi-speaker model delivers it by webhook."""
    body = data.raw(data.MULTI_SPEAKER_CALLBACK, "4320211")
    return normalize_body(data.MULTI_SPEAKER_CALLBACK, body, Context(transcript_id="tr_monro"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def hit_ids(store: Store, query: str, transcript_id: str | None = None) -> list[str]:
    page = store.search(SearchRequest(query, transcript_id=transcript_id), max_tokens=20000)
    return [h["transcript_id"] for h in page.hits]


def test_a_job_result_and_a_webhook_result_are_searchable_as_soon_as_they_are_stored(
    store: Store, costco: Transcript, monro: Transcript
) -> None:
    assert hit_ids(store, PHRASE) == []
    store.create_task(
        "job-1", mode="sync", endpoint="speech-to-text-assemblyai", tool="transcribe_assemblyai", asset_id=None
    )
    store.finish_job("job-1", transcript=costco)
    assert hit_ids(store, PHRASE) == ["tr_costco"]

    assert hit_ids(store, "quarter", transcript_id="tr_monro") == []
    assert store.complete_from_callback("task-2", "async-generate-multi-speaker", monro, None)
    assert set(hit_ids(store, "quarter", transcript_id="tr_monro")) == {"tr_monro"}


def test_a_rename_is_searchable_and_a_removed_one_is_not(store: Store, costco: Transcript) -> None:
    store.save_transcript(costco)
    (label,) = {h["speaker"] for h in store.search(SearchRequest(PHRASE)).hits}
    assert label is not None
    store.set_speaker_names("tr_costco", {label: "Zoe Quartermaine"})
    page = store.search(SearchRequest("Quartermaine"), max_tokens=20000)
    assert page.hits
    assert {(h["speaker"], h["name"]) for h in page.hits} == {(label, "Zoe Quartermaine")}

    store.set_speaker_names("tr_costco", {label: ""})
    assert hit_ids(store, "Quartermaine") == []
    assert hit_ids(store, PHRASE) == ["tr_costco"]


def test_a_transcript_saved_again_is_indexed_once(store: Store, costco: Transcript) -> None:
    store.save_transcript(costco)
    store.save_transcript(costco)
    assert hit_ids(store, PHRASE) == ["tr_costco"]


def test_reopening_runs_no_migration_again_and_a_newer_version_is_kept(tmp_path: Path, costco: Transcript) -> None:
    path = tmp_path / "store.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    store = Store(path)
    store.save_transcript(costco)
    store.close()
    store = Store(path)
    assert hit_ids(store, PHRASE) == ["tr_costco"]
    store.close()

    db = sqlite3.connect(path)
    with db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    db.close()


def test_a_transcript_that_cannot_be_indexed_is_still_stored(
    store: Store, costco: Transcript, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> int:
        raise RuntimeError("index bug")

    monkeypatch.setattr(si, "index_transcript", broken)
    with caplog.at_level(logging.ERROR, logger="mavi_mcp.store"):
        store.save_transcript(costco, raw=b"{}")
    assert "tr_costco was stored but could not be indexed" in caplog.text
    again = Store(store.path)  # read back from the file, not from the first store's cache
    stored = again.get_transcript("tr_costco")
    again.close()
    assert stored is not None
    assert stored.word_count == costco.word_count
    assert hit_ids(store, PHRASE) == []


def test_a_store_with_an_unreadable_transcript_still_opens_and_indexes_the_others(
    tmp_path: Path, costco: Transcript, monro: Transcript, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.sqlite3"
    store = Store(path)
    store.save_transcript(costco)
    store.save_transcript(monro)
    store.close()
    db = sqlite3.connect(path)  # schema 1, and one body a newer or broken writer left unreadable
    with db:
        for table in ("search_fts", "search_passages", "search_docs"):
            db.execute(f"DROP TABLE {table}")
        db.execute("UPDATE transcripts SET body = '{\"not\": \"a transcript\"}' WHERE id = 'tr_monro'")
        db.execute("PRAGMA user_version=1")
    db.close()
    with caplog.at_level(logging.ERROR, logger="mavi_mcp.store"):
        store = Store(path)
    assert "tr_monro could not be read" in caplog.text
    assert hit_ids(store, PHRASE) == ["tr_costco"]
    store.close()
