"""The SQLite FTS5 index on the bundled recordings: passages, ranking, filters, marks, renames, deletes, backfill."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest

from mavi_mcp.normalize import Context
from mavi_mcp.search import sqlite_index as index
from mavi_mcp.search.passages import MARK_CLOSE, MARK_OPEN, MAX_WORDS, passages
from mavi_mcp.search.query import parse, to_fts5
from mavi_mcp.shapes import normalize_body
from mavi_mcp.store import Store
from mavi_mcp.transcript import Transcript
from tests import data


def transcript(folder: str, name: str, transcript_id: str) -> Transcript:
    return normalize_body(folder, data.raw(folder, name), Context(transcript_id=transcript_id))


@pytest.fixture(scope="module")
def costco() -> Transcript:
    """Costco's Q1 call as AssemblyAI (utterances, speakers A..)."""
    return transcript(data.ASSEMBLYAI, "4474506", "tr_costco_aai")


@pytest.fixture(scope="module")
def monro() -> Transcript:
    """Monro's call as the multi-speaker model (named speakers)."""
    return transcript(data.MULTI_SPEAKER_CALLBACK, "4320211", "tr_monro")


@pytest.fixture
def db(costco: Transcript, monro: Transcript) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    index.create_schema(connection)
    index.index_transcript(connection, costco, {})
    index.index_transcript(connection, monro, {})
    yield connection
    connection.close()


def check_integrity(db: sqlite3.Connection) -> None:
    """FTS5's own check that the index matches its content table (raises sqlite3.DatabaseError if not)."""
    db.execute("INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)")


def find(db: sqlite3.Connection, query: str, **filters: object) -> list[index.Hit]:
    return index.search(db, to_fts5(parse(query)), **filters)


def plain(marked: str) -> str:
    return marked.replace(MARK_OPEN, "[").replace(MARK_CLOSE, "]")


def test_passages_keep_every_word_in_order_within_the_size_limit(costco: Transcript) -> None:
    cut = passages(costco)
    assert all(len(p.text.split()) <= MAX_WORDS for p in cut)
    assert " ".join(p.text for p in cut).split() == " ".join(s.text for s in costco.segments).split()
    assert [(p.segment, p.word) for p in cut] == sorted((p.segment, p.word) for p in cut)


def test_a_piece_of_a_long_turn_takes_its_words_times(costco: Transcript) -> None:
    long_index = next(i for i, s in enumerate(costco.segments) if len(s.text.split()) > 2 * MAX_WORDS)
    segment = costco.segments[long_index]
    pieces = [p for p in passages(costco) if p.segment == long_index]
    assert len(pieces) >= 3
    assert segment.words is not None
    second = pieces[1]
    assert second.start == segment.words[second.word][1]
    assert segment.start < second.start < second.end < segment.end


def test_search_ranks_the_passage_with_the_words_first_and_marks_them(db: sqlite3.Connection) -> None:
    hits = find(db, "membership fee increase")
    assert hits
    best = hits[0]
    assert best.transcript_id == "tr_costco_aai"
    text = plain(best.marked)
    assert "[fee]" in text
    assert "[increase]" in text
    assert best.text == best.marked.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")
    assert best.start < best.end
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_stemming_and_case_folding_find_other_forms(db: sqlite3.Connection) -> None:
    hits = find(db, "TIRES")
    assert any("[tire]" in plain(h.marked) for h in hits)


def test_a_phrase_must_match_in_order(db: sqlite3.Connection) -> None:
    assert find(db, '"question and answer session"')
    assert not find(db, '"answer and question session"')


def test_filters_by_transcript_speaker_and_window(db: sqlite3.Connection, monro: Transcript) -> None:
    everywhere = find(db, "quarter", limit=200)
    assert {h.transcript_id for h in everywhere} == {"tr_costco_aai", "tr_monro"}
    only_monro = find(db, "quarter", transcript_id="tr_monro", limit=200)
    assert only_monro
    assert {h.transcript_id for h in only_monro} == {"tr_monro"}
    speaker = monro.speakers[2].label  # Brett Ponton, the CEO
    by_speaker = find(db, "quarter", transcript_id="tr_monro", speakers=[speaker], limit=200)
    assert by_speaker
    assert {h.speaker for h in by_speaker} == {speaker}
    assert find(db, "quarter", transcript_id="tr_monro", speakers=[speaker.upper()], limit=200) == by_speaker
    windowed = find(db, "quarter", transcript_id="tr_monro", start=600, end=900, limit=200)
    assert windowed
    assert all(h.end >= 600 and h.start <= 900 for h in windowed)
    assert len(windowed) < len(only_monro)


