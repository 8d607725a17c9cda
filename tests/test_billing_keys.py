"""`mavi_mcp.billing` on its own: what makes two requests identical, what is estimated before sending, and how a
finished task's ledger row is settled from the store's own tables (a real `Store` on disk)."""

from __future__ import annotations

import json
from pathlib import Path

from mavi_mcp import shapes
from mavi_mcp.billing import claim_request, key_of, media_seconds, price_of, reconcile, spend_now
from mavi_mcp.duration import MediaDuration
from mavi_mcp.ledger import entry, remember_media
from mavi_mcp.pipeline import Transcription
from mavi_mcp.store import Store

ASSET = "re_1"


def whisper(shape: shapes.Shape, body: dict[str, object]) -> Transcription:
    return Transcription(shape, {"asset_id": ASSET, **body}, "transcribe_whisper", asset_id=ASSET)


def test_the_sync_and_async_endpoints_of_one_product_are_one_request() -> None:
    sync = whisper(shapes.WHISPER_SPEAKER, {})
    by_webhook = whisper(shapes.WHISPER_CALLBACK, {"speaker": True})
    assert key_of(sync) == key_of(by_webhook)
    assert key_of(whisper(shapes.WHISPER, {})) != key_of(sync)
    assert key_of(whisper(shapes.WHISPER, {})) == key_of(whisper(shapes.WHISPER_CALLBACK, {"speaker": False}))


def test_the_provider_the_options_the_source_and_the_account_each_make_a_new_request() -> None:
    def stt(shape: shapes.Shape, **body: object) -> Transcription:
        return Transcription(shape, {"asset_id": ASSET, **body}, "transcribe_assemblyai", asset_id=ASSET)

    keys = {
        key_of(stt(shapes.ASSEMBLYAI)),
        key_of(stt(shapes.ELEVENLABS)),
        key_of(stt(shapes.ASSEMBLYAI, speaker_labels=True)),
        key_of(stt(shapes.ASSEMBLYAI), account="0123456789abcdef"),
        key_of(Transcription(shapes.ASSEMBLYAI, {"url": "https://x/a.mp3"}, "transcribe_assemblyai")),
    }
    assert len(keys) == 5
    assert key_of(stt(shapes.ASSEMBLYAI, speaker_labels=None)) == key_of(stt(shapes.ASSEMBLYAI))


def test_whisper_with_speakers_has_its_own_price() -> None:
    assert price_of(whisper(shapes.WHISPER_SPEAKER, {})) == "transcribe_whisper_speaker"
    assert price_of(whisper(shapes.WHISPER, {})) == "transcribe_whisper"


def test_the_estimate_uses_the_uploaded_duration_narrowed_by_assemblyais_window(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    with_window = Transcription(
        shapes.ASSEMBLYAI,
        {"asset_id": ASSET, "audio_start_from": 60_000, "audio_end_at": 90_000},
        "transcribe_assemblyai",
        asset_id=ASSET,
    )
    past_the_end = Transcription(
        shapes.ASSEMBLYAI, {"asset_id": ASSET, "audio_start_from": 100_000}, "transcribe_assemblyai", asset_id=ASSET
    )
    store.in_transaction(
        lambda db: remember_media(db, asset_id=ASSET, sha256="0" * 64, size_bytes=1, duration=MediaDuration(120.0))
    )
    assert store.in_transaction(lambda db: media_seconds(db, whisper(shapes.WHISPER, {}))) == 120.0
    assert store.in_transaction(lambda db: media_seconds(db, with_window)) == 30.0
    assert store.in_transaction(lambda db: media_seconds(db, past_the_end)) == 20.0
    unknown = Transcription(shapes.ASSEMBLYAI, {"url": "https://x/a.mp3"}, "transcribe_assemblyai")
    assert store.in_transaction(lambda db: media_seconds(db, unknown)) is None


def test_a_finished_task_is_settled_from_the_providers_duration_and_a_failed_one_is_not_spent(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    for task_id, key in (("job_a", "k1"), ("job_b", "k2")):
        store.create_task(
            task_id, mode="sync", endpoint="speech-to-text", tool="t", asset_id=None, params={"provider": "assemblyai"}
        )
        store.in_transaction(
            lambda db, t=task_id, k=key: claim_request(
                db, task_id=t, tool="transcribe_assemblyai", key=k, estimated_usd=0.5, refresh=False
            )
        )
    assert store.in_transaction(spend_now).today_usd == 1.0  # pending at the estimate
    body = json.dumps({"code": "0000", "msg": "ok", "data": {"audio_duration": 3600, "text": "", "words": []}})
    store.finish_job("job_a", raw=body.encode(), result={"x": 1})
    store.finish_job("job_b", error="MAVI refused the request")
    store.in_transaction(reconcile)
    settled = store.in_transaction(lambda db: entry(db, "job_a"))
    assert settled is not None
    assert (settled.status, settled.billed_seconds, settled.billed_from, settled.cost_usd) == (
        "billed",
        3600.0,
        "provider",
        0.15,
    )
    failed = store.in_transaction(lambda db: entry(db, "job_b"))
    assert failed is not None
    assert failed.status == "failed"
    assert store.in_transaction(spend_now).today_usd == 0.15
    again = store.in_transaction(
        lambda db: claim_request(
            db, task_id="job_c", tool="transcribe_assemblyai", key="k2", estimated_usd=0.5, refresh=False
        )
    )
    assert again.new  # a failed request is never reused
    reused = store.in_transaction(
        lambda db: claim_request(
            db, task_id="job_d", tool="transcribe_assemblyai", key="k1", estimated_usd=0.5, refresh=False
        )
    )
    assert (reused.new, reused.entry.task_id) == (False, "job_a")


def test_a_request_that_may_have_been_processed_counts_at_its_estimate_but_is_never_reused(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    store.create_task("job_a", mode="sync", endpoint="sync-generate-speaker", tool="t", asset_id=None)
    store.in_transaction(
        lambda db: claim_request(
            db, task_id="job_a", tool="identify_speakers", key="k", estimated_usd=0.25, refresh=False
        )
    )
    store.finish_job("job_a", error="MAVI had an internal error. ... because it may have been processed and billed")
    assert store.in_transaction(spend_now).today_usd == 0.25
    again = store.in_transaction(
        lambda db: claim_request(
            db, task_id="job_b", tool="identify_speakers", key="k", estimated_usd=0.25, refresh=False
        )
    )
    assert again.new
