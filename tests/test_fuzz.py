"""Property-based tests (hypothesis): tools, normalizers and the pager fed generated input.

- Every tool, through the MCP SDK client in memory, with generated arguments (wrong types, empty, huge, unicode,
  negative and non-finite times, unknown ids, forged cursors, bogus mappings and formats): every call ends in a
  result or an actionable tool error, nothing crashes (no bare "Error executing tool X", no internal-error
  text, no traceback, no ERROR log), and the server answers a known-good call afterwards.
- Every normalizer with generated payloads of its shape (missing fields, nulls, wrong types, unsorted,
  overlapping, zero-length and reversed segments, non-finite times): a valid transcript or a clear validation
  error, never another exception; 100,000 segments in bounded time.
- The pager with generated transcripts and any budget from 500 to 20,000: every page within budget (or one
  oversized word), and reading to the end returns every word once, in order.

The server under test runs in a background event loop (a blocking portal, so hypothesis draws in the test's own
thread) and talks to the sandbox app in process (`httpx2.ASGITransport`, vendor rate limit off); the sandbox's
callbacks reach the server's webhook receiver in process too, so async tasks complete by real deliveries.
Generated cases per run: about 12,900 (`--hypothesis-show-statistics` shows what the calls answered).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from mcp import Client
from mcp_types import CallToolResult

from mavi_mcp import shapes, wire
from mavi_mcp.errors import ResultError
from mavi_mcp.normalize import Context
from mavi_mcp.normalize._assemble import RawSegment, RawWord, assemble
from mavi_mcp.render.page import Page, display_names, render_page
from mavi_mcp.render.view import FORMATS, View, alias
from mavi_mcp.transcript import Transcript
from tests.conftest import free_port, in_process_server, write_wav
from tests.helpers import body, expected_tokens, read_all, text_tokens

pytestmark = [pytest.mark.fuzz]

KEY = "sk-mavi-fuzz-key-0123456789"
SECRET = "fuzz-webhook-secret-0123456789abcdef"
SMALL_ASSETS = [
    "re_700000000000000003",
    "re_700000000000000004",
    "re_700000000000000005",
    "re_700000000000000006",
    "re_700000000000000012",
    "re_700000000000000025",
]
UNKNOWN_ASSETS = ["re_123", "re_999999999999999999", "re_700000000000000099"]


def cases(n: int) -> settings:
    """`n` generated cases, no per-case deadline (each call is bounded by `anyio.fail_after` or pytest-timeout)."""
    return settings(
        max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )


# --- generated values ---------------------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "\n\r\t",
    "\u202e\u200b\ufeff",
    "💥" * 40,
    "x" * 5000,
    "../../etc/passwd",
    "nan",
    "-inf",
    "1e309",
    "-1",
    "99:99",
    "1:2:3:4",
    "::",
    "<transcript>",
    "</transcript>",
    "SPEAKER_00",
    "S0",
    "'; DROP TABLE tasks;--",
    "%s%n{0}",
    "null",
    "c1",
    "c1.......",
]
texts = st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE_TEXT))
junk: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
CLOCKS = ["0:30", "1:00", "12:34.5", "1:02:03", "0", "59:60", "-0:01", "nan", "inf", "1e400", " 7 ", "", "1::2"]


@dataclass(frozen=True)
class P:
    """A parameter's values: `valid` ones (the declared type, values hostile or not) and `wild` ones (anything)."""

    valid: st.SearchStrategy[Any]
    wild: st.SearchStrategy[Any] = junk


TIME = P(
    st.one_of(
        st.floats(min_value=0, max_value=4000),
        st.floats(min_value=0, max_value=4000).map(str),
        st.integers(min_value=-5, max_value=10**6),
        st.sampled_from(CLOCKS),
    ),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(10**6), max_value=10**12), junk),
)
BUDGET = P(st.integers(min_value=500, max_value=20000), st.one_of(st.integers(min_value=-10, max_value=10**9), junk))
FORMAT = P(st.sampled_from((*FORMATS, "insights")))
STAMPS = P(st.sampled_from(["auto", "segments", "none"]))
WAIT = P(
    st.one_of(st.just(0.0), st.floats(min_value=0, max_value=1)),
    st.one_of(st.floats(min_value=-1, max_value=100), junk),
)
BOOL = P(st.booleans())


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=8,
    )


# --- the server, in memory ----------------------------------------------------------------------------------------