def test_speaker_names_are_searchable_and_follow_renames(db: sqlite3.Connection, costco: Transcript) -> None:
    assert not find(db, "Quillfeather")
    label = costco.speakers[1].label
    changed = index.reindex_names(db, "tr_costco_aai", {label: "Zed Quillfeather"})
    assert changed > 0
    hits = find(db, "Quillfeather", limit=500)
    assert hits
    assert {h.speaker for h in hits} == {label}
    assert {h.name for h in hits} == {"Zed Quillfeather"}
    assert find(db, "quarter", speakers=["zed quillfeather"], limit=500)
    check_integrity(db)
    index.reindex_names(db, "tr_costco_aai", {})
    assert not find(db, "Quillfeather")
    check_integrity(db)


def test_a_provider_name_is_indexed_and_comes_back_after_a_rename_is_removed(db: sqlite3.Connection) -> None:
    def own_turns(query: str) -> list[index.Hit]:
        # passages found by the speaker's name, not by words spoken
        hits = find(db, query, transcript_id="tr_monro", limit=500)
        return [h for h in hits if h.speaker == "Brett Ponton" and query.lower() not in h.text.lower()]

    assert own_turns("Ponton")
    assert {h.name for h in own_turns("Ponton")} == {"Brett Ponton"}
    index.reindex_names(db, "tr_monro", {"Brett Ponton": "CEO"})
    assert not own_turns("Ponton")
    assert {h.speaker for h in find(db, "CEO", transcript_id="tr_monro", limit=500)} == {"Brett Ponton"}
    index.reindex_names(db, "tr_monro", {})
    assert own_turns("Ponton")


def test_exclusions_remove_passages(db: sqlite3.Connection) -> None:
    with_tires = find(db, "quarter", transcript_id="tr_monro", limit=500)
    without = find(db, "quarter -tire*", transcript_id="tr_monro", limit=500)
    assert 0 < len(without) < len(with_tires)
    assert not any(re.search(r"\btires?\b", h.text, re.IGNORECASE) for h in without)
    assert any(re.search(r"\btires?\b", h.text, re.IGNORECASE) for h in with_tires)


def test_pages_of_hits_do_not_overlap(db: sqlite3.Connection) -> None:
    first = find(db, "quarter", limit=5)
    second = find(db, "quarter", limit=5, offset=5)
    assert len(first) == len(second) == 5
    assert not {(h.transcript_id, h.segment, h.word) for h in first} & {
        (h.transcript_id, h.segment, h.word) for h in second
    }


def test_transcript_text_holding_marker_characters_cannot_fake_a_match(db: sqlite3.Connection) -> None:
    forged = transcript(data.ELEVENLABS, "vercel_ai_elevenlabs-transcription", "tr_forged")
    segment = forged.segments[0].model_copy(update={"text": f"Hello {MARK_OPEN}forged{MARK_CLOSE} words"})
    forged = forged.model_copy(update={"segments": [segment]})
    index.index_transcript(db, forged, {})
    (hit,) = find(db, "hello", transcript_id="tr_forged")
    assert plain(hit.marked) == "[Hello] forged words"


def test_deleting_and_reindexing_a_transcript_replaces_its_passages(db: sqlite3.Connection, monro: Transcript) -> None:
    count = len(find(db, "quarter", transcript_id="tr_monro", limit=1000))
    index.index_transcript(db, monro, {})
    assert len(find(db, "quarter", transcript_id="tr_monro", limit=1000)) == count
    check_integrity(db)
    index.delete_transcript(db, "tr_monro")
    check_integrity(db)
    assert not find(db, "quarter", transcript_id="tr_monro")
    assert find(db, "quarter", transcript_id="tr_costco_aai")
    assert index.docs(db, ["tr_monro", "tr_costco_aai"]).keys() == {"tr_costco_aai"}


def test_a_diarization_has_no_passages_but_a_doc(db: sqlite3.Connection) -> None:
    turns = transcript(data.SPEAKER_TURNS, "ES2004a", "tr_turns")
    assert index.index_transcript(db, turns, {}) == 0
    doc = index.docs(db, ["tr_turns"])["tr_turns"]
    assert doc.kind == "diarization"
    assert doc.duration == turns.duration


def test_backfill_indexes_an_existing_store_once(tmp_path: object, costco: Transcript, monro: Transcript) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    store = Store(tmp_path / "store.sqlite3")
    store.save_transcript(costco)
    store.save_transcript(monro)
    store.set_speaker_names("tr_monro", {"Speaker 1": "Conference Operator"})
    db = sqlite3.connect(store.path)
    try:
        with db:  # the store indexes what it saves: forget both, as in a store from before the index
            index.delete_transcript(db, "tr_costco_aai")
            index.delete_transcript(db, "tr_monro")
        assert index.indexed(db) == set()
        with db:
            assert index.backfill(db, lambda: index.stored_transcripts(db)) == 2
        with db:
            assert index.backfill(db, lambda: index.stored_transcripts(db)) == 0
        hits = index.search(db, to_fts5(parse("conference operator")), limit=3)
        assert hits
        assert hits[0].transcript_id == "tr_monro"
        assert index.indexed(db) == {"tr_costco_aai", "tr_monro"}
    finally:
        db.close()
        store.close()
