"""Start-up and per-call overhead of mavi-mcp, against the same MCP SDK and the same sandbox, in one run.

Run: `python benchmarks/perf_bench.py` (`--runs N` for more repetitions, `--markdown` for the README table).
Prints figures; it asserts nothing (timings are not unit tests). Every figure is a median of the same run.

1. Cold start: spawn -> `initialize` -> `tools/list` answered (raw JSON-RPC lines on the pipes, the handshake
   Claude Desktop uses), for the installed `mavi-mcp` console script (real-API mode with a key set and an existing
   store: what a client spawns) and `mavi-mcp --sandbox`, against a one-tool `MCPServer` script on the same SDK
   and interpreter (`--baseline DIR`: also another version's source tree, for an A/B of a change). Every tree's
   `.pyc` files are written first, as an installed wheel has them (`compiled_packages`). Runs alternate, after one
   warm-up each. Wall time to the answer, and the CPU time of the process until that answer (/proc) and until its
   exit on stdin EOF. The "vs" of the first two is the median of the per-round ratios to the one-tool server (each
   round starts every server once, one after the other). Goal: at most 1.10x.
2. Per-call overhead over stdio, for each of `CASES` (a 260-turn diarization, a 6-word transcript): the tool
   call through mavi-mcp (validate, job, API call, normalize, store, render the first page) vs the same request
   POSTed straight to the same sandbox with `response.json()`; interleaved, the vendor rate limit off on both
   sides (sandbox `--no-rate-limit`, `MAVI_MCP_RATE_LIMIT=0`). Also calls that reach no API: `get_transcript` of
   the stored transcript, `list_tasks(limit=1)`, and a one-tool MCPServer's `echo` (the SDK's own round trip).
   Goal: the tool call at most 5 ms above the direct call.
3. Concurrency over streamable HTTP: 100 calls at once in one MCP session, the sandbox answering after 200 ms
   (`--latency 0.2 --no-rate-limit`), `MAVI_MCP_RATE_LIMIT=0`, for each of `CASES`; the wall time until all 100
   are answered, and the server's CPU time per call (/proc). The same burst against a one-tool MCPServer whose
   tool just sleeps 200 ms shows what the SDK itself costs (the floor); the servers take turns round by round.
   Goal (issue 10): mavi-mcp's burst at most 2.5x the floor's burst of the same run (the median of the per-round
   ratios: each round bursts every server once, one after the other).

`--baseline DIR` also measures another source tree's `mavi_mcp` (e.g. `git archive <commit> | tar -x -C DIR`), run
as `python -P -m mavi_mcp` with `PYTHONPATH=DIR` and this interpreter's dependencies, in turns with this one (parts 2
and 3; its rows are marked [baseline]; part 1 alternates it in the cold-start rounds): before/after figures of one
run.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import platform
import queue
import re
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult
from mcp_types.version import LATEST_HANDSHAKE_VERSION

API_KEY = "sk-mavi-bench-0123456789"
CLIENT = {"name": "perf_bench", "version": "1"}
ONE_TOOL_HTTP_SERVER = textwrap.dedent(
    '''\
    import sys

    import anyio
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("one-tool")


    @server.tool()
    async def wait(seconds: float) -> str:
        """Sleep, then answer."""
        await anyio.sleep(seconds)
        return "done"


    app = server.streamable_http_app(host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    '''
)
ONE_TOOL_SERVER = textwrap.dedent(
    '''\
    import anyio
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("one-tool")


    @server.tool()
    def echo(text: str) -> str:
        """Return the text."""
        return text


    anyio.run(server.run_stdio_async)
    '''
)


def mavi_mcp_command() -> list[str]:
    """The `mavi-mcp` console script next to this interpreter, else on PATH, else `python -m mavi_mcp`."""
    script = Path(sys.executable).parent / "mavi-mcp"
    if script.exists():
        return [str(script)]
    found = shutil.which("mavi-mcp")
    return [found] if found else [sys.executable, "-m", "mavi_mcp"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def paired_ratio(mine: list[float], theirs: list[float]) -> float:
    """The median of round-by-round ratios `mine[i] / theirs[i]` (two servers measured one after the other in each
    round, so the machine's drift cancels)."""
    return median([a / b for a, b in zip(mine, theirs, strict=True)])


# --- processes ------------------------------------------------------------------------------------------------


class Child:
    """A child process whose stderr is drained by a thread, so it never blocks on a full pipe."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.popen.stderr is not None
        for raw in self.popen.stderr:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if match := re.search(pattern, line):
                return match
        raise RuntimeError(f"no line matching {pattern!r} within {timeout}s")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@contextmanager
def sandbox(*flags: str) -> Iterator[str]:
    """`python -m mavi_mcp.sandbox` on a free loopback port; yields its base URL."""
    child = Child([sys.executable, "-m", "mavi_mcp.sandbox", "--port", "0", *flags], dict(os.environ))
    try:
        yield child.wait_for(r"MAVI sandbox listening on (http://\S+)").group(1)
    finally:
        child.stop()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a running process has used so far, from /proc (Linux); 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "MAVI_API_KEY": API_KEY,
        "MAVI_MCP_DATA_DIR": str(data_dir),
        "MAVI_MCP_ALLOWED_DIRS": str(data_dir),
        "MAVI_MCP_LOG_LEVEL": "WARNING",
        **extra,
    }


def ok(result: CallToolResult) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"tool call failed: {result.content}")
    return result.structured_content


# --- 1. cold start --------------------------------------------------------------------------------------------


def rpc(method: str, id_: int | None = None, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        message["id"] = id_
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode() + b"\n"


def cpu_seconds_now(pid: int) -> float:
    """CPU time a running process has used so far, to the nanosecond: the sum over its threads of
    /proc/<pid>/task/<tid>/schedstat (Linux with schedstats); `cpu_seconds` (10 ms ticks) where that is missing."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError):  # a thread that ended meanwhile
                total += int((task / "schedstat").read_text().split()[0])
    except OSError:
        return cpu_seconds(pid)
    return total / 1e9 if total else cpu_seconds(pid)


def spawn_to_tools_list(command: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """Spawn a stdio server, `initialize` (the handshake clients such as Claude Desktop use), `tools/list`.

    Returns (wall seconds from spawn to the tools/list answer, CPU seconds of the server process until that answer
    (`cpu_seconds_now`; 0 off Linux), CPU seconds over its whole life including its exit on stdin EOF, number of
    tools). Raw JSON-RPC lines, so no client library's start-up or scheduling is counted.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    watchdog = threading.Timer(60, child.kill)
    watchdog.start()
    try:
        assert child.stdin is not None
        assert child.stdout is not None

        def answer(id_: int) -> dict[str, Any]:
            assert child.stdout is not None
            for line in child.stdout:
                message = json.loads(line)
                if message.get("id") == id_:
                    if "error" in message:
                        raise RuntimeError(f"server answered {message['error']}")
                    return message["result"]
            raise RuntimeError("the server closed stdout")

        init = {"protocolVersion": LATEST_HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": CLIENT}
        child.stdin.write(rpc("initialize", 1, init))
        child.stdin.flush()
        answer(1)
        child.stdin.write(rpc("notifications/initialized") + rpc("tools/list", 2))
        child.stdin.flush()
        tools = len(answer(2)["tools"])
        elapsed = time.perf_counter() - started
        answered_cpu = cpu_seconds_now(child.pid)
        child.stdin.close()
        child.wait(timeout=30)
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, answered_cpu, cpu, tools


# `--breakdown`: where mavi-mcp's start-up goes, by elimination (benchmark-only patches, nothing shipped).
WITH_MAVI_IMPORTS = "import mavi_mcp.cli, mavi_mcp.server, mavi_mcp.runtime\n" + ONE_TOOL_SERVER
WITHOUT_RUNTIME = textwrap.dedent(
    """\
    import contextlib
    import mavi_mcp.runtime

    @contextlib.asynccontextmanager
    async def use(self):
        yield None  # the lifespan hands out no runtime: nothing opened before the first answer

    mavi_mcp.runtime.RuntimeHolder.use = use
    from mavi_mcp.cli import main
    main()
    """
)


REGISTRATION = textwrap.dedent(
    """\
    import json, time
    from mcp.server.mcpserver import MCPServer
    from mavi_mcp.schemas import add_lean_tool
    from mavi_mcp.server import _TOOLS, _TRANSCRIPT_TOOLS, TRANSCRIPT_FIELDS

    server = MCPServer("timing")
    spent = {}
    for fn, title, hints in _TOOLS:  # as create_server registers them
        fields = TRANSCRIPT_FIELDS if fn.__name__ in _TRANSCRIPT_TOOLS else None
        started = time.perf_counter()
        add_lean_tool(server, fn, title=title, annotations=hints, output_fields=fields)
        spent[fn.__name__] = time.perf_counter() - started
    print(json.dumps(spent))
    """
)


def registration(runs: int) -> dict[str, float]:
    """Median seconds `create_server` takes to register each mavi-mcp tool in a fresh interpreter (argument model,
    lean schemas; an output model's schema is built for the first tool that returns it)."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", REGISTRATION], capture_output=True, text=True, timeout=60)
        for name, seconds in json.loads(done.stdout).items():
            samples.setdefault(name, []).append(seconds)
    return {name: median(values) for name, values in samples.items()}


def compiled_packages(baseline: Path | None) -> list[Path]:
    """Write the `.pyc` files of the `mavi_mcp` package this interpreter imports, and of the `baseline` tree's, as
    `pip install` does for a wheel; returns the package folders.

    A warm-up start does not write them when `PYTHONDONTWRITEBYTECODE` is set (as on some CI and sandbox machines),
    and then every cold start compiles each module without one: up to ~150 ms that no installed package pays, and
    unequal between two trees (an edited module's `.pyc` is stale).
    """
    spec = importlib.util.find_spec("mavi_mcp")
    if spec is None or spec.origin is None:
        raise RuntimeError("mavi_mcp is not importable by this interpreter")
    packages = [Path(spec.origin).parent]
    if baseline is not None:
        packages.append(baseline / "mavi_mcp")
    for package in packages:
        compileall.compile_dir(package, quiet=1)
    return packages


@dataclass(frozen=True)
class Start:
    """One server's cold starts: medians of wall seconds spawn -> tools/list, of the process's CPU seconds until that
    answer and over its whole life; its tool count; and the medians of the per-round ratios of the first two to the
    one-tool server's of the same round (the pairs started one after the other, so the machine's drift cancels)."""

    wall: float
    to_answer: float
    cpu: float
    tools: int
    wall_ratio: float
    answer_ratio: float


def cold_start(runs: int, work: Path, *, breakdown: bool, baseline: Path | None = None) -> dict[str, Start]:
    """Per server: its `Start` figures (the first contender, the one-tool MCPServer, is the reference).

    `baseline`: a source tree of another mavi-mcp version (e.g. `git archive <commit> | tar -x -C DIR`), started
    with DIR first on PYTHONPATH in the same alternated rounds, so a change is measured A/B in one run.
    """
    script = work / "one_tool_server.py"
    script.write_text(ONE_TOOL_SERVER)
    command = mavi_mcp_command()
    env = {**os.environ, **server_env(work / "cold-data")}
    contenders: dict[str, tuple[list[str], dict[str, str]]] = {
        "one-tool MCPServer": ([sys.executable, str(script)], env),
        "mavi-mcp": (command, env),
        "mavi-mcp --sandbox": ([*command, "--sandbox"], env),
    }
    if baseline is not None:
        old = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(baseline), env.get("PYTHONPATH")]))}
        contenders["mavi-mcp, baseline tree"] = (command, old)  # the same script imports the baseline's code
        contenders["mavi-mcp --sandbox, baseline tree"] = ([*command, "--sandbox"], old)
    if breakdown:
        contenders["one-tool MCPServer after importing mavi-mcp's modules"] = (
            [sys.executable, "-c", WITH_MAVI_IMPORTS],
            env,
        )
        contenders["mavi-mcp with the runtime not opened (patched)"] = ([sys.executable, "-c", WITHOUT_RUNTIME], env)
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    answered: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    counts: dict[str, int] = {}
    for package in compiled_packages(baseline):
        print(f"compiled {package}", file=sys.stderr)
    for argv, argv_env in contenders.values():  # warm-up: page cache, the store's first creation
        spawn_to_tools_list(argv, argv_env)
    for _ in range(runs):
        for name, (argv, argv_env) in contenders.items():
            wall, to_answer, cpu, counts[name] = spawn_to_tools_list(argv, argv_env)
            walls[name].append(wall)
            answered[name].append(to_answer)
            cpus[name].append(cpu)
    reference = next(iter(contenders))
    return {
        name: Start(
            median(walls[name]),
            median(answered[name]),
            median(cpus[name]),
            counts[name],
            paired_ratio(walls[name], walls[reference]),
            paired_ratio(answered[name], answered[reference]),
        )
        for name in contenders
    }


