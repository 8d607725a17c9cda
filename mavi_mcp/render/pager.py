"""The one page cutter every format uses.

A format turns spans into `Unit`s (a turn line, a subtitle cue, a JSON segment, an RTTM line). A unit is a
list of `Piece`s, each knowing the position just after it, so a unit too large for a whole page can be cut
between pieces (between words). The pager fills a page with whole units while they fit; when the next unit does
not fit, it takes as many of its pieces as fit in what is left (at least one on an empty page), so a page fills its
budget instead of ending early before a long turn. It leaves a remainder smaller than `MIN_FILL` of the budget
unused rather than start a turn with a few words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from mavi_mcp.render.cursor import Position

MIN_FILL = 0.125
"""The smallest part of the budget (what is left on a page) worth filling with the start of a turn that does not fit."""


class Piece(NamedTuple):
    """Text and the position just after it (a NamedTuple: units hold one per word, so creation must be cheap)."""

    text: str
    after: Position


@dataclass(slots=True)
class Unit:
    """A renderable unit starting at `start`.

    By default its text is its pieces joined, and a cut after `n` pieces is the first `n` pieces joined.
    A unit with `rendered` and no pieces is never cut: it goes whole on a page, or on the next one (a diarization or
    RTTM line; one piece would change nothing, it is all or none).
    A unit may instead give `rendered` (its whole text) and make its pieces only when the pager must cut it
    (`make_pieces`, an iterable the pager reads only as far as the page has room), which keeps whole-turn rendering
    free of per-word objects and a long turn's cut proportional to the page, not to the turn. Formats whose cut text
    is not a prefix (JSON, subtitle cues) also give `split` (the text of the unit cut after `n` pieces).
    """

    start: Position
    given_pieces: list[Piece] | None = None
    rendered: str | None = None
    split: Callable[[int], str] | None = None
    make_pieces: Callable[[], Iterable[Piece]] | None = None
    fit: Callable[[int, bool], tuple[str, Position] | None] | None = None
    """Instead of pieces: `fit(room, at_least_one)` answers what `_fill` would from the pieces (a turn of words
    computes it from their byte lengths in C rather than one object per word)."""

    def iter_pieces(self) -> Iterator[Piece]:
        if self.given_pieces is not None:
            return iter(self.given_pieces)
        return iter(self.make_pieces() if self.make_pieces is not None else ())

    @property
    def text(self) -> str:
        return self.rendered if self.rendered is not None else "".join(p.text for p in self.iter_pieces())


@dataclass
class Cut:
    """The page's body parts (unit texts, in order) and where the next page starts."""

    parts: list[str]
    next: Position | None


def size(text: str) -> int:
    """What a text costs on a page: its UTF-8 bytes (`render.budget.token_bytes` turns tokens into bytes)."""
    return len(text.encode())


def cut_page(units: Iterable[Unit], budget: int, *, separator: str = "\n", fill: bool = True) -> Cut:
    """Fill a page of at most `budget` UTF-8 bytes (`separator` between parts) from `units`; with `fill`, a unit
    that does not fit in what is left is cut to fill it (see the module docstring).

    The only page allowed over budget holds a single piece larger than the budget on its own (a very long
    "word"); it gets a page of its own.
    """
    iterator = iter(units)
    parts: list[str] = []
    used = 0
    sep = size(separator)
    for unit in iterator:
        text = unit.text
        if not text:
            continue
        cost = size(text) + (sep if parts else 0)
        if used + cost <= budget:
            parts.append(text)
            used += cost
            continue
        if parts:
            left = budget - used - sep
            if fill and left >= budget * MIN_FILL:
                filled = _fill(unit, left, at_least_one=False)
                if filled is not None:
                    body, after = filled
                    return Cut([*parts, body], after)
            return Cut(parts, unit.start)
        # the page is empty and this unit alone does not fit: cut it between pieces, at least one piece
        filled = _fill(unit, budget, at_least_one=True)
        if filled is not None:
            body, after = filled
            return Cut([body], after)
        following = next((u for u in iterator if u.text), None)
        return Cut([text], following.start if following else None)
    return Cut(parts, None)


def _fill(unit: Unit, room: int, *, at_least_one: bool) -> tuple[str, Position] | None:
    """The first pieces of `unit` that fit in `room` bytes (at least one if `at_least_one`), and the position after
    them; None when none fit, or when all of them do (the unit needs no cut)."""
    if unit.fit is not None:
        return unit.fit(room, at_least_one)
    taken: list[Piece] = []
    running = 0
    every_piece_fits = True
    for piece in unit.iter_pieces():
        piece_cost = size(piece.text)
        if running + piece_cost > room and (taken or not at_least_one):
            every_piece_fits = False
            break
        running += piece_cost
        taken.append(piece)
    if not taken or every_piece_fits:
        return None

    def cut(n: int) -> str:
        return unit.split(n) if unit.split is not None else "".join(p.text for p in taken[:n])

    count = len(taken)
    body = cut(count)
    while size(body) > room and count > 1:  # piece sizes were an estimate: back off word by word
        count -= 1
        body = cut(count)
    if size(body) > room and not at_least_one:
        return None
    return body, taken[count - 1].after