class CrashLog(logging.Handler):
    """Collects ERROR records (a tool or job crash is logged at ERROR with its traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        taken = [f"{r.name}: {r.getMessage()}" for r in self.records]
        self.records.clear()
        return taken


@dataclass
class Seeded:
    """What the fuzzed calls can refer to: stored transcripts (with a real cursor each), tasks, speakers."""

    transcripts: list[str] = field(default_factory=list[str])
    cursors: dict[str, str] = field(default_factory=dict[str, str])
    tasks: list[str] = field(default_factory=list[str])
    speakers: list[str] = field(default_factory=list[str])
    speakers_of: dict[str, list[str]] = field(default_factory=dict[str, list[str]])
    paths: list[str] = field(default_factory=list[str])


@dataclass
class Server:
    """The server under test, running in a background event loop (`portal`); tests call it synchronously, so that
    hypothesis draws its data in the test's own thread."""

    client: Client
    crashes: CrashLog
    seeded: Seeded
    portal: BlockingPortal | None = None
    calls: int = 0

    def check(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        assert self.portal is not None
        result = self.portal.call(self.acheck, tool, arguments)
        shown = (
            re.sub(r"[0-9a-f]{6,}|[0-9]+", "#", " | ".join(text_of(result).split("\n")[:3]))[:150]
            if result.is_error
            else "result"
        )
        if currently_in_test_context():  # statistics: --hypothesis-show-statistics lists what the calls answered
            event(f"{tool}: {shown}")
        return result

    async def acheck(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call `tool` and check the outcome is a result or an actionable error, and that the server still answers."""
        with anyio.fail_after(30):
            result = await self.client.call_tool(tool, arguments)
            self.calls += 1
            assert_answer(result)
            known_good = await self.client.call_tool("list_transcripts", {"limit": 1})
        assert not known_good.is_error, known_good.content
        assert self.crashes.take() == []
        return result


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def assert_answer(result: CallToolResult) -> None:
    text = text_of(result)
    assert text.strip(), result
    if result.is_error:
        assert not re.fullmatch(r"(Error executing tool \w+(: )?)+", text), text
        assert "mavi-mcp hit an internal error" not in text, text
        assert "Traceback" not in text, text
        assert KEY not in text
    else:
        assert result.structured_content is not None, text
        assert KEY not in json.dumps(result.structured_content)


SEED_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("identify_speakers", {"asset_id": "re_700000000000000012", "max_tokens": 500}),
    ("transcribe_whisper", {"asset_id": "re_700000000000000003", "speaker": True, "max_tokens": 500}),
    ("transcribe_assemblyai", {"asset_id": "re_700000000000000004", "max_tokens": 500}),
    ("transcribe_elevenlabs", {"asset_id": "re_700000000000000006", "diarize": True}),
    ("multi_speaker_async", {"asset_id": "re_700000000000000003", "max_tokens": 500}),
]


class MediaHosts(httpx2.AsyncBaseTransport):
    """Where upload_media's URL downloads go: media.test serves a short WAV at every path, loopback addresses are
    reached for real (a closed port refuses), any other host fails as a name without a DNS entry would. Nothing
    leaves the machine."""

    def __init__(self, wav: bytes) -> None:
        self.wav = wav
        self.loopback = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        if host == "media.test":
            return httpx2.Response(200, content=self.wav, headers={"content-type": "audio/wav"})
        if host in ("127.0.0.1", "::1", "localhost"):
            return await self.loopback.handle_async_request(request)
        raise httpx2.ConnectError("[Errno -2] Name or service not known", request=request)

    async def aclose(self) -> None:
        await self.loopback.aclose()


@asynccontextmanager
async def serving(tmp: Path) -> AsyncIterator[Server]:
    """The server over the in-process sandbox, with a few real transcripts stored for the fuzzed calls to use."""
    media = tmp / "media"
    media.mkdir()
    wav = write_wav(media / "take.wav", seconds=1.0)
    (media / "notes.txt").write_text("not audio")
    (media / "folder").mkdir()
    (media / "escape.wav").symlink_to("/etc/hostname")
    async with (
        in_process_server(
            tmp / "data",
            [media],
            api_key=KEY,
            webhook_secret=SECRET,
            download_transport=MediaHosts(wav.read_bytes()),
            upload_processing_seconds=0.0,
        ) as (mcp_server, _),
        Client(mcp_server, read_timeout_seconds=60) as client,
    ):
        paths = [str(wav), str(media / "notes.txt"), str(media / "folder"), str(media / "escape.wav")]
        server = Server(client, CrashLog(), Seeded(paths=paths))
        logging.getLogger().addHandler(server.crashes)
        try:
            for tool, args in SEED_CALLS:
                result = await server.acheck(tool, args)
                data = result.structured_content or {}
                assert data.get("status") == "completed", text_of(result)
                server.seeded.transcripts.append(data["transcript_id"])
                server.seeded.tasks.append(data["task_id"])
                own = [s["label"] for s in data["speakers"]] + [alias(s["label"]) for s in data["speakers"]]
                server.seeded.speakers.extend(own)
                server.seeded.speakers_of[data["transcript_id"]] = own
                if data.get("next_cursor"):
                    server.seeded.cursors[data["transcript_id"]] = data["next_cursor"]
            assert len(server.seeded.cursors) >= 3
            yield server
        finally:
            logging.getLogger().removeHandler(server.crashes)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serving(tmp_path_factory.mktemp("fuzz"))) as running,
    ):
        running.portal = portal
        yield running


def cursors(seeded: Seeded, transcript_id: str) -> st.SearchStrategy[Any]:
    """For `transcript_id`: its real cursor, that cursor cut or edited, a well-formed cursor with a forged position
    and view (the view is base64 JSON: any keys, values of any type, NaN included)."""
    check = hashlib.sha256(transcript_id.encode()).hexdigest()[:6]
    view_times = st.sampled_from([math.nan, math.inf, -math.inf, -5, 0, 1e308, 1e-300, "nan", "1:00", True, [1], "x"])
    numbers = st.one_of(st.integers(min_value=0, max_value=600), st.integers(min_value=-3, max_value=10**10))
    view_values = {
        "f": st.one_of(FORMAT.valid, json_values()),
        "ts": st.one_of(STAMPS.valid, json_values()),
        "a": st.one_of(view_times, TIME.valid, json_values()),
        "b": st.one_of(view_times, TIME.valid, json_values()),
        "sp": st.one_of(st.lists(st.sampled_from(seeded.speakers) | texts, max_size=3), json_values()),
        "zz": json_values(),
    }

    @st.composite
    def forged(draw: st.DrawFn) -> str:
        parts = ["c1", check, str(draw(numbers)), str(draw(numbers)), str(draw(numbers))]
        if draw(st.integers(min_value=0, max_value=3)):
            view = draw(st.fixed_dictionaries({}, optional=view_values))
            raw = json.dumps(view, allow_nan=True).encode()
            parts.append(base64.urlsafe_b64encode(raw).decode().rstrip("="))
        return ".".join(parts)

    real = seeded.cursors.get(transcript_id)
    if real is None:
        return forged()

    @st.composite
    def edited(draw: st.DrawFn) -> str:
        cut = draw(st.integers(min_value=0, max_value=len(real)))
        return real[:cut] + draw(st.text(max_size=3))

    return st.one_of(st.just(real), forged(), forged(), edited())


names = st.one_of(st.text(min_size=1, max_size=40), st.sampled_from([t for t in HOSTILE_TEXT if 0 < len(t) <= 200]))


def speakers_param(seeded: Seeded) -> P:
    return P(st.lists(st.one_of(st.sampled_from(seeded.speakers), st.sampled_from(seeded.speakers), names), max_size=3))


def page_params(seeded: Seeded) -> dict[str, P]:
    return {
        "format": FORMAT,
        "max_tokens": BUDGET,
        "start": TIME,
        "end": TIME,
        "speakers": speakers_param(seeded),
        "timestamps": STAMPS,
    }


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in `n` draws (hypothesis favours the ends of a range, so the middle value is the rare one)."""
    return st.integers(min_value=1, max_value=n).map(lambda k: k == n // 2)


@st.composite
def arguments(draw: st.DrawFn, required: dict[str, P], optional: dict[str, P]) -> dict[str, Any]:
    """Arguments for a tool: three times in four all of the declared types (values may still be wrong: unknown
    ids, bad times, empty or huge strings), else any JSON value for any of them; now and then a required one is
    left out or a stray one added."""
    wild = draw(one_in(4))

    def pick(param: P) -> st.SearchStrategy[Any]:
        return st.one_of(param.valid, param.wild) if wild else param.valid

    args = draw(
        st.fixed_dictionaries(
            {k: pick(v) for k, v in required.items()}, optional={k: pick(v) for k, v in optional.items()}
        )
    )
    if required and draw(one_in(20)):
        del args[draw(st.sampled_from(sorted(required)))]
    if draw(one_in(20)):
        args[draw(st.text(min_size=1, max_size=10))] = draw(junk)
    return args


ASSET = P(
    st.one_of(st.sampled_from(SMALL_ASSETS), st.sampled_from(SMALL_ASSETS), st.sampled_from(UNKNOWN_ASSETS), texts)
)


# --- tools --------------------------------------------------------------------------------------------------------


@cases(1000)
@given(data=st.data())
def test_get_transcript_answers_every_generated_request_with_a_page_or_an_actionable_error(
    server: Server, data: st.DataObject
) -> None:
    seeded = server.seeded
    transcript_id = data.draw(st.sampled_from(seeded.transcripts))
    ids = P(st.one_of(st.just(transcript_id), st.just(transcript_id), st.just(transcript_id), names))
    optional = {"cursor": P(cursors(seeded, transcript_id)), **page_params(seeded)}
    server.check("get_transcript", data.draw(arguments({"transcript_id": ids}, optional)))


@cases(500)
@given(data=st.data())
def test_search_transcripts_answers_every_generated_request_with_hits_or_an_actionable_error(
    server: Server, data: st.DataObject
) -> None:
    seeded = server.seeded
    transcript_id = data.draw(st.sampled_from(seeded.transcripts))
    queries = st.one_of(
        st.sampled_from(['"good morning"', "quarter OR year", "thank*", "revenue -margin", "-fee", "OR", '"']),
        st.text(max_size=60),
        names,
    )
    ids = P(st.one_of(st.just(transcript_id), names))
    optional = {
        "transcript_id": ids,
        "speakers": speakers_param(seeded),
        "start": TIME,
        "end": TIME,
        "max_tokens": BUDGET,
        "cursor": P(st.one_of(st.just("s1.000000.5"), st.text(max_size=20))),
    }
    result = server.check("search_transcripts", data.draw(arguments({"query": P(queries)}, optional)))
    if not result.is_error:
        assert result.structured_content is not None
        assert result.structured_content["estimated_tokens"] <= 20000


@cases(600)
@given(data=st.data())
def test_get_transcript_with_a_cut_edited_or_forged_cursor_answers_with_a_page_or_an_actionable_error(
    server: Server, data: st.DataObject
) -> None:
    transcript_id = data.draw(st.sampled_from(server.seeded.transcripts))
    cursor = data.draw(cursors(server.seeded, transcript_id))
    budget = data.draw(st.none() | BUDGET.valid)
    args = {"transcript_id": transcript_id, "cursor": cursor} | ({"max_tokens": budget} if budget else {})
    server.check("get_transcript", args)


@cases(500)
@given(data=st.data())
def test_rename_speakers_answers_every_generated_mapping_with_the_names_or_an_actionable_error(
    server: Server, data: st.DataObject
) -> None:
    seeded = server.seeded
    transcript_id = data.draw(st.sampled_from([t for t in seeded.transcripts if seeded.speakers_of[t]]))
    own = st.sampled_from(seeded.speakers_of[transcript_id])
    keys = st.one_of(own, own, own, names)
    new_names = st.one_of(st.text(max_size=60), st.sampled_from(HOSTILE_TEXT), own, st.just(""))
    renames = P(st.lists(st.fixed_dictionaries({"speaker": keys, "name": new_names}), min_size=1, max_size=4))
    ids = P(st.one_of(st.just(transcript_id), st.just(transcript_id), names))
    result = server.check("rename_speakers", data.draw(arguments({"transcript_id": ids, "names": renames}, {})))
    if not result.is_error:  # every speaker stays identifiable: no name is another speaker's label, alias or name
        speakers = (result.structured_content or {})["speakers"]
        for speaker in (s for s in speakers if s.get("name")):
            others = [s for s in speakers if s["label"] != speaker["label"]]
            taken = {t.strip().casefold() for s in others for t in (s["label"], alias(s["label"]), s.get("name")) if t}
            assert speaker["name"].strip().casefold() not in taken, speakers


@cases(600)
@given(data=st.data())
def test_listing_and_task_tools_answer_every_generated_request(server: Server, data: st.DataObject) -> None:
    seeded = server.seeded
    limit = P(st.integers(min_value=-5, max_value=250))
    spec: dict[str, tuple[dict[str, P], dict[str, P]]] = {
        "list_transcripts": ({}, {"limit": limit}),
        "list_tasks": ({}, {"status": P(st.sampled_from(["pending", "completed", "failed", "done"])), "limit": limit}),
        "get_task": (
            {"task_id": P(st.one_of(st.sampled_from(seeded.tasks), texts))},
            {"wait_seconds": WAIT, "format": FORMAT, "max_tokens": BUDGET},
        ),
        "webhook_info": ({}, {}),
    }
    tool = data.draw(st.sampled_from(sorted(spec)))
    required, optional = spec[tool]
    server.check(tool, data.draw(arguments(required, optional)))


@cases(700)
@given(data=st.data())
def test_speaker_and_whisper_transcription_answer_every_generated_request(server: Server, data: st.DataObject) -> None:
    tool = data.draw(st.sampled_from(["identify_speakers", "transcribe_whisper", "multi_speaker_async"]))
    optional = {"wait_seconds": WAIT, **page_params(server.seeded)}
    if tool != "multi_speaker_async":
        optional["mode"] = P(st.sampled_from(["auto", "sync", "async", "fast"]))
    if tool == "transcribe_whisper":
        optional["speaker"] = BOOL
    server.check(tool, data.draw(arguments({"asset_id": ASSET}, optional)))


def flags(names: str) -> dict[str, P]:
    return {name: BOOL for name in names.split()}


ASSEMBLYAI_OPTIONS: dict[str, P] = {
    **flags(
        "speaker_labels language_detection punctuate format_text disfluencies filter_profanity multichannel "
        "summarization auto_chapters auto_highlights entity_detection sentiment_analysis iab_categories "
        "content_safety custom_topics redact_pii redact_pii_audio"
    ),
    "speakers_expected": P(st.integers(min_value=-1, max_value=60)),
    "language_code": P(st.one_of(st.sampled_from(["en", "es", "xx-YY"]), texts)),
    "language_confidence_threshold": P(st.floats(min_value=-0.5, max_value=1.5)),
    "speech_threshold": P(st.floats(min_value=-0.5, max_value=1.5)),
    "speech_model": P(st.one_of(st.sampled_from(["best", "nano", "universal"]), texts)),
    "audio_start_from": P(st.integers(min_value=-1000, max_value=400_000)),
    "audio_end_at": P(st.integers(min_value=-1000, max_value=400_000)),
    "word_boost": P(st.lists(texts, max_size=5)),
    "boost_param": P(st.sampled_from(["low", "default", "high", "max"])),
    "custom_spelling": P(
        st.lists(st.fixed_dictionaries({"from": st.lists(texts, max_size=2), "to": texts}), max_size=2)
    ),
    "summary_model": P(st.sampled_from(["informative", "conversational"])),
    "summary_type": P(st.sampled_from(["bullets", "gist", "headline", "haiku"])),
    "topics": P(st.lists(texts, max_size=3)),
    "redact_pii_policies": P(st.lists(st.sampled_from(["person_name", "phone_number"]) | texts, max_size=2)),
    "redact_pii_sub": P(st.sampled_from(["hash", "entity_name"])),
    "redact_pii_audio_quality": P(st.sampled_from(["mp3", "wav"])),
    "webhook_url": P(st.one_of(st.sampled_from(["https://example.com/hook", "ftp://x", "http://[::1"]), texts)),
}
ELEVENLABS_OPTIONS: dict[str, P] = {
    **flags("diarize tag_audio_events"),
    "language_code": P(st.one_of(st.sampled_from(["en", "eng", "zz"]), texts)),
    "model_id": P(st.one_of(st.sampled_from(["scribe_v1", "scribe_v2"]), texts)),
    "num_speakers": P(st.integers(min_value=-1, max_value=40)),
    "timestamps_granularity": P(st.sampled_from(["none", "segment", "word", "character"])),
    "file_format": P(st.sampled_from(["pcm_s16le_16", "other", "mp3"])),
    "source_lang": P(st.sampled_from(["en", "fr", ""])),
    "target_lang": P(st.sampled_from(["en", "fr", ""])),
}
SOURCES: dict[str, P] = {
    "asset_id": ASSET,
    "url": P(
        st.one_of(st.sampled_from(["https://example.com/a.mp3", "ftp://example.com/a.mp3", "http://[::1"]), texts)
    ),
    "source_url": P(st.one_of(st.sampled_from(["gs://bucket/a.mp3", "https://example.com/a.mp3", "s3://x"]), texts)),
}


@cases(900)
@given(data=st.data())
def test_assemblyai_and_elevenlabs_answer_every_generated_request(server: Server, data: st.DataObject) -> None:
    tool = data.draw(st.sampled_from(["transcribe_assemblyai", "transcribe_elevenlabs"]))
    options = ASSEMBLYAI_OPTIONS if tool == "transcribe_assemblyai" else ELEVENLABS_OPTIONS
    chosen = data.draw(st.lists(st.sampled_from(sorted(options)), max_size=5, unique=True))
    sources = data.draw(st.sampled_from([["asset_id"], ["asset_id"], ["url"], ["source_url"], [], ["asset_id", "url"]]))
    required = {name: SOURCES[name] for name in sources}
    optional = {name: options[name] for name in chosen} | {"wait_seconds": WAIT, **page_params(server.seeded)}
    server.check(tool, data.draw(arguments(required, optional)))


CLOSED_PORT = free_port()
UPLOAD_URLS = [
    "https://media.test/talk.wav",
    "https://user:pw@media.test/a.wav?sig=x#t=1",
    "https://media.test/page.html",
    f"http://127.0.0.1:{CLOSED_PORT}/a.wav",
    "https://nowhere.test/a.wav",
    "http://[::1",
    "http://",
    "https:///a.wav",
    "http://a b/c.wav",
    "http://media.test:abc/a.wav",
    "HTTPS://MEDIA.TEST/A.MP3",
]


@cases(300)
@given(data=st.data())
def test_upload_media_answers_every_generated_path_or_url_with_an_asset_or_an_actionable_error(
    server: Server, data: st.DataObject
) -> None:
    target = P(
        st.one_of(
            st.sampled_from(server.seeded.paths),
            st.sampled_from(["/dev/null", "/etc/passwd", "/", "relative.wav", "~/x.wav", "/nonexistent/a.wav"]),
            st.sampled_from(["file:///etc/passwd", "ftp://example.com/a.mp3", "gs://bucket/a.mp3", "data:,x"]),
            st.sampled_from(UPLOAD_URLS),
            texts.map(lambda t: "/" + t),
            texts.map(lambda t: "https://media.test/" + t),
            texts.map(lambda t: "http://" + t),
            texts,
        )
    )
    args = data.draw(arguments({"path": target}, {"wait_seconds": WAIT}))
    result = server.check("upload_media", args)
    if not result.is_error and (result.structured_content or {}).get("status") == "completed":
        path = str(args["path"]).strip()
        assert path == server.seeded.paths[0] or httpx2.URL(path).host == "media.test", path


def test_a_bad_window_costs_nothing_and_an_unknown_speaker_names_the_transcript_it_stored(server: Server) -> None:
    for window in [{"start": "nan"}, {"start": "2:00", "end": "1:00"}]:
        result = server.check("identify_speakers", {"asset_id": "re_700000000000000025", "mode": "sync", **window})
        assert result.is_error
        assert "Nothing was sent or billed." in text_of(result)
    result = server.check(
        "identify_speakers",
        {"asset_id": "re_700000000000000025", "mode": "sync", "speakers": ["Nobody"], "refresh": True},
    )  # refresh: a sync run of its own (the fuzz tests above may have stored an async result, reused otherwise)
    assert result.is_error
    match = re.search(r'get_transcript\(transcript_id="(tr_[0-9a-f]+)"\)', text_of(result))
    assert match, text_of(result)
    page = server.check("get_transcript", {"transcript_id": match.group(1)})
    assert (page.structured_content or {}).get("endpoint") == "sync-generate-speaker"


def test_an_unreachable_or_malformed_media_url_is_an_actionable_error(server: Server) -> None:
    for url, expected in [
        (f"http://127.0.0.1:{free_port()}/a.wav", "Refused to download from 127.0.0.1: it is a loopback address"),
        ("http://", "has no host name"),
        ("http://[::1", "is not a valid URL"),
        ("http://a b/c.wav", "Could not connect to the host of http://a b/c.wav"),
    ]:
        result = server.check("upload_media", {"path": url})
        assert result.is_error
        assert expected in text_of(result)


# --- normalizers --------------------------------------------------------------------------------------------------

# Each field has a typed strategy (the type the wire model expects, with hostile values: NaN, infinities, negative,
# reversed and zero-length spans, huge and unicode text) and, in a "loose" record, anything at all (wrong types,
# nulls, missing). Payloads are mostly typed so that most reach the normalizer; the loose ones test rejection.
seconds = st.one_of(
    st.floats(min_value=0, max_value=5000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-100, max_value=10**7),
    st.sampled_from([0, -0.0, 1e-320, 1e308, -1.0]),
)
label = st.one_of(st.sampled_from(["SPEAKER_00", "SPEAKER_01", "speaker_0", "A", "B", "Ana Ruiz", "", " "]), texts)
spoken = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE_TEXT))


@dataclass(frozen=True)
class Shape:
    """A JSON object's fields: `required` ones (typed), `optional` ones (typed, may be absent or null)."""

    required: dict[str, st.SearchStrategy[Any]]
    optional: dict[str, st.SearchStrategy[Any]] = field(default_factory=dict[str, st.SearchStrategy[Any]])

    def typed(self) -> st.SearchStrategy[Any]:
        optional = {k: st.one_of(v, st.none()) for k, v in self.optional.items()}
        return st.fixed_dictionaries(self.required, optional=optional)

    def loose(self) -> st.SearchStrategy[Any]:
        every = {k: st.one_of(v, junk) for k, v in (self.required | self.optional).items()}
        return st.one_of(st.fixed_dictionaries({}, optional=every), junk)


def payloads(top: Shape, lists: dict[str, tuple[Shape, int]]) -> st.SearchStrategy[Any]:
    """Objects of shape `top` whose list fields hold items of their shape: mostly typed, sometimes loose."""

    def build(typed: bool) -> st.SearchStrategy[Any]:
        fields = dict(top.required)
        optional = dict(top.optional)
        for name, (item, size) in lists.items():
            strategy = st.lists(item.typed() if typed else item.loose(), max_size=size)
            (fields if name in top.required else optional)[name] = strategy
        shape = Shape(fields, optional)
        return shape.typed() if typed else shape.loose()

    return st.one_of(build(True), build(True), build(True), build(False))


usage = Shape(
    {},
    {
        "duration": seconds,
        "model": spoken,
        "output_tokens": st.integers(0, 10**6),
        "prompt_tokens": st.integers(0, 10**6),
    },
)
turn = Shape({"start": seconds, "end": seconds, "speaker": label})
whisper_item = Shape({"text": spoken, "start_time": seconds, "end_time": seconds}, {"speaker": label})
aai_word = Shape({"text": spoken, "start": seconds, "end": seconds}, {"confidence": seconds, "speaker": label})
aai_utterance = Shape(
    {"text": spoken, "start": seconds, "end": seconds},
    {"speaker": label, "confidence": seconds, "words": st.lists(aai_word.typed(), max_size=8)},
)
el_word = Shape(
    {"text": spoken},
    {
        "start": seconds,
        "end": seconds,
        "type": st.sampled_from(["word", "spacing", "audio_event", "other"]),
        "speaker_id": label,
        "logprob": seconds,
    },
)
multi_segment = Shape({"start_time": seconds, "end_time": seconds, "text": spoken}, {"speaker": label})
face = Shape({}, {"face_id": spoken, "name": spoken, "face_file_blob": spoken})
usages = st.one_of(usage.typed(), st.lists(usage.typed(), max_size=3))

PAYLOADS: dict[str, tuple[st.SearchStrategy[Any]]] = {  # shape -> (payload strategy,)
    "sync-generate-speaker": (payloads(Shape({"items": st.just([])}, {"model": spoken}), {"items": (turn, 40)}),),
    "async-generate-speaker-callback": (
        payloads(Shape({"data": st.just([])}, {"usage_metadata": usages}), {"data": (turn, 40)}),
    ),
    "sync-generate-audio": (payloads(Shape({"items": st.just([])}, {"model": spoken}), {"items": (whisper_item, 40)}),),
    "async-generate-audio-callback": (
        payloads(Shape({"data": st.just([])}, {"usage_metadata": usage.typed()}), {"data": (whisper_item, 40)}),
    ),
    "async-generate-multi-speaker-callback": (
        payloads(
            Shape({"audio_transcription": st.just([])}, {"usage_metadata": usages}),
            {"audio_transcription": (multi_segment, 40), "faces": (face, 3)},
        ),
    ),
    "speech-to-text-assemblyai": (
        payloads(
            Shape(
                {},
                {
                    "status": st.sampled_from(["completed", "error", "queued"]),
                    "error": spoken,
                    "audio_duration": seconds,
                    "text": spoken,
                    "language_code": spoken,
                    "summary": spoken,
                    "chapters": st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=2), max_size=2),
                    "confidence": seconds,
                },
            ),
            {"words": (aai_word, 60), "utterances": (aai_utterance, 6)},
        ),
    ),
    "speech-to-text-elevenlabs": (
        payloads(
            Shape(
                {},
                {
                    "language_code": spoken,
                    "language_probability": seconds,
                    "text": spoken,
                    "audio_duration_secs": seconds,
                },
            ),
            {"words": (el_word, 60)},
        ),
    ),
}


