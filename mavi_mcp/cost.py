"""What a transcription costs: one price table, estimates before a call, the billed amount after it, and the
fingerprints that keep an identical request (or an identical file) from being paid for twice.

Prices are MAVI's published ones (API README, "Transcription endpoints"; the Whisper overview page
`003_*.txt`), per second of media:

| price key | tool (option) | MAVI price |
| --- | --- | --- |
| `identify_speakers` | `identify_speakers` | $0.001/s |
| `transcribe_whisper` | `transcribe_whisper(speaker=False)` | $0.001/s |
| `transcribe_whisper_speaker` | `transcribe_whisper(speaker=True)` | $0.002/s |
| `transcribe_assemblyai` | `transcribe_assemblyai` | $0.15/h |
| `transcribe_elevenlabs` | `transcribe_elevenlabs` | $0.39/h |
| `multi_speaker_async` | `multi_speaker_async` | $0.10/min |

MAVI does not document a rounding rule (per started second or minute), so costs here are proportional to the
duration, kept to the micro-dollar and shown to the cent.

Durations after a call (`billed_seconds`) come from the provider's own fields where MAVI passes them on:
AssemblyAI `audio_duration` (s), ElevenLabs `audio_duration_secs` (s), async callbacks'
`data.data.usage_metadata.duration` (s; an object for Whisper, an array for multi-speaker); else the asset's
duration read before upload (`mavi_mcp.duration`); else the transcript's last timestamp, a lower bound.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, cast

import anyio.to_thread
import msgspec
from typing_extensions import TypedDict

from mavi_mcp.render.timefmt import clock

PriceKey = Literal[
    "identify_speakers",
    "transcribe_whisper",
    "transcribe_whisper_speaker",
    "transcribe_assemblyai",
    "transcribe_elevenlabs",
    "multi_speaker_async",
]


@dataclass(frozen=True)
class Price:
    """One line of MAVI's price list: `usd` per `per_seconds` seconds of media (1, 60 or 3600)."""

    usd: Decimal
    per_seconds: int
    what: str
    """The product in words, e.g. 'Whisper with speaker labels'."""

    @property
    def label(self) -> str:
        """As MAVI's pages write it: '$0.001/s', '$0.10/min', '$0.15/h'."""
        unit = {1: "s", 60: "min", 3600: "h"}[self.per_seconds]
        amount = f"{self.usd:.2f}" if self.per_seconds > 1 else f"{self.usd.normalize()}"
        return f"${amount}/{unit}"

    @property
    def usd_per_second(self) -> float:
        """The price per second of media in US dollars (what `shapes.Shape.usd_per_second` holds)."""
        return float(self.usd / self.per_seconds)

    def usd_for(self, seconds: float) -> float:
        """The cost of `seconds` of media in US dollars, to the micro-dollar (no rounding up to a unit)."""
        exact = self.usd * Decimal(repr(float(seconds))) / self.per_seconds
        return float(round(exact, 6))


PRICES: dict[PriceKey, Price] = {
    "identify_speakers": Price(Decimal("0.001"), 1, "speaker turns (pyannote)"),
    "transcribe_whisper": Price(Decimal("0.001"), 1, "Whisper"),
    "transcribe_whisper_speaker": Price(Decimal("0.002"), 1, "Whisper with speaker labels"),
    "transcribe_assemblyai": Price(Decimal("0.15"), 3600, "AssemblyAI"),
    "transcribe_elevenlabs": Price(Decimal("0.39"), 3600, "ElevenLabs Scribe"),
    "multi_speaker_async": Price(Decimal("0.10"), 60, "named speakers and faces"),
}
"""The one price table (MAVI's pages). Look prices up with `price_key`, never by hand."""

PAID_TOOLS = (
    "identify_speakers",
    "transcribe_whisper",
    "transcribe_assemblyai",
    "transcribe_elevenlabs",
    "multi_speaker_async",
)
"""The paid tools, in the README's order (`transcribe_whisper` has two prices, by `speaker`)."""


def price_key(tool: str, *, speaker: bool = False) -> PriceKey:
    """The price-table key of a paid tool; `speaker` matters for `transcribe_whisper` only.

    Raises:
        ValueError: `tool` is not a paid tool.
    """
    if tool == "transcribe_whisper":
        return "transcribe_whisper_speaker" if speaker else "transcribe_whisper"
    for key in PRICES:
        if key == tool:
            return key
    raise ValueError(f"{tool!r} is not a paid tool; paid tools: {', '.join(PAID_TOOLS)}")


@dataclass(frozen=True)
class Estimate:
    """A cost in US dollars for `seconds` of media, with its `basis` in words."""

    usd: float
    seconds: float
    basis: str
    """How it was worked out, e.g. 'Whisper with speaker labels at $0.002/s for 1:02:47'."""

    @property
    def text(self) -> str:
        """'$0.23 for 3:45': what the agent and the user read."""
        return f"{format_usd(self.usd)} for {clock(self.seconds)}"


