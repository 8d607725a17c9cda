"""Fault injection: each kind at the sandbox level, whether the request was processed (`/_sandbox/processed`),
the console that sets faults, the command-line form, and the real client's retry policy against them.

Faults BEFORE processing (latency, status) must leave nothing processed but what the latency let through; faults
AFTER processing (status_after, reset, timeout, truncated, shape, envelope, slow) happen to a processed request.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from mavi_mcp.client import MaviClient
from mavi_mcp.errors import ResultError, ServerError
from mavi_mcp.sandbox.__main__ import main
from mavi_mcp.sandbox.faults import Fault, fault_from, parse_fault
from mavi_mcp.shapes import SPEAKER_TURNS
from tests.helpers import AMI_EN2002B, KEY, LIMIT, SK_TELECOM, assert_error, config, serve

pytestmark = pytest.mark.anyio

SPEAKERS = "/transcriptions/sync-generate-speaker"
BODY = {"asset_id": AMI_EN2002B}


async def normal_answer() -> bytes:
    async with serve() as (_, http):
        return (await http.post(SPEAKERS, json=BODY)).content


async def processed(http: httpx2.AsyncClient) -> list[str]:
    record: list[str] = (await http.get("/_sandbox/processed")).json()["processed"]
    return record


# --- before processing ---------------------------------------------------------------------------


async def test_a_latency_fault_delays_a_normal_answer_that_is_processed() -> None:
    faults = {"sync-generate-speaker": [Fault("latency", seconds=0.3)]}
    async with serve(config(faults=faults)) as (_, http):
        started = anyio.current_time()
        answer = await http.post(SPEAKERS, json=BODY)
        waited = anyio.current_time() - started
        assert await processed(http) == ["sync-generate-speaker"]
    assert waited >= 0.3
    assert answer.content == await normal_answer()


async def test_configured_latency_is_added_to_every_api_answer_but_not_to_the_console() -> None:
    async with serve(config(latency=0.5)) as (_, http):
        started = anyio.current_time()
        await http.get(f"/{SK_TELECOM}/metadata")
        api = anyio.current_time() - started
        started = anyio.current_time()
        await http.get("/_sandbox/processed")
        console = anyio.current_time() - started
    assert api >= 0.5
    assert console < 0.5


@pytest.mark.parametrize(
    ("spec", "status", "msg"),
    [
        ({"status": 429}, 429, "Too Many Requests"),
        ({"status": 402}, 402, "Payment Required"),
        ({"status": 503}, 503, "Service Unavailable"),
        ({"status": 400}, 400, LIMIT),
        ({"status": 401}, 401, "Unauthorized"),
        ({"status": 500, "message": "Internal error, try later"}, 500, "Internal error, try later"),
    ],
)
async def test_a_status_fault_answers_the_error_envelope_before_anything_is_processed(
    spec: dict[str, Any], status: int, msg: str
) -> None:
    async with serve(config(faults={"sync-generate-speaker": [fault_from({"kind": "status", **spec})]})) as (_, http):
        answer = await http.post(SPEAKERS, json=BODY)
        assert await processed(http) == []
    assert_error(answer, status, msg)
    assert "retry-after" not in answer.headers


async def test_a_429_can_carry_retry_after_and_count_limits_how_many_requests_a_fault_hits() -> None:
    faults = {"sync-generate-speaker": [Fault("status", status=429, retry_after="3", count=2)]}
    async with serve(config(faults=faults)) as (_, http):
        answers = [await http.post(SPEAKERS, json=BODY) for _ in range(3)]
        listed = (await http.get("/_sandbox/faults")).json()
        assert await processed(http) == ["sync-generate-speaker"]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert [a.headers.get("retry-after") for a in answers] == ["3", "3", None]
    assert listed == {"sync-generate-speaker": [{"kind": "status", "count": 0, "status": 429, "retry_after": "3",
                                                 "seconds": 1.0, "code": 200, "key": "msg"}]}  # fmt: skip


async def test_a_fault_on_star_hits_every_endpoint_and_an_endpoints_own_fault_comes_first() -> None:
    faults = {"*": [Fault("status", status=503)], "metadata": [Fault("status", status=402, count=1)]}
    async with serve(config(faults=faults)) as (_, http):
        first = await http.get(f"/{SK_TELECOM}/metadata")
        second = await http.get(f"/{SK_TELECOM}/metadata")
        speakers = await http.post(SPEAKERS, json=BODY)
        uploaded = await http.post("/upload", files={"file": ("a.wav", b"RIFF")})
        console = await http.get("/_sandbox/assets")
    assert [r.status_code for r in (first, second, speakers, uploaded, console)] == [402, 503, 503, 503, 200]


async def test_auth_and_the_rate_limit_come_before_faults() -> None:
    faults = {"*": [Fault("status", status=500, count=1)]}
    async with serve(config(faults=faults, rate_limit=True), key=None) as (sandbox, http):
        assert_error(await http.post(SPEAKERS, json=BODY), 401, "Unauthorized")
        assert_error(await http.post(SPEAKERS, json=BODY, headers={"Authorization": KEY}), 500, "Internal Server Error")
        assert_error(await http.post(SPEAKERS, json=BODY, headers={"Authorization": KEY}), 400, LIMIT)
    assert sandbox.processed == []


# --- after processing ----------------------------------------------------------------------------


async def test_a_status_after_fault_answers_an_error_for_a_request_that_was_processed() -> None:
    async with serve(config(faults={"sync-generate-speaker": [Fault("status_after", status=500)]})) as (_, http):
        answer = await http.post(SPEAKERS, json=BODY)
        assert await processed(http) == ["sync-generate-speaker"]
    assert_error(answer, 500, "Internal Server Error")


async def test_a_status_after_fault_does_not_hide_a_refusal_the_request_would_get_anyway() -> None:
    async with serve(config(faults={"sync-generate-speaker": [Fault("status_after", status=500)]})) as (_, http):
        answer = await http.post(SPEAKERS, json={})
        assert await processed(http) == []
    assert_error(answer, 400, "asset_id cannot be null or empty")


async def test_a_reset_fault_sends_half_the_answer_then_drops_the_connection_after_processing() -> None:
    faults = {"sync-generate-speaker": [Fault("reset")]}
    async with serve(config(faults=faults)) as (sandbox, http):
        with pytest.raises(ConnectionResetError, match="connection reset"):
            await http.post(SPEAKERS, json=BODY)
        lenient = httpx2.ASGITransport(app=sandbox.app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(base_url="http://s", transport=lenient, headers={"Authorization": KEY}) as raw:
            partial = await raw.post(SPEAKERS, json=BODY)
        assert await processed(http) == ["sync-generate-speaker"] * 2
    full = await normal_answer()
    assert partial.content == full[: len(full) // 2]


async def test_a_timeout_fault_answers_in_full_only_after_the_delay_and_after_processing() -> None:
    faults = {"sync-generate-speaker": [Fault("timeout", seconds=0.3)]}
    async with serve(config(faults=faults)) as (_, http):
        started = anyio.current_time()
        answer = await http.post(SPEAKERS, json=BODY)
        waited = anyio.current_time() - started
        assert await processed(http) == ["sync-generate-speaker"]
    assert waited >= 0.3
    assert answer.content == await normal_answer()


async def test_a_truncated_fault_answers_200_with_half_the_body() -> None:
    async with serve(config(faults={"sync-generate-speaker": [Fault("truncated")]})) as (_, http):
        answer = await http.post(SPEAKERS, json=BODY)
        assert await processed(http) == ["sync-generate-speaker"]
    full = await normal_answer()
    assert answer.status_code == 200
    assert answer.content == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        answer.json()


@pytest.mark.parametrize("keep", [30, -20])
async def test_a_truncated_fault_with_keep_cuts_the_body_after_that_many_bytes_or_that_many_before_the_end(
    keep: int,
) -> None:
    async with serve(config(faults={"sync-generate-speaker": [Fault("truncated", keep=keep)]})) as (_, http):
        answer = await http.post(SPEAKERS, json=BODY)
        listed = (await http.get("/_sandbox/faults")).json()
    full = await normal_answer()
    assert answer.status_code == 200
    assert answer.content == full[:keep]
    assert len(answer.content) == (keep if keep > 0 else len(full) + keep)
    assert listed["sync-generate-speaker"][0]["keep"] == keep


async def test_a_shape_fault_answers_a_success_envelope_whose_data_is_not_the_documented_shape() -> None:
    async with serve(config(faults={"sync-generate-speaker": [Fault("shape")]})) as (_, http):
        answer = await http.post(SPEAKERS, json=BODY)
        assert await processed(http) == ["sync-generate-speaker"]
    assert answer.json() == {
        "code": "0000",
        "msg": "success",
        "data": {"unexpected": "shape", "items": "not a list"},
        "success": True,
        "failed": False,
    }


@pytest.mark.parametrize(
    ("spec", "code", "key"),
    [
        ({"code": "0000"}, "0000", "msg"),
        ({"code": "200"}, "200", "msg"),
        ({"code": 200, "key": "message"}, 200, "message"),
    ],
)
async def test_an_envelope_fault_answers_the_documented_envelope_variants(
    spec: dict[str, Any], code: int | str, key: str
) -> None:
    faults = {"sync-generate-audio": [fault_from({"kind": "envelope", **spec})]}
    async with serve(config(faults=faults)) as (_, http):
        answer = (await http.post("/transcriptions/sync-generate-audio", json={"asset_id": SK_TELECOM})).json()
        assert await processed(http) == ["sync-generate-audio"]
    assert answer["code"] == code
    assert answer[key] == "success"
    assert ("msg" in answer) is (key == "msg")
    assert answer["data"]["items"][1]["text"].startswith(" afternoon. I am Joong-suk Oh, Head of IR Planning")


async def test_a_slow_fault_trickles_out_the_whole_answer_over_the_given_seconds() -> None:
    async with serve(config(faults={"sync-generate-speaker": [Fault("slow", seconds=0.3)]})) as (_, http):
        started = anyio.current_time()
        answer = await http.post(SPEAKERS, json=BODY)
        waited = anyio.current_time() - started
        assert await processed(http) == ["sync-generate-speaker"]
    assert waited >= 0.25
    assert answer.content == await normal_answer()


# --- the console and the command line ------------------------------------------------------------


async def test_the_console_puts_lists_and_clears_faults_and_refuses_unknown_kinds() -> None:
    async with serve() as (sandbox, http):
        put = await http.put("/_sandbox/faults", json={"metadata": [{"kind": "status", "status": 402, "count": 1}]})
        assert put.json() == {
            "metadata": [{"kind": "status", "count": 1, "status": 402, "seconds": 1.0, "code": 200, "key": "msg"}]
        }
        assert_error(await http.get(f"/{SK_TELECOM}/metadata"), 402, "Payment Required")
        assert (await http.get(f"/{SK_TELECOM}/metadata")).status_code == 200
        bad = await http.put("/_sandbox/faults", json={"metadata": [{"kind": "explode"}]})
        assert bad.status_code == 422
        assert "unknown fault kind 'explode'" in bad.json()["error"]
        assert (await http.put("/_sandbox/faults", content=b"not json")).status_code == 400
        assert (await http.put("/_sandbox/faults", json={"*": [{"kind": "status"}]})).status_code == 200
        assert_error(await http.get(f"/{SK_TELECOM}/metadata"), 500, "Internal Server Error")
        assert (await http.delete("/_sandbox/faults")).json() == {}
        assert (await http.get(f"/{SK_TELECOM}/metadata")).status_code == 200
    assert sandbox.faults == {}


def test_the_command_line_form_of_a_fault_is_parsed_with_its_options() -> None:
    assert parse_fault("sync-generate-audio:status:status=503,count=2") == (
        "sync-generate-audio",
        Fault("status", count=2, status=503),
    )
    assert parse_fault("*:latency:seconds=0.5") == ("*", Fault("latency", seconds=0.5))
    assert parse_fault("metadata:envelope:code=0000,key=message")[1].code == "0000"
    assert parse_fault('metadata:envelope:code="200"')[1].code == "200"
    assert parse_fault("metadata:envelope:code=200")[1].code == 200
    assert parse_fault("upload:reset") == ("upload", Fault("reset"))
    assert parse_fault("async-generate-audio:truncated:keep=-20") == (
        "async-generate-audio",
        Fault("truncated", keep=-20),
    )
    for bad in ("metadata", "metadata:explode", ""):
        with pytest.raises(ValueError, match="ENDPOINT:KIND"):
            parse_fault(bad)


def test_the_module_refuses_a_malformed_fault_flag_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--fault", "metadata:explode"])
    assert exited.value.code == 2
    assert "use ENDPOINT:KIND" in capsys.readouterr().err


# --- the real client against the faults ----------------------------------------------------------


async def test_the_real_client_retries_a_503_burst_and_the_billed_call_is_processed_once() -> None:
    async def no_wait(_: float) -> None:
        await anyio.lowlevel.checkpoint()

    faults = {"sync-generate-speaker": [Fault("status", status=503, count=2)]}
    async with serve(config(faults=faults), key=None) as (sandbox, http):
        client = MaviClient(http, SecretStr(KEY), rate_limit=0, sleep=no_wait)
        turns = await client.transcribe(SPEAKER_TURNS, {"asset_id": AMI_EN2002B})
    assert len(turns.data.items) == 490
    assert (sandbox.requests, sandbox.processed) == (3, ["sync-generate-speaker"])


async def test_the_real_client_does_not_resend_a_billed_call_answered_500_after_processing() -> None:
    faults = {"sync-generate-speaker": [Fault("status_after", status=500)]}
    async with serve(config(faults=faults), key=None) as (sandbox, http):
        client = MaviClient(http, SecretStr(KEY), rate_limit=0)
        with pytest.raises(ServerError) as failed:
            await client.transcribe(SPEAKER_TURNS, {"asset_id": AMI_EN2002B})
    assert failed.value.status == 500
    assert (sandbox.requests, sandbox.processed) == (1, ["sync-generate-speaker"])


async def test_the_real_client_keeps_the_raw_answer_of_a_processed_call_in_an_unexpected_shape() -> None:
    async with serve(config(faults={"sync-generate-speaker": [Fault("shape")]}), key=None) as (sandbox, http):
        client = MaviClient(http, SecretStr(KEY), rate_limit=0)
        with pytest.raises(ResultError) as failed:
            await client.transcribe(SPEAKER_TURNS, {"asset_id": AMI_EN2002B})
    assert failed.value.raw is not None
    assert b'"not a list"' in failed.value.raw
    assert sandbox.processed == ["sync-generate-speaker"]


async def test_the_real_client_accepts_every_envelope_variant() -> None:
    for spec in ({"code": "0000"}, {"code": "200"}, {"code": 200, "key": "message"}):
        faults = {"sync-generate-speaker": [fault_from({"kind": "envelope", **spec})]}
        async with serve(config(faults=faults), key=None) as (_, http):
            client = MaviClient(http, SecretStr(KEY), rate_limit=0)
            turns = await client.transcribe(SPEAKER_TURNS, {"asset_id": AMI_EN2002B})
        assert turns.data.items[0].speaker == "SPEAKER_01"