def check_transcript(transcript: Transcript) -> None:
    """The canonical model's promises: finite ordered times, a duration that covers them, a stable stored form."""
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts)
    for segment in transcript.segments:
        assert 0 <= segment.start <= segment.end < math.inf
        assert segment.end <= transcript.duration + 1e-3
        for word in segment.words or ():
            assert 0 <= word[1] <= word[2] < math.inf
    labels_seen = {s.speaker for s in transcript.segments if s.speaker is not None}
    assert {s.label for s in transcript.speakers} == labels_seen
    stored = transcript.model_dump_json()  # the store keeps this JSON; it must load back to the same transcript
    loaded = Transcript.model_validate_json(stored)
    assert loaded.model_dump_json() == stored
    assert loaded.segments == transcript.segments
    page = render_page(transcript, names={}, view=View(), max_tokens=2000)
    assert page.text.startswith(f"Transcript {transcript.id}")


def normalize_or_reject(shape: str, payload: Any) -> Transcript | None:
    """The normalizer's answer: a transcript, or None for a clear rejection (`wire.WireError` or `ResultError`)."""
    entry = shapes.SHAPES[shape]
    try:
        transcript = entry.normalize(wire.validate(entry.wire, payload), Context(model=entry.default_model))
    except wire.WireError as exc:
        problems = str(exc)
    except ResultError as exc:
        problems = str(exc).strip()
    else:
        check_transcript(transcript)
        return transcript
    assert problems  # the rejection says what is wrong
    return None