# --- 2. per-call overhead over stdio ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One tool call and the same request sent straight to the sandbox."""

    label: str
    tool: str
    args: dict[str, Any]
    path: str
    body: dict[str, Any]


CASES = (
    Case(
        "identify_speakers, AMI ES2004a (260 turns)",
        "identify_speakers",
        {"asset_id": "re_700000000000000012", "mode": "sync", "refresh": True},  # paid every time, never reused
        "/transcriptions/sync-generate-speaker",
        {"asset_id": "re_700000000000000012"},
    ),
    Case(
        "transcribe_elevenlabs, 2.5 s clip (6 words)",
        "transcribe_elevenlabs",
        {"asset_id": "re_700000000000000005", "refresh": True},
        "/transcriptions/speech-to-text",
        {"asset_id": "re_700000000000000005", "provider": "elevenlabs"},
    ),
)


async def interleaved(runs: int, *calls: Callable[[], Awaitable[object]]) -> list[float]:
    """Median seconds of each call, the calls taking turns so drift affects them alike."""
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(runs):
        for index, call in enumerate(calls):
            started = time.perf_counter()
            await call()
            samples[index].append(time.perf_counter() - started)
    return [median(values) for values in samples]


async def per_call(runs: int, work: Path, baseline: Path | None = None) -> dict[str, tuple[float, float]]:
    """Per case: (median tool call, median direct call); and the two calls that reach no API. With `baseline`,
    the same tool calls through that tree's mavi-mcp too (labels marked `BASELINE`), in turns with the others."""
    figures: dict[str, tuple[float, float]] = {}
    with sandbox("--no-rate-limit") as url:
        env = server_env(work / "call-data", MAVI_BASE_URL=url, MAVI_MCP_RATE_LIMIT="0")
        command = mavi_mcp_command()
        params = StdioServerParameters(command=command[0], args=command[1:], env=env)
        script = work / "one_tool_server.py"
        script.write_text(ONE_TOOL_SERVER)
        floor = StdioServerParameters(command=sys.executable, args=[str(script)], env=env)
        with anyio.fail_after(60 + 3 * runs * len(CASES)):
            async with (
                Client(params) as client,
                Client(floor) as one_tool,
                httpx2.AsyncClient(base_url=url, timeout=30) as http,
                AsyncExitStack() as stack,
            ):
                old: Client | None = None
                if baseline is not None:
                    argv, extra = baseline_command(baseline)
                    old_env = {**server_env(work / "call-data-baseline", MAVI_BASE_URL=url, MAVI_MCP_RATE_LIMIT="0")}
                    old_params = StdioServerParameters(command=argv[0], args=argv[1:], env={**old_env, **extra})
                    old = await stack.enter_async_context(Client(old_params))
                transcript_id = ""
                for case in CASES:

                    async def tool(case: Case = case) -> None:
                        nonlocal transcript_id
                        transcript_id = ok(await client.call_tool(case.tool, case.args))["transcript_id"]

                    async def old_tool(case: Case = case) -> None:
                        assert old is not None
                        ok(await old.call_tool(case.tool, case.args))

                    async def direct(case: Case = case) -> None:
                        response = await http.post(case.path, json=case.body, headers={"Authorization": API_KEY})
                        if response.status_code != 200 or response.json().get("success") is not True:
                            raise RuntimeError(f"sandbox refused the direct call: {response.text[:200]}")

                    contenders = [tool, direct] + ([old_tool] if old is not None else [])
                    for _ in range(3):  # warm-up: connections, caches
                        for call in contenders:
                            await call()
                    medians = await interleaved(runs, *contenders)
                    figures[case.label] = (medians[0], medians[1])
                    if old is not None:
                        figures[case.label + BASELINE] = (medians[2], medians[1])

                async def read() -> None:
                    ok(await client.call_tool("get_transcript", {"transcript_id": transcript_id}))

                async def listing() -> None:
                    ok(await client.call_tool("list_tasks", {"limit": 1}))

                async def echo() -> None:
                    result = await one_tool.call_tool("echo", {"text": "hello"})
                    if result.is_error:
                        raise RuntimeError(f"echo failed: {result.content}")

                read_s, list_s, echo_s = await interleaved(runs, read, listing, echo)
                figures["get_transcript of that stored transcript (no API call)"] = (read_s, 0.0)
                figures["list_tasks(limit=1) (no API call)"] = (list_s, 0.0)
                figures["one-tool MCPServer echo (SDK floor)"] = (echo_s, 0.0)
    return figures


