"""The tool definitions' cost stays under a budget (benchmarks/tool_tokens.py measures it; issue 14)."""

from __future__ import annotations

from benchmarks.tool_tokens import count_tokens, figures_of, group_rows, measure
from mavi_mcp.toolsets import GROUPS
from tests.helpers import TOOLS

TOKEN_BUDGET = 4000
"""Issue 14's budget: cl100k tokens of name + description + input schema of all tools (measured 3,934)."""

TOOLS_LIST_CHARS_BUDGET = 30000
"""Issue 14's budget: characters of the whole tools/list answer (measured 25,438)."""


def test_the_offline_tokenizer_is_cl100k_base() -> None:
    # Known cl100k_base encodings: "hello world" is 2 tokens, " tokenization" 2 ("token", "ization").
    assert count_tokens("hello world") == 2
    assert count_tokens("tokenization") == 2
    assert count_tokens("<|endoftext|>") > 1  # special tokens are counted as the text a model would be shown


def test_the_tool_definitions_stay_under_the_token_budget() -> None:
    figures = measure()
    assert [t.name for t in figures.tools] == TOOLS
    assert all(t.tokens > t.schema_tokens > 0 for t in figures.tools)
    assert figures.total_tokens <= TOKEN_BUDGET, f"{figures.total_tokens} tokens: over the budget {TOKEN_BUDGET}"
    assert figures.tools_list_chars <= TOOLS_LIST_CHARS_BUDGET, f"{figures.tools_list_chars} characters"


def test_each_groups_figure_is_what_the_server_lists_with_only_that_group() -> None:
    rows = {group: (count, tokens) for group, count, tokens in group_rows(measure())}
    assert list(rows) == list(GROUPS)
    for group in GROUPS:
        alone = measure(tools=group)
        assert [t.name for t in alone.tools] == list(GROUPS[group])
        assert rows[group] == (len(GROUPS[group]), alone.total_tokens)
    assert rows["all"][1] <= TOKEN_BUDGET
    assert rows["core"][1] < rows["all"][1] / 2  # the everyday tools cost under half of everything


def test_figures_count_name_description_and_schema_of_each_tool() -> None:
    listing = {
        "tools": [
            {"name": "a", "description": "hello world", "inputSchema": {"type": "object"}},
            {"name": "b", "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"}},
        ]
    }
    figures = figures_of(listing)
    assert [t.tokens for t in figures.tools] == [
        count_tokens('a\nhello world\n{"type":"object"}'),
        count_tokens('b\n\n{"type":"object"}'),
    ]
    assert figures.total_tokens == sum(t.tokens for t in figures.tools)
    assert [t.output_schema_chars for t in figures.tools] == [0, len('{"type":"object"}')]
    assert figures.tools_list_chars == len(
        '{"tools":[{"name":"a","description":"hello world","inputSchema":{"type":"object"}},'
        '{"name":"b","inputSchema":{"type":"object"},"outputSchema":{"type":"object"}}]}'
    )