@pytest.mark.timeout(240)
@pytest.mark.parametrize("shape", sorted(PAYLOADS))
@cases(900)
@given(data=st.data())
def test_every_normalizer_turns_any_payload_of_its_shape_into_a_transcript_or_a_clear_error(
    shape: str, data: st.DataObject
) -> None:
    payload = data.draw(PAYLOADS[shape][0], label="payload")
    started = time.monotonic()
    transcript = normalize_or_reject(shape, payload)
    event("normalized" if transcript is not None else "rejected")
    if transcript is not None:
        event(f"segments: {min(len(transcript.segments), 5)}{'+' if len(transcript.segments) >= 5 else ''}")
    assert time.monotonic() - started < 5


HUNDRED_THOUSAND = 100_000


def scrambled_span(i: int) -> tuple[float, float]:
    """Segment `i` of 100,000: starts in a scrambled order, every tenth reversed, every tenth zero-length, the rest
    overlapping the next second's segment."""
    start = float((i * 7919) % HUNDRED_THOUSAND)  # 7919 is prime: a permutation of 0..n-1
    if i % 10 == 0:
        return start + 1.5, start
    if i % 10 == 1:
        return start, start
    return start, start + 2.5


def big_payload(shape: str) -> tuple[dict[str, Any], list[str]]:
    """A payload of `shape` with 100,000 segments (or words), and the words it holds."""
    spans = [scrambled_span(i) for i in range(HUNDRED_THOUSAND)]
    if shape == "sync-generate-speaker":
        turns = [{"start": a, "end": b, "speaker": f"SPEAKER_{i % 12:02d}"} for i, (a, b) in enumerate(spans)]
        return {"items": turns}, []
    if shape == "sync-generate-audio":
        segments = [{"text": f" word{i}", "start_time": a, "end_time": b} for i, (a, b) in enumerate(spans)]
        return {"items": segments}, [f"word{i}" for i in range(HUNDRED_THOUSAND)]
    if shape == "speech-to-text-assemblyai":
        words = [
            {"text": f"w{i}.", "start": a * 1000, "end": b * 1000, "confidence": 0.9} for i, (a, b) in enumerate(spans)
        ]
        return {"words": words}, [f"w{i}." for i in range(HUNDRED_THOUSAND)]
    items: list[dict[str, Any]] = []
    for i, (a, b) in enumerate(spans):
        items.append({"text": f"w{i}", "start": a, "end": b, "type": "word", "speaker_id": f"speaker_{i % 3}"})
        items.append({"text": " ", "start": b, "end": b, "type": "spacing"})
    return {"words": items}, [f"w{i}" for i in range(HUNDRED_THOUSAND)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "shape", ["sync-generate-speaker", "sync-generate-audio", "speech-to-text-assemblyai", "speech-to-text-elevenlabs"]
)
def test_a_hundred_thousand_unsorted_overlapping_and_reversed_segments_normalize_and_page_in_bounded_time(
    shape: str,
) -> None:
    payload, words = big_payload(shape)
    started = time.monotonic()
    transcript = normalize_or_reject(shape, payload)
    took = time.monotonic() - started
    assert transcript is not None
    assert took < 60, took
    if shape.startswith("sync-"):
        assert len(transcript.segments) == HUNDRED_THOUSAND
        assert sum("swapped" in w for w in transcript.warnings) == HUNDRED_THOUSAND // 10
    assert sorted(w for s in transcript.segments for w in s.text.split()) == sorted(words)
    started = time.monotonic()
    pages = read_all(transcript, View(), 20000)
    assert time.monotonic() - started < 120
    assert pages[-1].next_cursor is None
    if words:
        assert text_tokens(pages, display_names(transcript, {})) == expected_tokens(transcript, View())
    else:
        assert sum(len(body(p).split("\n")) for p in pages) == HUNDRED_THOUSAND