# --- 3. concurrency over streamable HTTP -----------------------------------------------------------------------


@dataclass
class Contender:
    """One HTTP MCP server in the burst test: how to start it, and the (label, tool, arguments) it is called with."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    calls: list[tuple[str, str, dict[str, Any]]]


async def _started(child: Child, port: int) -> None:
    endpoint = f"http://127.0.0.1:{port}/mcp"
    with anyio.fail_after(30):
        while True:
            if child.popen.poll() is not None:
                raise RuntimeError(f"server on port {port} exited with {child.popen.returncode}")
            try:
                async with httpx2.AsyncClient() as probe:
                    await probe.get(endpoint, timeout=1)
                return
            except httpx2.TransportError:
                await anyio.sleep(0.05)


Burst = tuple[float, float, float, list[float]]
"""One label's burst figures: median seconds of one call alone, median wall seconds of the bursts, median server
CPU seconds per call in them, and every round's burst wall seconds (for ratios paired round by round)."""


async def burst(contenders: list[Contender], rounds: int, n: int) -> dict[str, Burst]:
    """Start every contender's HTTP MCP server; per (label, tool, arguments) of each: its `Burst` figures for `n`
    calls at once in one session. The contenders take turns round by round (A/B/A/B, the order rotated each round),
    so the machine's drift affects them alike."""
    children: dict[str, Child] = {}
    walls: dict[str, list[float]] = {}
    singles: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    try:
        for contender in contenders:
            children[contender.name] = Child(contender.argv, contender.env)
        for contender in contenders:
            await _started(children[contender.name], contender.port)
        with anyio.fail_after(60 + 30 * rounds * sum(len(c.calls) for c in contenders)):
            async with AsyncExitStack() as stack:
                clients: dict[str, Client] = {}
                for contender in contenders:
                    url = f"http://127.0.0.1:{contender.port}/mcp"
                    clients[contender.name] = await stack.enter_async_context(Client(url))
                    for label, tool, arguments in contender.calls:
                        for _ in range(3):
                            ok(await clients[contender.name].call_tool(tool, arguments))
                        walls[label], singles[label], cpus[label] = [], [], []
                for round_no in range(rounds):
                    shift = round_no % len(contenders)  # each takes every place in the order in turn
                    for contender in contenders[shift:] + contenders[:shift]:
                        client = clients[contender.name]
                        pid = children[contender.name].popen.pid
                        for label, tool, arguments in contender.calls:
                            started = time.perf_counter()
                            ok(await client.call_tool(tool, arguments))
                            singles[label].append(time.perf_counter() - started)
                            failures: list[str] = []

                            async def one(
                                client: Client = client, tool: str = tool, arguments: dict[str, Any] = arguments
                            ) -> None:
                                result = await client.call_tool(tool, arguments)
                                if result.is_error:
                                    failures.append(str(result.content))  # noqa: B023 - checked in this round

                            cpu_before = cpu_seconds(pid)
                            started = time.perf_counter()
                            async with anyio.create_task_group() as group:
                                for _ in range(n):
                                    group.start_soon(one)
                            walls[label].append(time.perf_counter() - started)
                            cpus[label].append((cpu_seconds(pid) - cpu_before) / n)
                            if failures:
                                raise RuntimeError(f"{len(failures)} of {n} calls failed: {failures[0]}")
    finally:
        for child in children.values():
            child.stop()
    for label in walls:  # every round's figure, to judge the spread of the medians
        print(
            f"server CPU per call, ms, round by round: {label}: {[round(c * 1000, 1) for c in cpus[label]]}",
            file=sys.stderr,
        )
    return {label: (median(singles[label]), median(walls[label]), median(cpus[label]), walls[label]) for label in walls}