def estimate(tool: str, seconds: float, *, speaker: bool = False) -> Estimate:
    """The cost of running `tool` on `seconds` of media (s), from the price table.

    Raises:
        ValueError: `tool` is not a paid tool, or `seconds` is negative or not finite.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, not {seconds!r}")
    price = PRICES[price_key(tool, speaker=speaker)]
    return Estimate(price.usd_for(seconds), seconds, f"{price.what} at {price.label} for {clock(seconds)}")


def estimates_for(seconds: float) -> dict[str, Estimate]:
    """Every paid tool's estimate for `seconds` of media, for `upload_media`'s answer, in the README's order.

    Keys are tool names, plus `transcribe_whisper(speaker=true)`.
    """
    out: dict[str, Estimate] = {}
    for tool in PAID_TOOLS:
        out[tool] = estimate(tool, seconds)
        if tool == "transcribe_whisper":
            out["transcribe_whisper(speaker=true)"] = estimate(tool, seconds, speaker=True)
    return out


def price_list(seconds: float) -> str:
    """One line for `upload_media`'s answer: every paid tool's estimate for `seconds` of media, e.g.
    'Estimated cost of 1:02:47: identify_speakers $3.77 · transcribe_whisper $3.77 ($7.53 with speaker=true) ·
    transcribe_assemblyai $0.16 · transcribe_elevenlabs $0.41 · multi_speaker_async $6.28'."""
    costs = {tool: format_usd(e.usd) for tool, e in estimates_for(seconds).items()}
    whisper_speaker = costs.pop("transcribe_whisper(speaker=true)")
    parts = [
        f"{tool} {usd} ({whisper_speaker} with speaker=true)" if tool == "transcribe_whisper" else f"{tool} {usd}"
        for tool, usd in costs.items()
    ]
    return f"Estimated cost of {clock(seconds)}: " + " · ".join(parts)


BILLED_FROM_WORDS: dict[str, str] = {
    "provider": "the provider's duration",
    "asset": "the file's duration",
    "transcript": "the transcript's end, a lower bound",
}


def billed_text(billed: Billed, cost: Estimate) -> str:
    """The first-line statement of a paid result: 'Billed $0.16 for 1:02:47 (the provider's duration)'."""
    return f"Billed {cost.text} ({BILLED_FROM_WORDS[billed.source]})"


WINDOW_NOTE = (
    "start/end limit what is shown, not what is billed: the whole file is transcribed. To transcribe only a part, "
    "use transcribe_assemblyai with audio_start_from/audio_end_at (milliseconds)."
)
"""For the transcription tools' descriptions and for answers given with a window (issue 15, "honest windows")."""


def format_usd(usd: float) -> str:
    """Dollars as people read them: '$3.77', '$0.23', '$0.004' (under a cent), '$0.00' for nothing."""
    if usd == 0:
        return "$0.00"
    if abs(usd) < 0.01:
        return f"${usd:.3f}" if abs(usd) >= 0.001 else "<$0.001"
    return f"${usd:,.2f}"


# --- after the call ------------------------------------------------------------------------------------------------

BilledFrom = Literal["provider", "asset", "transcript"]


@dataclass(frozen=True)
class Billed:
    """The duration a result is billed for, in seconds, and where that number came from."""

    seconds: float
    source: BilledFrom
    """`provider`: the provider's own duration or usage field; `asset`: the media's duration read before upload;
    `transcript`: the last timestamp of the transcript (a lower bound: trailing silence is billed too)."""

    def cost(self, tool: str, *, speaker: bool = False) -> Estimate:
        """The billed cost of this duration for `tool` (same table as the estimate)."""
        return estimate(tool, self.seconds, speaker=speaker)


def provider_seconds(shape: str, body: Mapping[str, Any]) -> float | None:
    """The billed duration (s) the provider states in a MAVI body of response shape `shape`, or None.

    `body` is the JSON body as MAVI sent it (the envelope `{code, msg, data}` of a response, or a webhook
    callback `{code, message, data: {data: {...}}, task_id}`). Shapes, as named in `mavi_mcp/sandbox/data/`:
    `speech-to-text-assemblyai` reads `data.audio_duration`; `speech-to-text-elevenlabs` reads
    `data.audio_duration_secs`; `async-*-callback` reads `data.data.usage_metadata.duration` (the largest one
    when it is an array). A missing, zero or non-numeric field gives None (the bundled multi-speaker callback
    reports `duration: 0.0`, which is not what it billed). The sync speaker/Whisper shapes carry none.
    """
    data = body.get("data")
    if not isinstance(data, Mapping):
        return None
    if shape == "speech-to-text-assemblyai":
        return _positive(data.get("audio_duration"))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    if shape == "speech-to-text-elevenlabs":
        return _positive(data.get("audio_duration_secs"))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    if shape.endswith("-callback"):
        inner = data.get("data")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        usage = inner.get("usage_metadata") if isinstance(inner, Mapping) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        entries: list[Any] = list(usage) if isinstance(usage, list) else [usage]  # pyright: ignore[reportUnknownArgumentType]
        found = [
            seconds
            for entry in entries
            if isinstance(entry, Mapping) and (seconds := _positive(entry.get("duration"))) is not None  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        ]
        return max(found) if found else None
    return None