# --- the pager ----------------------------------------------------------------------------------------------------

VOCABULARY = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "and",
    "then",
    "some",
    "more",
    "words",
    "to",
    "read,",
    "yes?",
    "no!",
    "well...",
    "Ünïcödé",
    "naïve",
    "café",
    "漢字",
    "かな",
    "﷽",
    "עברית",
    "русский",
    "🎙️",
    "a-b_c",
    "x10",
    "3.5",
    "<transcript>",
    "</transcript>",
    "antidisestablishmentarianism",
    "supercalifragilisticexpialidocious",
    "Taumatawhakatangihangakoauauotamateaturipukaka",
    "x" * 3000,
    "é" * 700,
]
SPEAKER_POOL = ["SPEAKER_00", "SPEAKER_01", "speaker_2", "Ana Ruiz", "B"]


@st.composite
def transcripts(draw: st.DrawFn) -> Transcript:
    """A transcript from generated segments (unsorted, overlapping, zero-length), words with or without their own
    times, some speakers or none; or a diarization (turns without words)."""
    diarization = draw(st.integers(min_value=0, max_value=5)) == 0
    speakers = draw(st.lists(st.sampled_from(SPEAKER_POOL), max_size=3, unique=True))
    raw: list[RawSegment] = []
    clock_ = 0.0
    for _ in range(draw(st.integers(min_value=0, max_value=40))):
        clock_ = max(clock_ + draw(st.floats(min_value=-5, max_value=40)), 0)
        length = draw(st.sampled_from([0.0, 0.5, 3.0, 29.0, 31.0, 45.0]))
        speaker = draw(st.sampled_from(speakers)) if speakers else None
        if diarization:
            raw.append(RawSegment(clock_, clock_ + length, speaker or "SPEAKER_00", ""))
            continue
        words = draw(st.lists(st.sampled_from(VOCABULARY), max_size=30))
        timed: list[RawWord] | None = None
        if draw(st.booleans()) and words:
            step = length / len(words)
            timed = [(w, clock_ + k * step, clock_ + (k + 1) * step, None) for k, w in enumerate(words)]
        raw.append(RawSegment(clock_, clock_ + length, speaker, " ".join(words), timed))
    kind = "diarization" if diarization else "transcript"
    return assemble(raw, provider="whisper", endpoint="fuzz", model=None, context=Context(), kind=kind)


