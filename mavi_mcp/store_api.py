"""The store's one async interface, which every backend implements (SQLite: `mavi_mcp.store.AsyncStore`;
PostgreSQL: `mavi_mcp.store_pg.PgStore`), as `AsyncStore` has it after the pipeline refactor (issue 10).

A `typing.Protocol`: a backend conforms by having these coroutines with these signatures (pyright checks it
where a backend is assigned to `StoreAPI`). Semantics are those documented on `mavi_mcp.store.Store` and
checked for both backends by `tests/test_store_contract.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from mavi_mcp.ledger import SqlTx
from mavi_mcp.render.search import SearchPage, SearchRequest
from mavi_mcp.store import Delivery, DeliveryStats, ReceiverRecord, TaskRecord, TaskStatus, TranscriptSummary
from mavi_mcp.transcript import Transcript

R = TypeVar("R")


class StoreAPI(Protocol):
    """Transcripts, speaker names, raw results, tasks, webhook deliveries and receivers; all times UTC."""

    async def save_transcript(self, transcript: Transcript, *, raw: bytes | None = None) -> None: ...
    async def save_raw_result(self, endpoint: str, raw: bytes, *, task_id: str | None = None) -> None: ...
    async def get_transcript(self, transcript_id: str) -> Transcript | None: ...
    async def list_transcripts(self, limit: int = 20) -> list[TranscriptSummary]: ...
    async def speaker_names(self, transcript_id: str) -> dict[str, str]: ...
    async def set_speaker_names(self, transcript_id: str, mapping: Mapping[str, str]) -> dict[str, str]: ...
    async def search(
        self, request: SearchRequest, *, max_tokens: int = ..., cursor: str | None = None
    ) -> SearchPage: ...
    async def in_transaction(self, fn: Callable[[SqlTx], R], *, exclusive: bool | str = True) -> R:
        """`fn(tx)` in one store transaction; `fn` is synchronous. `exclusive=True` also excludes every other
        exclusive one (a read-then-write over the whole ledger); a string excludes only the transactions given the
        same string (a claim of one request key); False takes no lock (reads, one-row writes, idempotent settling),
        so replicas do not queue behind each other."""
        ...

    async def rename_speakers(
        self, transcript_id: str, mapping: Mapping[str, str], check: Callable[[dict[str, str]], None]
    ) -> dict[str, str]: ...
    async def create_task(
        self,
        task_id: str,
        *,
        mode: str,
        endpoint: str,
        tool: str | None,
        asset_id: str | None,
        params: Mapping[str, Any] | None = None,
        origin: str = "local",
    ) -> TaskRecord: ...
    async def finish_task(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        transcript_id: str | None = None,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
        asset_id: str | None = None,
    ) -> None: ...
    async def finish_job(
        self,
        task_id: str,
        *,
        transcript: Transcript | None = None,
        raw: bytes | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        asset_id: str | None = None,
    ) -> TaskRecord: ...
    async def finish_spooled(
        self,
        task_id: str | None,
        endpoint: str,
        *,
        transcript: Transcript | None = None,
        raw: bytes | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> TaskRecord | None: ...
    async def set_task_asset(self, task_id: str, asset_id: str) -> None: ...
    async def fail_stale_jobs(self, reason: str) -> int: ...
    async def record_delivery(
        self, body: bytes, *, task_id: str | None, status: str, note: str | None = None
    ) -> int: ...
    async def received_deliveries(self, min_age: float) -> list[tuple[int, bytes]]:
        """(id, body) of deliveries left `received` for at least `min_age` SECONDS, oldest first (recovery)."""
        ...

    async def mark_delivery(self, delivery_id: int, status: str, note: str | None = None) -> None: ...
    async def deliveries(self, task_id: str | None = None, limit: int = 100) -> list[Delivery]: ...
    async def delivery_stats(self) -> DeliveryStats: ...
    async def complete_from_callback(
        self, task_id: str, endpoint: str, transcript: Transcript | None, error: str | None
    ) -> bool: ...
    async def heartbeat(self, receiver_id: str, url: str) -> None: ...
    async def forget_receiver(self, receiver_id: str) -> None: ...
    async def live_receivers(self, within_seconds: float = 30.0) -> list[ReceiverRecord]: ...
    async def get_task(self, task_id: str) -> TaskRecord | None: ...
    async def list_tasks(self, status: TaskStatus | None = None, limit: int = 20) -> list[TaskRecord]: ...

    @property
    def display_url(self) -> str:
        """Where the store is, for `--check` and logs: the SQLite file, or the database URL without password."""
        ...
