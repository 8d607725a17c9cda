"""The command line for people (`mavi_mcp.commands`) and the stdio server's terminal hint.

End-to-end tests run the installed `mavi-mcp` script in a subprocess against the sandbox (in process with
`--sandbox`, or over HTTP with a fault), read what it printed and wrote with the formats' own libraries (srt,
webvtt-py), and check the exit codes scripts rely on. Pseudo-terminals (`pty`) stand in for a person's terminal:
progress appears on stderr only when it is one; the server's hint only when stdin is one. The confirmation hook
and the output assembly are also tested in process, through the SDK client and the renderers.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import pytest
import srt
import webvtt
from mcp import Client
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Elicit, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field
from rich.console import Console

from mavi_mcp.commands.confirm import Confirmation, form_answers
from mavi_mcp.commands.hint import TRY, terminal_hint
from mavi_mcp.commands.output import assemble, page_body
from mavi_mcp.commands.progress import Display
from mavi_mcp.commands.session import CommandError, ExitCode, ToolSession
from mavi_mcp.settings import Settings
from tests.conftest import API_KEY, Process, mavi_mcp_command, start_sandbox, stdio_params, write_wav

COSTCO = "re_700000000000000002"
SK_TELECOM = "re_700000000000000001"
AMI_IS1009A = "re_700000000000000013"
VERCEL_CLIP = "re_700000000000000005"
TRANSCRIPT_ID = re.compile(r"Transcript (tr_[0-9a-f]+)")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def transcript_id(self) -> str:
        match = TRANSCRIPT_ID.search(self.stderr)
        assert match, self.stderr
        return match.group(1)


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment without the developer's MAVI_* variables, a store of the test's own, `extra` on top."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MAVI_")}
    return {**env, "MAVI_MCP_DATA_DIR": str(data_dir), **extra}


def cli(data_dir: Path, *args: str, timeout: float = 120, **extra: str) -> Run:
    """`mavi-mcp ARGS` in a subprocess, stdin and stderr not terminals."""
    done = subprocess.run(
        [*mavi_mcp_command(), *args],
        env=cli_env(data_dir, **extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr, stderr
    assert API_KEY not in stderr
    assert API_KEY not in done.stdout.decode()
    return Run(done.returncode, done.stdout.decode(), stderr)


def cli_with_terminal_stderr(data_dir: Path, *args: str, timeout: float = 120) -> Run:
    """`mavi-mcp ARGS` with stderr on a pseudo-terminal (what a person sees), stdout a pipe."""
    leader, follower = pty.openpty()
    popen = subprocess.Popen(
        [*mavi_mcp_command(), *args],
        env={**cli_env(data_dir), "COLUMNS": "120", "TERM": "xterm-256color"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        out, _ = popen.communicate(timeout=timeout)
    finally:
        reader.join(timeout=10)
        os.close(leader)
    return Run(popen.returncode, out.decode(), seen.decode(errors="replace"))


def text_of_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --- transcribe ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_transcribe_prints_the_bundled_call_with_speakers_and_says_which_transcript_it_made(tmp_path: Path) -> None:
    run = cli(tmp_path / "data", "transcribe", COSTCO, "--sandbox", "--speakers", "--end", "0:30")
    assert run.code == 0, run.stderr
    lines = text_of_lines(run.stdout)
    assert lines[0].startswith("[0:02] S0: Good day and thank you for standing by and welcome to the q one Earnings")
    assert lines[1].startswith("[0:26] S1: Uh, thank you, Sadie and good afternoon to everyone.")
    assert len(lines) == 2  # the window: only what starts in the first 30 s
    assert "<transcript>" not in run.stdout  # the agent's framing is gone
    assert "get_transcript(" not in run.stdout
    assert re.search(r"Transcript tr_[0-9a-f]+ \(whisper, 3973 s, 17 speakers, 11,942 words\)", run.stderr)
    assert f"mavi-mcp transcripts {run.transcript_id} --sandbox" in run.stderr


@pytest.mark.e2e
def test_every_format_written_with_out_is_whole_and_parses_with_the_formats_libraries(tmp_path: Path) -> None:
    data = tmp_path / "data"
    budget = {"MAVI_MCP_PAGE_TOKENS": "2000"}  # many pages: the command must follow next_cursor to the end
    files = {fmt: tmp_path / f"call.{fmt}" for fmt in ("json", "srt", "vtt", "rttm", "text")}
    for fmt, path in files.items():
        run = cli(data, "transcribe", SK_TELECOM, "--sandbox", "--speakers", "-f", fmt, "--out", str(path), **budget)
        assert run.code == 0, run.stderr
        assert run.stdout == ""
        assert f"saved to {path}" in run.stderr

    document = json.loads(files["json"].read_text())
    assert document["provider"] == "whisper"
    assert document["asset_id"] == SK_TELECOM
    assert document["counts"] == {"segments": 441, "words": 5363, "speakers": 26}
    joined: dict[int, list[str]] = {}
    for segment in document["segments"]:
        joined.setdefault(segment["i"], []).append(segment["text"])
    assert list(joined) == list(range(441))  # every segment once, in order, across pages
    assert joined[1] == ["Good afternoon. I am Joong-suk Oh, Head of IR Planning at SK Telecom."]

    cues = list(srt.parse(files["srt"].read_text()))
    assert [cue.index for cue in cues] == list(range(1, 442))
    assert cues[1].content == "S1: Good afternoon. I am Joong-suk Oh, Head of IR Planning at SK Telecom."
    assert cues[1].start.total_seconds() == pytest.approx(21.27)

    captions = webvtt.from_buffer(io.StringIO(files["vtt"].read_text()))
    assert len(captions) == 441
    assert captions[1].text == "Good afternoon. I am Joong-suk Oh, Head of IR Planning at SK Telecom."
    assert captions[1].voice == "S1"

    rttm = [line.split() for line in files["rttm"].read_text().splitlines()]
    assert len(rttm) == 441
    assert rttm[1] == ["SPEAKER", SK_TELECOM, "1", "21.270", "4.650", "<NA>", "<NA>", "SPEAKER_01", "<NA>", "<NA>"]

    text = files["text"].read_text()
    assert "[0:21] S1: Good afternoon. I am Joong-suk Oh" in text
    last_words = " ".join(joined[440]).split()[-6:]
    assert text.rstrip().endswith(" ".join(last_words))
    assert "<transcript>" not in text
    assert "more follows" not in text


@pytest.mark.e2e
def test_a_local_file_is_uploaded_first_then_transcribed_by_the_chosen_provider(tmp_path: Path) -> None:
    media = tmp_path / "elsewhere"  # not an allowed dir: the person named the file, so it may be read
    media.mkdir()
    clip = write_wav(media / "clip.wav", seconds=2.0)
    run = cli(tmp_path / "data", "transcribe", str(clip), "--sandbox", "--provider", "elevenlabs")
    assert run.code == 0, run.stderr
    assert re.search(r"Uploaded clip\.wav: asset_id re_\d+", run.stderr)
    assert "[MAVI sandbox] No speech recognition ran" in run.stdout
    assert "'clip.wav' (2.0 s)" in run.stdout
    assert "(elevenlabs, 2 s," in run.stderr


@pytest.mark.e2e
def test_a_url_is_downloaded_and_uploaded_first_and_shown_without_its_secrets(tmp_path: Path) -> None:
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tmp_path / "served"
    served.mkdir()
    write_wav(served / "clip.wav", seconds=3.0)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://user:pw@127.0.0.1:{httpd.server_address[1]}/clip.wav?signature=s3cr3t"
        run = cli(tmp_path / "data", "transcribe", url, "--sandbox", MAVI_MCP_ALLOW_PRIVATE_URLS="1")  # a local server
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert run.code == 0, run.stderr
    assert "'clip.wav' (3.0 s)" in run.stdout
    assert re.search(r"Uploaded http://…@127\.0\.0\.1:\d+/clip\.wav\?…: asset_id re_\d+", run.stderr), run.stderr
    assert "s3cr3t" not in run.stderr + run.stdout
    assert "pw@" not in run.stderr + run.stdout


@pytest.mark.e2e
def test_jobs_that_outlast_the_tools_wait_are_followed_through_their_task_handles(tmp_path: Path) -> None:
    clip = write_wav(tmp_path / "clip.wav", seconds=4.0)
    no_wait = {"MAVI_MCP_WAIT_SECONDS": "0"}  # every upload and transcription answers "pending" at first
    run = cli(tmp_path / "data", "transcribe", str(clip), "--sandbox", **no_wait)
    assert run.code == 0, run.stderr
    assert "'clip.wav' (4.0 s)" in run.stdout
    windowed = cli(tmp_path / "data", "transcribe", COSTCO, "--sandbox", "--speakers", "--end", "0:30", **no_wait)
    assert windowed.code == 0, windowed.stderr
    lines = text_of_lines(windowed.stdout)
    assert [line[:14] for line in lines] == ["[0:02] S0: Goo", "[0:26] S1: Uh,"]


@pytest.mark.e2e
def test_speakers_prints_speaker_turns_as_rttm(tmp_path: Path) -> None:
    run = cli(tmp_path / "data", "speakers", AMI_IS1009A, "--sandbox", "--format", "rttm")
    assert run.code == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines()]
    assert len(rows) > 100
    assert {row[0] for row in rows} == {"SPEAKER"}
    assert {row[1] for row in rows} == {AMI_IS1009A}
    assert len({row[7] for row in rows}) == 4
    assert "(pyannote, 806 s, 4 speakers)" in run.stderr


# --- one store for the command line, the stdio server and agents ----------------------------------


@pytest.mark.e2e
@pytest.mark.anyio
async def test_a_transcript_made_on_the_command_line_is_read_by_an_agent_over_stdio(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run = cli(data, "transcribe", COSTCO, "--sandbox", "--speakers")
    assert run.code == 0, run.stderr
    env = cli_env(data)
    with anyio.fail_after(60):
        async with Client(stdio_params(env, "--sandbox")) as client:
            result = await client.call_tool("get_transcript", {"transcript_id": run.transcript_id, "end": 30})
    assert not result.is_error
    first = result.content[0]
    assert first.type == "text"
    assert "[0:02] S0: Good day and thank you for standing by" in first.text
    assert page_body(first.text).strip() in run.stdout


@pytest.mark.e2e
@pytest.mark.anyio
async def test_a_transcript_made_by_an_agent_is_listed_and_printed_by_the_command_line(tmp_path: Path) -> None:
    from mavi_mcp.server import create_server

    data = tmp_path / "data"
    settings = Settings(sandbox=True, data_dir=data, rate_limit=0, log_level="WARNING")
    with anyio.fail_after(60):
        async with Client(create_server(settings)) as client:
            result = await client.call_tool("transcribe_elevenlabs", {"asset_id": VERCEL_CLIP})
    assert not result.is_error
    transcript_id = (result.structured_content or {})["transcript_id"]

    listed = cli(data, "transcripts", "--sandbox")
    assert listed.code == 0, listed.stderr
    assert listed.stdout.startswith(f"{transcript_id} · elevenlabs")

    out = tmp_path / "clip.vtt"
    printed = cli(data, "transcripts", transcript_id, "--sandbox", "--format", "vtt", "--out", str(out))
    assert printed.code == 0, printed.stderr
    captions = webvtt.read(str(out))
    assert " ".join(c.text for c in captions) == "Hello from the Vercel AI SDK."


# --- progress only on a terminal -------------------------------------------------------------------


@pytest.mark.e2e
def test_progress_is_drawn_on_stderr_when_it_is_a_terminal_and_the_result_still_goes_to_stdout(tmp_path: Path) -> None:
    clip = write_wav(tmp_path / "clip.wav")
    run = cli_with_terminal_stderr(tmp_path / "data", "transcribe", str(clip), "--sandbox")
    assert run.code == 0, run.stderr
    assert "uploading clip.wav" in run.stderr
    assert "transcribe_whisper: re_" in run.stderr
    assert "\x1b[" in run.stderr  # drawn with terminal control sequences
    assert "[MAVI sandbox]" in run.stdout
    assert "\x1b" not in run.stdout
    assert "uploading" not in run.stdout


@pytest.mark.e2e
def test_no_progress_is_drawn_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    clip = write_wav(tmp_path / "clip.wav")
    run = cli(tmp_path / "data", "transcribe", str(clip), "--sandbox")
    assert run.code == 0, run.stderr
    assert "\x1b" not in run.stderr
    assert "uploading clip.wav" not in run.stderr
    assert "transcribe_whisper: re_" not in run.stderr
    assert text_of_lines(run.stderr)[0].startswith("Uploaded clip.wav: asset_id re_")


def test_progress_notifications_replace_the_label_with_the_tools_message() -> None:
    screen = io.StringIO()
    display = Display(Console(file=screen, force_terminal=True, width=120))

    async def notify() -> None:
        with display.task("uploading [draft] talk.mp3") as on_progress:
            await on_progress(5.0, None, "upload_media: uploading (5 s, task job_0123)")
            await on_progress(10.0, None, "upload_media: uploading (10 s, task job_0123)")

    anyio.run(notify)
    assert "uploading [draft] talk.mp3" in screen.getvalue()  # shown as written, not read as rich markup
    assert "upload_media: uploading (10 s, task job_0123)" in screen.getvalue()
    quiet = Display(None)
    with quiet.task("nothing shown") as on_progress:
        anyio.run(on_progress, 1.0, None, "ignored")


def test_the_display_pauses_while_the_person_answers_a_question_and_then_resumes() -> None:
    screen = io.StringIO()
    display = Display(Console(file=screen, force_terminal=True, width=120))

    async def ask_midway() -> None:
        with display.task("transcribe_whisper: re_1") as on_progress:
            await on_progress(5.0, None, "before the question")
            with display.paused() as console:
                assert console is not None
                console.print("Send the request?")
            await on_progress(10.0, None, "after the question")

    anyio.run(ask_midway)
    shown = screen.getvalue()
    assert shown.index("before the question") < shown.index("Send the request?")
    assert shown.index("Send the request?") < shown.index("after the question")


# --- exit codes --------------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["transcribe", COSTCO, "--sandbox", "--format", "pdf"], "invalid choice: 'pdf'"),
        (["transcribe", "no-such-file.mp3", "--sandbox"], "no such file, and not an http(s) URL or a MAVI asset id"),
        (["speakers", "--sandbox"], "the following arguments are required: FILE_OR_URL_OR_ASSET"),
        (["transcribe", str(Path(__file__).parent), "--sandbox"], "is not a file"),
    ],
)
def test_a_bad_argument_exits_2_with_the_reason_and_prints_nothing_on_stdout(
    tmp_path: Path, args: list[str], says: str
) -> None:
    run = cli(tmp_path / "data", *args)
    assert run.code == ExitCode.USAGE == 2
    assert says in run.stderr
    assert run.stdout == ""


@pytest.mark.e2e
def test_a_missing_key_exits_3_and_says_how_to_set_it_or_use_the_sandbox(tmp_path: Path) -> None:
    run = cli(tmp_path / "data", "transcribe", COSTCO)
    assert run.code == ExitCode.CONFIG == 3
    assert "MAVI_API_KEY is not set" in run.stderr
    assert "--sandbox" in run.stderr
    assert run.stdout == ""
    assert not (tmp_path / "data").exists()  # refused before anything was opened


@pytest.mark.e2e
def test_an_api_error_exits_4_with_the_tools_message(tmp_path: Path) -> None:
    sandbox = start_sandbox("--fault", "sync-generate-speaker:status:status=402", "--no-rate-limit")
    try:
        run = cli(tmp_path / "data", "speakers", AMI_IS1009A, MAVI_API_KEY=API_KEY, MAVI_BASE_URL=sandbox.url)
    finally:
        sandbox.process.stop()
    assert run.code == ExitCode.API == 4
    assert "mavi-mcp speakers: identify_speakers failed (task job_" in run.stderr
    assert "HTTP 402" in run.stderr
    assert run.stdout == ""


@pytest.mark.e2e
def test_an_unreachable_api_exits_4(tmp_path: Path) -> None:
    from tests.conftest import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    run = cli(
        tmp_path / "data", "transcribe", COSTCO, MAVI_API_KEY=API_KEY, MAVI_BASE_URL=closed, MAVI_MCP_MAX_ATTEMPTS="1"
    )
    assert run.code == ExitCode.API
    assert "Could not connect to the MAVI API" in run.stderr


@pytest.mark.e2e
def test_search_runs_the_search_tool_or_says_this_version_has_none(tmp_path: Path) -> None:
    from mavi_mcp.server import create_server

    async def tools() -> set[str]:
        async with Client(create_server(Settings(data_dir=tmp_path / "probe"))) as client:
            return {t.name for t in (await client.list_tools()).tools}

    run = cli(tmp_path / "data", "search", "membership fee", "--sandbox")
    if "search_transcripts" in anyio.run(tools):
        assert run.code == ExitCode.OK, run.stderr
    else:
        assert run.code == ExitCode.USAGE
        assert "has no search_transcripts tool" in run.stderr
        assert run.stdout == ""


@pytest.mark.e2e
def test_a_refused_cost_confirmation_exits_5_and_yes_accepts_it(tmp_path: Path) -> None:
    if "confirm_above_usd" not in Settings.model_fields:
        pytest.skip("the tools do not ask for cost confirmations in this version (MAVI_MCP_CONFIRM_ABOVE_USD)")
    clip = write_wav(tmp_path / "clip.wav", seconds=4.0)  # uploaded here, so its duration (the estimate) is known
    ask = {"MAVI_MCP_CONFIRM_ABOVE_USD": "0"}
    refused = cli(tmp_path / "data", "transcribe", str(clip), "--sandbox", **ask)
    assert refused.code == ExitCode.DECLINED == 5, refused.stderr
    assert "declined" in refused.stderr  # the tool's own words: nothing was sent or billed
    assert refused.stdout == ""
    accepted = cli(tmp_path / "data", "transcribe", str(clip), "--sandbox", "--yes", **ask)
    assert accepted.code == ExitCode.OK, accepted.stderr
    assert "'clip.wav' (4.0 s)" in accepted.stdout


# --- the confirmation hook, through the SDK client --------------------------------------------------


class CostConfirmation(BaseModel):
    confirm: bool = Field(description="Spend the estimated amount.")
    note: str = Field(default="", description="Optional.")


def ask_to_pay() -> Elicit[CostConfirmation]:
    return Elicit("This costs about $3.97 (Whisper, 66 min).", CostConfirmation)


def paying_server() -> MCPServer:
    """A server with one tool that asks, as the paid tools will, before it spends (an SDK resolver: a standalone
    elicitation request on protocols up to 2025-11-25, an input-required round from 2026-07-28)."""
    server = MCPServer("pay")

    @server.tool()
    async def pay(answer: Annotated[ElicitationResult[CostConfirmation], Resolve(ask_to_pay)]) -> str:
        if not isinstance(answer, AcceptedElicitation) or not answer.data.confirm:
            raise ToolError("Not confirmed: nothing was sent or billed.")
        return "paid"

    return server


async def call_pay(confirmation: Confirmation) -> str:
    """The `pay` tool's text through `ToolSession.call`; its `CommandError` re-raised outside the client's task
    groups (as `commands.run` does)."""
    failure: CommandError | None = None
    with anyio.fail_after(30):
        async with Client(paying_server(), elicitation_callback=confirmation) as client:
            session = ToolSession(client, Display(None), confirmation)
            try:
                result = await session.call("pay", {}, label="paying")
            except CommandError as exc:
                failure = exc
    if failure is not None:
        raise failure
    first = result.content[0]
    assert first.type == "text"
    return first.text


@pytest.mark.anyio
async def test_yes_accepts_a_cost_confirmation_without_asking() -> None:
    asked: list[str] = []
    confirmation = Confirmation(assume_yes=True, ask=lambda message: asked.append(message) or False)
    assert await call_pay(confirmation) == "paid"
    assert asked == []
    assert confirmation.refused is None


@pytest.mark.anyio
async def test_the_person_at_the_terminal_is_asked_with_the_tools_message() -> None:
    asked: list[str] = []
    confirmation = Confirmation(assume_yes=False, ask=lambda message: asked.append(message) or True)
    assert await call_pay(confirmation) == "paid"
    assert asked == ["This costs about $3.97 (Whisper, 66 min)."]


@pytest.mark.anyio
@pytest.mark.parametrize("interactive", [False, True])
async def test_a_refused_confirmation_is_the_declined_exit_code(interactive: bool) -> None:
    confirmation = Confirmation(assume_yes=False, ask=(lambda message: False) if interactive else None)
    with pytest.raises(CommandError) as raised:
        await call_pay(confirmation)
    assert raised.value.code == ExitCode.DECLINED
    assert "Not confirmed" in str(raised.value)
    assert "Error executing tool" not in str(raised.value)
    assert confirmation.refused == "This costs about $3.97 (Whisper, 66 min)."


def test_form_answers_say_yes_and_keep_defaults_but_not_invent_required_text() -> None:
    schema = CostConfirmation.model_json_schema()
    assert form_answers(schema) == {"confirm": True, "note": ""}
    assert form_answers({"properties": {"reason": {"type": "string"}}, "required": ["reason"]}) is None
    assert form_answers({"properties": {"plan": {"type": "string", "enum": ["a", "b"]}}}) == {"plan": "a"}


# --- pages -> one document ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_pages_of_every_format_assemble_into_the_document_one_big_page_gives(tmp_path: Path) -> None:
    from mavi_mcp.server import create_server

    settings = Settings(sandbox=True, data_dir=tmp_path / "data", rate_limit=0, log_level="WARNING")

    async def read(client: Client, transcript_id: str, fmt: str, budget: int) -> list[tuple[str, dict[str, Any]]]:
        pages: list[tuple[str, dict[str, Any]]] = []
        arguments: dict[str, Any] = {"transcript_id": transcript_id, "format": fmt, "max_tokens": budget}
        while len(pages) < 1000:
            result = await client.call_tool("get_transcript", arguments)
            assert not result.is_error
            first = result.content[0]
            assert first.type == "text"
            data = result.structured_content or {}
            pages.append((first.text, data))
            if not data.get("next_cursor"):
                return pages
            arguments = {"transcript_id": transcript_id, "cursor": data["next_cursor"], "max_tokens": budget}
        raise AssertionError("runaway paging")

    with anyio.fail_after(120):
        async with Client(create_server(settings)) as client:
            made = await client.call_tool("transcribe_whisper", {"asset_id": SK_TELECOM, "speaker": True})
            transcript_id = (made.structured_content or {})["transcript_id"]
            for fmt in ("text", "srt", "vtt", "rttm", "json"):
                small = await read(client, transcript_id, fmt, 3000)  # the budget counts both parts of a result
                large = await read(client, transcript_id, fmt, 20000)
                assert len(small) > 5 > len(large), fmt
                if fmt == "json":  # a segment cut across pages comes as parts: the same words, in order
                    joined = json.loads(assemble(fmt, small))
                    whole = json.loads(assemble(fmt, large))
                    assert (
                        " ".join(s["text"] for s in joined["segments"]).split()
                        == " ".join(s["text"] for s in whole["segments"]).split()
                    )
                    assert {k: v for k, v in joined.items() if k != "segments"} == {
                        k: v for k, v in whole.items() if k != "segments"
                    }
                elif fmt == "text":  # a turn cut across pages goes on under its own stamp: the same words, in order
                    stamp = re.compile(r"^\[[\d:]+\] [^:]+: |\[[\d:]+\] ", re.MULTILINE)
                    assert stamp.sub(" ", assemble(fmt, small)).split() == stamp.sub(" ", assemble(fmt, large)).split()
                else:
                    assert assemble(fmt, small) == assemble(fmt, large), fmt


def test_the_body_is_what_lies_between_the_markers_even_when_the_words_spell_one() -> None:
    page = "Transcript tr_1\n<transcript>\n[0:01] S0: he said </transcript\u200b> twice\n</transcript>\nEnd."
    assert page_body(page) == "[0:01] S0: he said </transcript\u200b> twice"
    assert page_body("Summary: no markers at all") == "Summary: no markers at all"


# --- the stdio server explains itself to a person ---------------------------------------------------------


def test_the_hint_says_what_it_is_how_to_add_it_and_what_to_try() -> None:
    hint = terminal_hint(Settings(), command="/opt/venv/bin/mavi-mcp")
    assert "waiting for an MCP client" in hint
    assert '"mavi": {"command": "/opt/venv/bin/mavi-mcp", "args": [], "env": {"MAVI_API_KEY": "sk-mavi-..."}}' in hint
    assert "claude mcp add mavi -e MAVI_API_KEY=sk-mavi-... -- /opt/venv/bin/mavi-mcp" in hint
    assert TRY in hint
    sandbox = terminal_hint(Settings(sandbox=True), command="mavi-mcp")
    assert '"args": ["--sandbox"]' in sandbox
    assert "MAVI_API_KEY" not in sandbox
    assert len(hint.splitlines()) == 4


@pytest.mark.e2e
def test_the_stdio_server_started_from_a_terminal_prints_the_hint_on_stderr_and_nothing_on_stdout(
    tmp_path: Path,
) -> None:
    leader, follower = pty.openpty()
    popen = subprocess.Popen(
        [*mavi_mcp_command(), "--sandbox"],
        env=cli_env(tmp_path / "data"),
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    process = Process(popen)
    try:
        process.wait_for(r"mavi-mcp is an MCP server against the built-in MAVI simulator.*waiting for an MCP client")
        process.wait_for(r"Claude Code: claude mcp add mavi -- \S*mavi-mcp --sandbox")
        process.wait_for(re.escape(f"Try it by hand: {TRY}"))
    finally:
        process.stop()
        os.close(leader)
    assert popen.stdout is not None
    with popen.stdout:
        assert popen.stdout.read() == b""


@pytest.mark.e2e
def test_the_stdio_server_started_by_a_client_prints_no_hint(tmp_path: Path) -> None:
    done = subprocess.run(
        [*mavi_mcp_command(), "--sandbox"],
        env=cli_env(tmp_path / "data"),
        stdin=subprocess.DEVNULL,  # not a terminal; end of input: the server stops at once
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert "waiting for an MCP client" not in done.stderr.decode()
    assert done.stdout == b""
