"""Webhook bodies that cannot be read (mavi_mcp/callback_body.py): kept and marked, never a 500.

Sent over HTTP to a real `mavi-mcp webhook` process; the store it wrote is then read back to check that each
body is kept byte for byte with the reason it could not be read.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from mavi_mcp.callback_body import read_body
from mavi_mcp.store import DB_NAME
from tests.conftest import WEBHOOK_SECRET, Process, mavi_mcp_command, server_env, start

pytestmark = pytest.mark.e2e

DEEP = b"[" * 200_000 + b"]" * 200_000
"""400 KB, far under the 32 MB cap, nested 200,000 levels: json.loads raises RecursionError."""
NESTED_RESULT = (
    b'{"task_id": "t-nested", "code": 200, "data": {"success": true, "data": ' + b"[" * 900 + b"]" * 900 + b"}}"
)
"""Readable JSON whose result is nested 900 levels: read, then found not to be a callback MAVI sends."""


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp_path = tmp_path_factory.mktemp("receiver")
    env = server_env(tmp_path, None)
    process: Process = start([*mavi_mcp_command(), "webhook", "--port", "0"], env)
    try:
        port = process.wait_for(r"listening on [\d.]+:(\d+)").group(1)
        yield f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}", tmp_path / "data" / DB_NAME
    finally:
        process.stop()
        assert not any("Traceback" in line for line in process.seen), "\n".join(process.seen)


def stored(db_path: Path, body: bytes) -> list[tuple[str | None, str, str | None]]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT task_id, status, note FROM deliveries WHERE body = ?", (body,)).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


@pytest.mark.parametrize(
    ("body", "note"),
    [
        (DEEP, "body is nested too deeply to read"),
        (b'{"task_id": "t-deep", "data": ' + DEEP + b"}", "body is nested too deeply to read"),
        (b'{"task_id": "t-latin1", "msg": "caf\xe9"}', "body is not text in UTF-8, UTF-16 or UTF-32"),
        (b'{"task_id": "t-cut", "code": 2', "body is not JSON"),
        (b"", "body is not JSON"),
        (b'{"task_id": "\\ud800x", "code": 200}', "task_id is not a usable id"),
        (b'{"task_id": "t\\u0000\\n1", "code": 200}', "task_id is not a usable id"),
        (b'{"task_id": {"nested": "object"}, "code": 200}', "task_id is not a usable id"),
        (b'{"task_id": "' + b"a" * 300 + b'", "code": 200}', "task_id is not a usable id"),
        (b'[{"task_id": "t-list"}]', "the callback has no task_id"),
        (b'"just a string"', "the callback has no task_id"),
        (b"null", "the callback has no task_id"),
        (NESTED_RESULT, "not a MAVI callback"),
    ],
)
def test_a_body_that_cannot_be_read_is_acknowledged_kept_byte_for_byte_and_marked(
    receiver: tuple[str, Path], body: bytes, note: str
) -> None:
    url, db_path = receiver
    answer = httpx2.post(url, content=body, headers={"content-type": "application/json"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "malformed"
    rows = stored(db_path, body)
    assert len(rows) == 1
    assert rows[0][1] == "malformed"
    assert rows[0][2] is not None
    assert note in rows[0][2]


def test_a_utf16_callback_is_read_like_utf8(receiver: tuple[str, Path]) -> None:
    url, db_path = receiver
    body = '{"task_id": "t-utf16", "code": 200, "data": {"success": false, "msg": "no speech"}}'.encode("utf-16")
    answer = httpx2.post(url, content=body, headers={"content-type": "application/json"}, timeout=30)
    assert answer.json() == {"ok": True, "task_id": "t-utf16", "status": "failed_result"}
    assert stored(db_path, body) == [("t-utf16", "failed_result", "no speech")]


def test_reading_never_raises_even_past_the_recursion_limit_of_a_worker_thread() -> None:
    assert read_body(b"[" * (sys.getrecursionlimit() * 10)).problem == "body is nested too deeply to read"
    assert read_body(b"[" * 10).problem == "body is not JSON"
    assert read_body(b'{"task_id": " t-1 "}').task_id == "t-1"
