"""The one page cutter every format uses.

A format turns spans into `Unit`s (a turn line, a subtitle cue, a JSON segment, an RTTM line). A unit is a
list of `Piece`s, each knowing the position just after it, so a unit too large for a whole page can be cut
between pieces (between words). The pager fills a page with whole units while they fit; when the page is
still empty and the next unit alone does not fit, it takes as many of its pieces as fit (at least one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from mavi_mcp.render.cursor import Position


class Piece(NamedTuple):
    """Text and the position just after it (a NamedTuple: units hold one per word, so creation must be cheap)."""

    text: str
    after: Position


@dataclass
class Unit:
    """A renderable unit starting at `start`.

    By default its text is its pieces joined, and a cut after `n` pieces is the first `n` pieces joined.
    A unit may instead give `rendered` (its whole text) and build its pieces only when the pager must cut it
    (`make_pieces`), which keeps whole-turn rendering free of per-word objects. Formats whose cut text is not
    a prefix (JSON, subtitle cues) also give `split` (the text of the unit cut after `n` pieces).
    """

    start: Position
    given_pieces: list[Piece] | None = None
    rendered: str | None = None
    split: Callable[[int], str] | None = None
    make_pieces: Callable[[], list[Piece]] | None = None

    @property
    def pieces(self) -> list[Piece]:
        if self.given_pieces is None:
            self.given_pieces = self.make_pieces() if self.make_pieces is not None else []
        return self.given_pieces

    @property
    def text(self) -> str:
        return self.rendered if self.rendered is not None else "".join(p.text for p in self.pieces)

    def cut(self, n: int) -> str:
        return self.split(n) if self.split is not None else "".join(p.text for p in self.pieces[:n])


@dataclass
class Cut:
    """The page's body parts (unit texts, in order) and where the next page starts."""

    parts: list[str]
    next: Position | None


def cut_page(units: Iterable[Unit], budget: int, *, size: Callable[[str], int], separator: str = "\n") -> Cut:
    """Fill a page of at most `budget` (in `size` units, `separator` between parts) from `units`.

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
            return Cut(parts, unit.start)
        # the page is empty and this unit alone does not fit: cut it between pieces, at least one piece
        taken = 0
        running = 0
        for piece in unit.pieces:
            piece_cost = size(piece.text)
            if taken and running + piece_cost > budget:
                break
            running += piece_cost
            taken += 1
        if taken < len(unit.pieces):
            body = unit.cut(taken)
            while taken > 1 and size(body) > budget:  # piece sizes were an estimate: back off word by word
                taken -= 1
                body = unit.cut(taken)
            return Cut([body], unit.pieces[taken - 1].after)
        following = next((u for u in iterator if u.text), None)
        return Cut([text], following.start if following else None)
    return Cut(parts, None)
