"""The agent's search syntax -> a small AST -> an SQLite FTS5 MATCH expression or a PostgreSQL tsquery.

Syntax (one line in the tool description): `words` (all must match), `"quoted phrases"`, `prefix*`, `a OR b`,
`-exclusion` (also `-"a phrase"`).

- Words next to each other must all match (AND). `OR` (upper case) joins the items on either side of it:
  `fee OR price membership` means (fee OR price) AND membership. Lower-case `or` and `and` are words; `AND`
  is accepted and ignored; `NOT x` means `-x`.
- Only letters and digits are searched: a word is split into its letter/digit runs (`e-commerce` is the phrase
  `e commerce`, `Q1'21` the phrase `q1 21`), as the index's tokenizer splits text. A term with no letter or
  digit is dropped. Parentheses and other punctuation separate words.
- Case and diacritics fold, and English words match their stems (`fees` finds `fee`), in both backends.

Safety: the compiled expressions contain only the letter/digit runs of the query, each quoted, and operators
this module writes; nothing the agent types can reach FTS5's or tsquery's own syntax.

Raises `InputError` for a query with nothing to search for (empty, punctuation only, only exclusions) or with
more than `MAX_TERMS` terms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mavi_mcp.errors import InputError

MAX_TERMS = 32
"""Most terms (words, phrases, prefixes, exclusions) one query may hold: bounds the work of one search."""

MAX_QUERY_CHARS = 1000

SYNTAX = 'words (all must match), "exact phrase", prefix*, a OR b, -exclude'
"""The syntax in one line, for tool descriptions and error messages."""

_TOKEN = re.compile(r"[^\W_]+")
_LEXEME = re.compile(r'-?"[^"]*(?:"|$)\*?|\S+')


@dataclass(frozen=True)
class Term:
    """A word (one token) or a phrase (several tokens in order). `prefix`: the last token matches as a prefix.

    Tokens are case-folded runs of letters and digits.
    """

    tokens: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class AnyOf:
    """At least one of `options` must match (the `OR` operator)."""

    options: tuple[Term, ...]


Item = Term | AnyOf


@dataclass(frozen=True)
class Query:
    """All `required` items must match and no `excluded` term may (see the module docstring)."""

    required: tuple[Item, ...]
    excluded: tuple[Term, ...] = ()

    def terms(self) -> list[Term]:
        """Every positive term, in query order (what a match can be marked by)."""
        out: list[Term] = []
        for item in self.required:
            out.extend(item.options if isinstance(item, AnyOf) else (item,))
        return out


def _term(text: str, *, prefix: bool) -> Term | None:
    tokens = tuple(t.casefold() for t in _TOKEN.findall(unicodedata.normalize("NFKC", text)))
    return Term(tokens, prefix) if tokens else None


def parse(text: str) -> Query:
    """Parse the agent's `text` (see the module docstring).

    Raises:
        InputError: nothing to search for, only exclusions, more than `MAX_TERMS` terms, or over
            `MAX_QUERY_CHARS` characters.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"The query is {len(text)} characters long; use at most {MAX_QUERY_CHARS}.")
    # (kind, term): kind is "+" for a positive term, "-" for an exclusion, "OR" for the operator
    lexemes: list[tuple[str, Term | None]] = []
    count = 0
    negate_next = False
    for raw in _LEXEME.findall(text.replace("(", " ").replace(")", " ")):
        if raw == "OR":
            lexemes.append(("OR", None))
            continue
        if raw == "AND":
            continue
        if raw == "NOT":
            negate_next = True
            continue
        negative = negate_next or (raw.startswith("-") and len(raw) > 1)
        negate_next = False
        body = raw[1:] if raw.startswith("-") else raw
        prefix = body.endswith("*")
        body = body.rstrip("*")
        if body.startswith('"'):
            body = body[1:].removesuffix('"')
        term = _term(body, prefix=prefix)
        if term is None:
            continue
        count += 1
        if count > MAX_TERMS:
            raise InputError(f"The query has more than {MAX_TERMS} terms; search with fewer, more specific words.")
        lexemes.append(("-" if negative else "+", term))

    required: list[Item] = []
    excluded: list[Term] = []
    join_next = False
    for kind, term in lexemes:
        if kind == "OR":
            join_next = bool(required)
            continue
        assert term is not None
        if kind == "-":
            excluded.append(term)
            join_next = False
            continue
        if join_next:
            previous = required.pop()
            options = previous.options if isinstance(previous, AnyOf) else (previous,)
            required.append(AnyOf((*options, term)))
        else:
            required.append(term)
        join_next = False
    if not required:
        if excluded:
            raise InputError(
                "The query has only -exclusions; add at least one word to find, e.g. 'membership -renewal'. "
                f"Syntax: {SYNTAX}."
            )
        raise InputError(f"The query has no word to search for. Syntax: {SYNTAX}.")
    return Query(tuple(required), tuple(excluded))


def relaxed(query: Query) -> Query | None:
    """`query` with its required items joined by OR instead of AND (exclusions kept), for a search in which no
    passage holds every item; None when there is nothing to relax (a single item)."""
    if len(query.required) < 2:
        return None
    options: list[Term] = []
    for item in query.required:
        options.extend(item.options if isinstance(item, AnyOf) else (item,))
    return Query((AnyOf(tuple(options)),), query.excluded)


# --- SQLite FTS5 ------------------------------------------------------------------------------------


def _fts5_term(term: Term) -> str:
    # tokens hold letters and digits only: quoting cannot be escaped from
    return f'"{" ".join(term.tokens)}"' + ("*" if term.prefix else "")


def _fts5_item(item: Item) -> str:
    if isinstance(item, AnyOf):
        return "(" + " OR ".join(_fts5_term(t) for t in item.options) + ")"
    return _fts5_term(item)


def to_fts5(query: Query) -> str:
    """The FTS5 MATCH expression for `query`: `"a" AND ("b" OR "c"*) NOT ("d" OR "e f")`.

    Every term is a quoted FTS5 string (a phrase of its tokens), so FTS5 column filters, `NEAR` and the
    bareword rules never apply to the agent's text.
    """
    positive = " AND ".join(_fts5_item(item) for item in query.required)
    if not query.excluded:
        return positive
    negative = " OR ".join(_fts5_term(t) for t in query.excluded)
    return f"({positive}) NOT ({negative})"


# --- PostgreSQL tsquery -----------------------------------------------------------------------------


def _ts_lexeme(token: str, prefix: bool) -> str:
    # tokens hold letters and digits only, so no quote or backslash needs escaping inside '...'
    return f"'{token}'" + (":*" if prefix else "")


def _ts_term(term: Term) -> str:
    last = len(term.tokens) - 1
    parts = [_ts_lexeme(token, term.prefix and k == last) for k, token in enumerate(term.tokens)]
    return parts[0] if len(parts) == 1 else "(" + " <-> ".join(parts) + ")"


def to_tsquery(query: Query) -> str:
    """The text for PostgreSQL's `to_tsquery('english', ...)`: `'a' & ('b' | 'c':*) & !('d' <-> 'e')`.

    `to_tsquery` with a text-search configuration stems and folds each quoted lexeme the way the index does.
    """
    parts: list[str] = []
    for item in query.required:
        if isinstance(item, AnyOf):
            parts.append("(" + " | ".join(_ts_term(t) for t in item.options) + ")")
        else:
            parts.append(_ts_term(item))
    parts.extend(f"!{_ts_term(t)}" for t in query.excluded)
    return " & ".join(parts)
