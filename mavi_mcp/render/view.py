"""What part of a transcript a reader asked for: a time window, some speakers, a format.

`select()` turns a `Transcript` and a `View` into `Span`s: one per segment in view, with the range of the
segment's words (whitespace-separated tokens of its text) that fall inside the window. Word times clip the
window when the provider gave them aligned with the text; otherwise a segment is in or out as a whole.
Times are SECONDS.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from mavi_mcp.defuse import clean_text
from mavi_mcp.errors import InputError
from mavi_mcp.transcript import Segment, Transcript, Word

Format = Literal["text", "json", "srt", "vtt", "rttm"]
Timestamps = Literal["auto", "segments", "none"]
FORMATS: tuple[Format, ...] = ("text", "json", "srt", "vtt", "rttm")


@dataclass(frozen=True)
class View:
    """A reading of a transcript. `speakers` holds resolved LABELS; `start`/`end` are seconds or None."""

    format: Format = "text"
    start: float | None = None
    end: float | None = None
    speakers: tuple[str, ...] = ()
    timestamps: Timestamps = "auto"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"f": self.format, "ts": self.timestamps}
        if self.start is not None:
            data["a"] = self.start
        if self.end is not None:
            data["b"] = self.end
        if self.speakers:
            data["sp"] = list(self.speakers)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> View:
        """The view a cursor carries (`to_json`'s form), checked like the tool arguments it was made from.

        Raises:
            InputError: a format or timestamps value that does not exist, a time that is not a finite number of
                seconds >= 0, an empty window, or speakers that are not a list of names.
        """
        try:
            fmt = data.get("f", "text")
            ts = data.get("ts", "auto")
            if fmt not in FORMATS or ts not in ("auto", "segments", "none"):
                raise ValueError
            start = _seconds(data.get("a"))
            end = _seconds(data.get("b"))
            if start is not None and end is not None and end <= start:
                raise ValueError
            raw_speakers: object = data.get("sp", [])
            if not isinstance(raw_speakers, list):
                raise ValueError
            speakers = tuple(cast(list[object], raw_speakers))
            if not all(isinstance(s, str) for s in speakers):
                raise ValueError
            speakers = cast(tuple[str, ...], speakers)
            return cls(format=fmt, start=start, end=end, speakers=speakers, timestamps=ts)
        except (TypeError, ValueError):
            raise InputError("The cursor's view is not valid. Start again without a cursor.") from None


def _seconds(value: object) -> float | None:
    """A window bound from a cursor: None, or a finite number of seconds >= 0 (else ValueError)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ValueError(value)
    return float(value)


@dataclass
class Span:
    """One segment in view: its index, its tokens, its words when they align one to one with the tokens (`times`:
    the segment's `(text, start, end, confidence)` tuples, SECONDS; None when not aligned), and the token range
    shown."""

    index: int
    segment: Segment
    tokens: list[str]
    times: Sequence[Word] | None
    first: int
    last: int

    @property
    def speaker(self) -> str | None:
        return self.segment.speaker

    def token_start(self, k: int) -> float:
        """Start time of token `k` (its own when aligned; the segment's start otherwise)."""
        if self.times is not None and k < len(self.times):
            return self.times[k][1]
        return self.segment.start

    @property
    def whole(self) -> bool:
        return self.first == 0 and self.last == len(self.tokens)


def _aligned_times(segment: Segment, tokens: list[str]) -> Sequence[Word] | None:
    words = segment.words
    if not words or len(words) != len(tokens):
        return None
    return words


_SELECTED: OrderedDict[tuple[str, View], list[Span]] = OrderedDict()
_SELECTED_MAX = 8


def select(transcript: Transcript, view: View) -> list[Span]:
    """The spans of `transcript` in `view`, in transcript order (see the module docstring).

    Cached for the last few (transcript, view) pairs: transcripts never change once stored, and reading page
    after page asks for the same selection each time. Spans must not be mutated by callers.
    """
    key = (transcript.id, view)
    cached = _SELECTED.get(key)
    if cached is not None:
        _SELECTED.move_to_end(key)
        return cached
    spans = _select(transcript, view)
    _SELECTED[key] = spans
    while len(_SELECTED) > _SELECTED_MAX:
        _SELECTED.popitem(last=False)
    return spans


def _select(transcript: Transcript, view: View) -> list[Span]:
    wanted = set(view.speakers)
    start = view.start if view.start is not None else float("-inf")
    end = view.end if view.end is not None else float("inf")
    spans: list[Span] = []
    for index, segment in enumerate(transcript.segments):
        if wanted and segment.speaker not in wanted:
            continue
        if segment.end < start or segment.start > end:
            continue
        if segment.end == start and segment.start < start:
            continue
        tokens = neutralize(segment.text).split() if segment.text else []  # a diarization turn has no text
        times = _aligned_times(segment, tokens)
        first, last = 0, len(tokens)
        if times is not None and (view.start is not None or view.end is not None):
            inside = [
                k for k, (_, s, e, _) in enumerate(times) if e >= start and s <= end and not (e == start and s < start)
            ]
            if not inside:
                continue
            first, last = inside[0], inside[-1] + 1
        spans.append(Span(index, segment, tokens, times, first, last))
    return spans


OPEN_TAG = "<transcript>"
CLOSE_TAG = "</transcript>"


def neutralize(text: str) -> str:
    """Recording text on one line with every look-alike of the data markers defused (`defuse.clean_text`), so
    spoken words cannot close the untrusted block."""
    return clean_text(text)


_ALIAS = re.compile(r"^speaker[_ ]?(\w+)$", re.IGNORECASE)


def alias(label: str) -> str:
    """The short form printed for a generic label: `SPEAKER_01` -> `S1`, `speaker_0` -> `S0`, `SPEAKER_A` -> `SA`.

    Other labels (provider names like "Brett Ponton") are printed as they are. Aliases are accepted wherever a
    speaker is named (filters, rename_speakers).
    """
    match = _ALIAS.match(label)
    if not match:
        return label
    suffix = match.group(1)
    return f"S{int(suffix)}" if suffix.isdigit() else f"S{suffix}"


IdentifierKind = Literal["label", "short alias", "name", "provider name"]
PRECEDENCE: tuple[IdentifierKind, ...] = ("label", "short alias", "name", "provider name")
"""How a speaker entry is matched, first kind first: a label always means its own speaker, then a short alias,
then a name given with rename_speakers, then the provider's name."""


def _claims(transcript: Transcript, names: dict[str, str]) -> dict[str, dict[str, list[IdentifierKind]]]:
    """Every identifier of every speaker, case-insensitive: identifier -> label -> the kinds it is for that speaker.

    Labels appear in transcript order, so everything derived from this is deterministic.
    """
    claims: dict[str, dict[str, list[IdentifierKind]]] = {}

    def add(text: str | None, label: str, kind: IdentifierKind) -> None:
        key = (text or "").strip().casefold()
        if key:
            kinds = claims.setdefault(key, {}).setdefault(label, [])
            if kind not in kinds:
                kinds.append(kind)

    for speaker in transcript.speakers:
        add(speaker.label, speaker.label, "label")
        add(alias(speaker.label), speaker.label, "short alias")
        add(names.get(speaker.label), speaker.label, "name")
        add(speaker.name, speaker.label, "provider name")
    return claims


def resolve_speakers(transcript: Transcript, names: dict[str, str], requested: list[str]) -> tuple[str, ...]:
    """Labels for `requested` entries given as labels, short aliases or names (given or the provider's),
    case-insensitively, matched in `PRECEDENCE` order (so `SPEAKER_01` is always SPEAKER_01's label).

    Raises:
        InputError: an entry matches no speaker (the message lists the speakers there are), or matches several
            speakers by the same kind of identifier (two speakers given the same name before such renames were
            refused); the message lists them and asks for a label.
    """
    claims = _claims(transcript, names)
    resolved: list[str] = []
    for entry in requested:
        by_label = claims.get(entry.strip().casefold(), {})
        label: str | None = None
        for kind in PRECEDENCE:
            matching = [candidate for candidate, kinds in by_label.items() if kind in kinds]
            if len(matching) > 1:
                raise InputError(
                    f"{entry!r} is the {kind} of several speakers in transcript {transcript.id}: "
                    f"{', '.join(matching)}. Name the speaker by its label, or give each a distinct name with "
                    "rename_speakers."
                )
            if matching:
                label = matching[0]
                break
        if label is None:
            known = ", ".join(
                f"{s.label} ({names.get(s.label) or s.name})" if names.get(s.label) or s.name else s.label
                for s in transcript.speakers
            )
            raise InputError(
                f"No speaker {entry!r} in transcript {transcript.id}. Speakers: {known or 'none (no speaker labels)'}."
            )
        if label not in resolved:
            resolved.append(label)
    return tuple(resolved)


def naming_conflicts(transcript: Transcript, names: dict[str, str], renamed: set[str]) -> list[str]:
    """Why the names `names` (label -> name, all in effect) would make a speaker entry ambiguous, for the speakers
    in `renamed`: one line per name that is also another speaker's label, short alias, name or provider name.

    Returns an empty list when every renamed speaker's name identifies that speaker alone. Deterministic
    (transcript order). Used by rename_speakers to refuse such a mapping before anything is stored.
    """
    described = {
        "label": "the label of",
        "short alias": "the short alias of",
        "name": "the name of",
        "provider name": "the provider's name for",
    }
    conflicts: list[str] = []
    for by_label in _claims(transcript, names).values():
        if len(by_label) < 2:
            continue
        new = [label for label, kinds in by_label.items() if label in renamed and "name" in kinds]
        if not new:
            continue
        roles: list[str] = []
        for label, kinds in by_label.items():
            for kind in kinds:
                role = "the new name of" if label in new and kind == "name" else described[kind]
                roles.append(f"{role} {label}")
        conflicts.append(f"{names[new[0]]!r} would be {', '.join(roles[:-1])} and {roles[-1]}")
    return conflicts