def floor_label(latency: float) -> str:
    return f"one-tool MCPServer, async tool sleeping {latency * 1000:.0f} ms (SDK floor)"


BASELINE = " [baseline]"
"""Suffix of the labels of the `--baseline` tree's figures."""


def baseline_command(tree: Path) -> tuple[list[str], dict[str, str]]:
    """`python -m mavi_mcp` running the `mavi_mcp` package of another source tree (`--baseline`, e.g. a
    `git archive` of an older commit), with this interpreter and its installed dependencies."""
    # -P: not the working directory first on sys.path (run from a checkout, it would import that checkout's code)
    return [sys.executable, "-P", "-m", "mavi_mcp"], {"PYTHONPATH": str(tree)}


def seed_ledger(data_dir: Path, rows: int, *, baseline: bool) -> None:
    """A store in `data_dir` that has already served `rows` paid calls (billed ledger rows, their completed tasks):
    what a store looks like after months of use. Created with this tree's schema; for a `--baseline` tree, without
    the indexes this tree added to the ledger since (`ledger_pending`), which that tree would not have."""
    from mavi_mcp.store import Store  # only with --ledger-rows

    Store.in_dir(data_dir).close()
    db = sqlite3.connect(data_dir / "mavi-mcp.sqlite3", isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        for n in range(rows):
            task_id = f"job_{n:016x}"
            db.execute(
                "INSERT INTO ledger (task_id, tool, request_key, status, estimated_usd, billed_seconds, cost_usd,"
                " created_at, settled_at) VALUES (?, 'transcribe_whisper_speaker', ?, 'billed', 0.01, 60, 0.01,"
                " '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:01+00:00')",
                (task_id, f"seed-{n}"),
            )
            db.execute(
                "INSERT INTO tasks (task_id, mode, endpoint, status, created_at, updated_at, completed_at)"
                " VALUES (?, 'sync', 'sync-generate-speaker', 'completed', '2026-01-01T00:00:00+00:00',"
                " '2026-01-01T00:00:01+00:00', '2026-01-01T00:00:01+00:00')",
                (task_id,),
            )
        if baseline:
            db.execute("DROP INDEX IF EXISTS ledger_pending")
        db.execute("COMMIT")
    finally:
        db.close()


async def concurrent(
    rounds: int, n: int, latency: float, work: Path, baseline: Path | None = None, ledger_rows: int = 0
) -> dict[str, Burst]:
    """`burst` for mavi-mcp on each of `CASES` (and for the `baseline` tree's, when given), and for a one-tool
    MCPServer whose tool sleeps `latency` (the SDK's own cost of `n` concurrent calls over streamable HTTP, with no
    API call and no work), taking turns round by round. `ledger_rows`: each mavi-mcp store starts with that many
    paid calls already in it (`seed_ledger`)."""
    script = work / "one_tool_http_server.py"
    script.write_text(ONE_TOOL_HTTP_SERVER)
    port = free_port()
    floor = Contender(
        "floor",
        [sys.executable, str(script), str(port)],
        dict(os.environ),
        port,
        [(floor_label(latency), "wait", {"seconds": latency})],
    )
    with sandbox("--latency", str(latency), "--no-rate-limit") as url:
        contenders = [floor]
        trees: list[tuple[str, list[str], dict[str, str]]] = [("", mavi_mcp_command(), {})]
        if baseline is not None:
            trees.append((BASELINE, *baseline_command(baseline)))
        for suffix, command, extra in trees:
            port = free_port()
            data = work / f"http-data{len(contenders)}"
            if ledger_rows:
                data.mkdir(parents=True, exist_ok=True)
                seed_ledger(data, ledger_rows, baseline=bool(suffix))
            env = {**os.environ, **server_env(data, MAVI_BASE_URL=url, MAVI_MCP_RATE_LIMIT="0"), **extra}
            argv = [*command, "--transport", "streamable-http", "--port", str(port)]
            cases = [(case.label + suffix, case.tool, case.args) for case in CASES]
            contenders.append(Contender(f"mavi-mcp{suffix}", argv, env, port, cases))
        return await burst(contenders, rounds, n)


# --- report ---------------------------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="mavi-perf-"))
    try:
        parts = set(args.only or ("start", "calls", "burst"))
        starts = (
            cold_start(args.runs, work, breakdown=args.breakdown, baseline=args.baseline) if "start" in parts else {}
        )
        calls = await per_call(args.calls, work, args.baseline) if "calls" in parts else {}
        many = (
            await concurrent(args.runs, args.concurrency, args.latency, work, args.baseline, args.ledger_rows)
            if "burst" in parts
            else {}
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base_cpu = starts["one-tool MCPServer"].cpu if "one-tool MCPServer" in starts else 1.0
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.system()}; "
        f"mavi-mcp: {' '.join(mavi_mcp_command())}; "
        f"medians of {args.runs} cold starts, {args.calls} calls, {args.runs} concurrency rounds; "
        f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
        file=sys.stderr,
    )
    rows: list[tuple[str, str, str, str]] = []
    for name, start in starts.items():
        rows.append(
            (
                f"spawn -> tools/list: {name} ({start.tools} tools)",
                f"{ms(start.wall)} ms",
                f"{start.wall_ratio:.2f}x",
                "1.10x",
            )
        )
        rows.append(
            (
                f"CPU of that process until the answer: {name}",
                f"{ms(start.to_answer)} ms",
                f"{start.answer_ratio:.2f}x",
                "",
            )
        )
        cpu = start.cpu
        rows.append((f"CPU of that process (start to exit): {name}", f"{ms(cpu)} ms", f"{cpu / base_cpu:.2f}x", ""))
    for label, (tool_s, direct_s) in calls.items():
        if direct_s:
            rows.append((f"stdio call: {label}", f"{ms(tool_s)} ms", f"+{ms(tool_s - direct_s)} ms", "+5 ms"))
            rows.append(("direct POST of the same request to the sandbox", f"{ms(direct_s)} ms", "", ""))
        else:
            rows.append((f"stdio call: {label}", f"{ms(tool_s)} ms", "", ""))
    floor = many.get(floor_label(args.latency))
    for label, (single, wall, cpu, rounds) in many.items():
        is_floor = label == floor_label(args.latency)
        paired = paired_ratio(rounds, floor[3]) if floor else 0.0
        rows.append((f"streamable HTTP, 1 call alone: {label}", f"{ms(single)} ms", "", ""))
        cpu_vs = f"{cpu / floor[2]:.1f}x floor" if floor and not is_floor and floor[2] else ""
        rows.append((f"server CPU per call in the burst below: {label}", f"{ms(cpu)} ms", cpu_vs, ""))
        rows.append(
            (
                f"streamable HTTP, {args.concurrency} calls at once, all answered: {label}",
                f"{ms(wall)} ms",
                f"{paired:.2f}x floor" if floor and not is_floor else f"{wall / args.latency:.2f}x latency",
                "" if is_floor else "2.5x floor",
            )
        )
    if args.breakdown:
        spent = registration(args.runs)
        largest = max(spent, key=spent.__getitem__)
        rows.append(
            (
                f"registering the {len(spent)} tools in a fresh interpreter "
                f"(largest: {largest} {ms(spent[largest])} ms)",
                f"{ms(sum(spent.values()))} ms",
                "",
                "",
            )
        )
    if args.markdown:
        print("| measurement | median | vs | goal |")
        print("|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(cell or "-" for cell in row) + " |")
    else:
        width = max(len(row[0]) for row in rows)
        for name, value, versus, goal_text in rows:
            print(f"{name:<{width}}  {value:>10}  {versus:>14}  goal {goal_text or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="cold starts per server, and concurrency rounds")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per kind in the per-call test")
    parser.add_argument("--concurrency", type=int, default=100, help="calls at once over streamable HTTP")
    parser.add_argument("--latency", type=float, default=0.2, help="sandbox latency (s) in the concurrency test")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument(
        "--ledger-rows",
        type=int,
        default=0,
        help="burst: each mavi-mcp store starts with this many paid calls in its ledger (a store in long use)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="a source tree (e.g. `git archive <commit> | tar -x -C DIR`) whose mavi_mcp is measured too, in turns "
        "with this one (every part; figures marked [baseline])",
    )
    parser.add_argument(
        "--only", action="append", choices=("start", "calls", "burst"), help="run only this part (repeatable)"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also start two patched variants that show where start-up goes"
    )
    anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
