"""The search query syntax: parsing, FTS5 and tsquery compilation, and that no input reaches FTS5's own syntax."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mavi_mcp.errors import InputError
from mavi_mcp.search.query import MAX_TERMS, AnyOf, Query, Term, parse, to_fts5, to_tsquery

TEXT = [
    "The membership fees went up at Costco in the third quarter.",
    "Renewal rates stayed above ninety percent; the café sold e-commerce gift cards.",
    "Our NEAR term outlook: revenue OR margin, you decide.",
]


@pytest.fixture
def fts() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')")
    db.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)", list(enumerate(TEXT)))
    return db


def matches(db: sqlite3.Connection, query: str) -> list[int]:
    expression = to_fts5(parse(query))
    return [row[0] for row in db.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid", (expression,))]


def test_words_are_all_required_and_case_folded() -> None:
    assert parse("Membership FEES") == Query((Term(("membership",)), Term(("fees",))))


def test_a_quoted_phrase_is_one_term_with_its_words_in_order() -> None:
    assert parse('"membership fees" costco') == Query((Term(("membership", "fees")), Term(("costco",))))


def test_or_joins_the_items_on_either_side_and_binds_tighter_than_and() -> None:
    query = parse("fee OR price OR cost membership")
    assert query.required == (
        AnyOf((Term(("fee",)), Term(("price",)), Term(("cost",)))),
        Term(("membership",)),
    )


def test_lower_case_or_is_a_word_and_and_is_ignored() -> None:
    assert parse("this or that AND more").required == (
        Term(("this",)),
        Term(("or",)),
        Term(("that",)),
        Term(("more",)),
    )


def test_minus_and_not_exclude_words_and_phrases() -> None:
    query = parse('fees -costco -"gift cards" NOT renewal')
    assert query.required == (Term(("fees",)),)
    assert query.excluded == (Term(("costco",)), Term(("gift", "cards")), Term(("renewal",)))


def test_a_trailing_star_makes_a_prefix_term() -> None:
    assert parse("memb* -rene*") == Query((Term(("memb",), prefix=True),), (Term(("rene",), prefix=True),))


def test_punctuation_splits_words_like_the_index_tokenizer() -> None:
    assert parse("e-commerce").required == (Term(("e", "commerce")),)
    assert parse("(revenue)").required == (Term(("revenue",)),)


@pytest.mark.parametrize("text", ["", "   ", "-", "***", '""', "OR", "( )", "--- !!"])
def test_a_query_with_nothing_to_search_for_is_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(InputError, match="no word to search for") as info:
        parse(text)
    assert '"exact phrase"' in str(info.value)


def test_only_exclusions_is_refused_with_an_example() -> None:
    with pytest.raises(InputError, match="only -exclusions"):
        parse("-costco -renewal")


def test_too_many_terms_is_refused() -> None:
    with pytest.raises(InputError, match=f"more than {MAX_TERMS} terms"):
        parse(" ".join(f"w{i}" for i in range(MAX_TERMS + 1)))


def test_fts5_expression_quotes_every_term() -> None:
    assert to_fts5(parse('fee OR "price list" memb* -costco -"gift card"')) == (
        '(("fee" OR "price list") AND "memb"*) NOT ("costco" OR "gift card")'
    )


def test_fts5_search_folds_case_diacritics_and_stems(fts: sqlite3.Connection) -> None:
    assert matches(fts, "FEE") == [0]
    assert matches(fts, "cafe") == [1]
    assert matches(fts, "renew") == [1]


def test_fts5_search_phrases_prefixes_or_and_exclusions(fts: sqlite3.Connection) -> None:
    assert matches(fts, '"membership fees"') == [0]
    assert matches(fts, '"fees membership"') == []
    assert matches(fts, "memb*") == [0]
    assert matches(fts, "costco OR cafe") == [0, 1]
    assert matches(fts, "the OR our -costco") == [1, 2]
    assert matches(fts, 'the OR our -"gift cards"') == [0, 2]


def test_fts5_operators_typed_by_the_agent_are_plain_words(fts: sqlite3.Connection) -> None:
    assert matches(fts, "NEAR(term outlook)") == [2]
    assert matches(fts, "text:costco") == []  # not a column filter: the phrase "text costco"
    assert matches(fts, "^membership") == [0]


def test_tsquery_text_quotes_lexemes_and_uses_phrase_prefix_and_not_operators() -> None:
    assert to_tsquery(parse('fee OR "price list" memb* -costco -"gift card"')) == (
        "('fee' | ('price' <-> 'list')) & 'memb':* & !'costco' & !('gift' <-> 'card')"
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_refused_clearly_or_compiles_to_an_expression_fts5_accepts(text: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO t VALUES ('some words')")
    try:
        query = parse(text)
    except InputError:
        return
    db.execute("SELECT count(*) FROM t WHERE t MATCH ?", (to_fts5(query),)).fetchone()
    compiled = to_tsquery(query)
    assert "\\" not in compiled
    assert compiled.count("'") % 2 == 0


def test_relaxing_joins_every_required_item_by_or_and_keeps_exclusions() -> None:
    from mavi_mcp.search.query import relaxed

    loose = relaxed(parse('tax "rate" fee OR price -costco'))
    assert loose is not None
    assert to_fts5(loose) == '(("tax" OR "rate" OR "fee" OR "price")) NOT ("costco")'
    assert relaxed(parse("tax")) is None
    assert relaxed(parse("tax OR rate")) is None