class _CallbackData(TypedDict, total=False):
    usage_metadata: Any


class _DurationFields(TypedDict, total=False):
    audio_duration: Any
    audio_duration_secs: Any
    data: _CallbackData


class _DurationBody(TypedDict, total=False):
    data: _DurationFields


_DURATION_BODY = msgspec.json.Decoder(_DurationBody)
"""Only the fields `provider_seconds` reads: msgspec skips the rest (a 66-minute transcript's words) without building
Python objects for them: 3.6 ms for the 2.1 MB ElevenLabs body, against 11 ms for pydantic doing the same and ~25 ms
for `json.loads` of the whole body."""


def duration_fields(raw: bytes) -> Mapping[str, Any] | None:
    """The parts of a raw JSON body (bytes as MAVI sent them) that `provider_seconds` reads, or None for a body that
    is not a JSON object. A body whose duration fields are not laid out as `_DurationBody` expects is read whole."""
    try:
        return _DURATION_BODY.decode(raw)
    except msgspec.MsgspecError:
        try:
            loaded: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
        return cast(Mapping[str, Any], loaded) if isinstance(loaded, Mapping) else None


def billed_seconds(
    shape: str,
    body: Mapping[str, Any] | None,
    *,
    asset_seconds: float | None = None,
    transcript_end: float | None = None,
) -> Billed | None:
    """The duration a result is billed for: the provider's field, else the asset's duration, else the
    transcript's last timestamp (all in seconds); None when none is known.

    `asset_seconds` is the duration read locally before upload (`mavi_mcp.duration`); `transcript_end` the end
    of the last segment or word of the normalized transcript.
    """
    stated = provider_seconds(shape, body) if body is not None else None
    if stated is not None:
        return Billed(stated, "provider")
    if asset_seconds is not None and asset_seconds > 0:
        return Billed(asset_seconds, "asset")
    if transcript_end is not None and transcript_end > 0:
        return Billed(transcript_end, "transcript")
    return None


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


# --- never twice ---------------------------------------------------------------------------------------------------

VIEW_OPTIONS = frozenset(
    {
        "format",
        "max_tokens",
        "start",
        "end",
        "speakers",
        "timestamps",
        "cursor",
        "wait_seconds",
        "mode",
        "refresh",
        "max_cost_usd",
    }
)
"""Arguments that change what is shown or how it is fetched, never what MAVI transcribes: left out of
`request_key`, so a new page, window, speaker filter or format is served from the store."""


def request_key(endpoint: str, source: str, options: Mapping[str, Any], *, account: str = "") -> str:
    """A fingerprint (64 hex chars, SHA-256) of everything that changes a transcription's result.

    `endpoint`: MAVI's endpoint or response shape (`sync-generate-audio`, `async-generate-audio-callback`,
    `speech-to-text` ...); the sync and async endpoints of one product give the same result, so `sync-`,
    `async-` and `-callback` are dropped (`generate-audio` for all three). `source`: the asset id, or the URL
    exactly as sent. `options`: the request's options (the body MAVI gets, less the source, plus the provider
    for `speech-to-text`); `None` values and `VIEW_OPTIONS` are ignored, keys are sorted and whole floats are
    written as integers, so `{"speaker": True, "x": None}` and `{"speaker": true}` give one key. `account`:
    `account_fingerprint(key)` when a request runs on a caller's own key (a shared HTTP deployment, header
    `X-MAVI-API-Key`), so one account never gets another's result for free; empty for the server's own key.

    Raises:
        TypeError: an option is not JSON data (str, number, bool, None, list, dict).
    """
    canonical = {
        "account": account,
        "endpoint": _product(endpoint),
        "source": source.strip(),
        "options": {k: _canonical(v) for k, v in sorted(options.items()) if v is not None and k not in VIEW_OPTIONS},
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def account_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for the account of an API key (16 hex chars of a salted SHA-256), to keep
    per-account rows apart in the ledger without storing the key."""
    return hashlib.sha256(b"mavi-mcp account\0" + api_key.strip().encode()).hexdigest()[:16]


def _product(endpoint: str) -> str:
    name = endpoint.strip().strip("/").rsplit("/", 1)[-1]
    name = name.removesuffix("-callback")
    for prefix in ("sync-", "async-"):
        name = name.removeprefix(prefix)
    return name


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items()) if v is not None}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    raise TypeError(f"option value {value!r} is not JSON data")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (64 hex chars), read in chunks (3 GB files are fine). Blocking.

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


async def file_sha256_async(path: Path) -> str:
    """`file_sha256` in a worker thread."""
    return await anyio.to_thread.run_sync(file_sha256, path)