def recording_words(page: Page, transcript: Transcript) -> int:
    """How many of the recording's words a page holds (a page may exceed its budget only to hold one)."""
    if page.view.format == "text":
        return len(text_tokens([page], display_names(transcript, {})))
    if page.view.format == "json":
        return sum(len(json.loads(line)["text"].split()) for line in body(page).split("\n") if line)
    return max(page.segments_on_page, 1) if transcript.kind == "diarization" else page.segments_on_page


@pytest.mark.timeout(240)
@cases(1500)
@given(
    transcript=transcripts(),
    budget=st.one_of(st.integers(min_value=500, max_value=1500), st.integers(min_value=500, max_value=20000)),
    data=st.data(),
)
def test_any_budget_pages_to_the_end_with_every_word_once_and_every_page_within_budget(
    transcript: Transcript, budget: int, data: st.DataObject
) -> None:
    labels_ = [s.label for s in transcript.speakers]
    start = data.draw(st.none() | st.floats(min_value=0, max_value=max(transcript.duration, 1)))
    end = data.draw(st.none() | st.floats(min_value=(start or 0) + 0.001, max_value=(start or 0) + 3000))
    chosen = tuple(data.draw(st.lists(st.sampled_from(labels_), unique=True, max_size=2))) if labels_ else ()
    fmt = data.draw(st.sampled_from(FORMATS))
    timestamps = data.draw(st.sampled_from(["auto", "segments", "none"]))
    view = View(format=fmt, start=start, end=end, speakers=chosen, timestamps=timestamps)
    pages = read_all(transcript, view, budget)
    event(f"pages: {min(len(pages), 5)}{'+' if len(pages) >= 5 else ''}")
    for page in pages:
        assert page.estimated_tokens <= budget or recording_words(page, transcript) <= 1, (page.page, page.text)
    if fmt == "text" and transcript.kind == "transcript":
        assert text_tokens(pages, display_names(transcript, {})) == expected_tokens(transcript, view)
    elif fmt == "json" and transcript.kind == "transcript":
        records = [json.loads(line) for page in pages for line in body(page).split("\n") if line]
        assert [w for r in records for w in r["text"].split()] == expected_tokens(transcript, view)
