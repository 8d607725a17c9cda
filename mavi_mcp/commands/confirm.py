"""The cost-confirmation hook: how the command line answers a tool's MCP elicitation request.

A paid tool may ask before it spends (issue 15: above `MAVI_MCP_CONFIRM_ABOVE_USD`, through MCP elicitation in
form mode). The command line answers it here, so its rules are the tools' own rules:

- `--yes`: accepted, the form filled with its defaults and every yes/no field set to yes;
- else, with stdin and stderr on a terminal: the tool's message is shown and the person answers y/n;
- else (a script without `--yes`): declined. The tool then refuses and the command exits with code 5.

URL-mode requests (sign-ins, payments) are always declined: a command line cannot open them for the person.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.client.session import ClientRequestContext
from mcp_types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult, ErrorData

if TYPE_CHECKING:
    from mavi_mcp.commands.progress import Display

Ask = Callable[[str], bool]
"""Shows a question to the person and returns their yes/no (blocking; run in a worker thread)."""

Content = dict[str, str | int | float | bool | list[str] | None]


def form_answers(schema: dict[str, Any]) -> Content | None:
    """Answers for a form that accept it: defaults, yes for yes/no fields, the first choice of an enum.

    None when a required field has no answer that means "yes" (such a form is not a plain confirmation).
    """
    properties: dict[str, Any] = schema.get("properties") or {}
    required: list[str] = schema.get("required") or []
    answers: Content = {}
    for name, spec in properties.items():
        if not isinstance(spec, dict):
            continue
        field: dict[str, Any] = spec  # pyright: ignore[reportUnknownVariableType]
        if field.get("type") == "boolean":
            answers[name] = True
        elif "default" in field:
            answers[name] = field["default"]
        elif isinstance(field.get("enum"), list) and field["enum"]:
            answers[name] = field["enum"][0]
        elif name in required:
            return None
    return answers


class Confirmation:
    """The SDK client's elicitation callback. `refused` keeps the message of the last request it refused."""

    def __init__(self, *, assume_yes: bool, ask: Ask | None, display: Display | None = None) -> None:
        """`ask`: None when nobody can be asked; `display`: the progress display to pause while asking."""
        self.assume_yes = assume_yes
        self.ask = ask
        self.display = display
        self.refused: str | None = None

    @classmethod
    def for_terminal(cls, *, assume_yes: bool, display: Display) -> Confirmation:
        """Asks the person when stdin and stderr are a terminal, else refuses (unless `assume_yes`)."""
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
        return cls(assume_yes=assume_yes, ask=_ask_on_terminal if interactive else None, display=display)

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        if not isinstance(params, ElicitRequestFormParams):
            return self._refuse(params.message)
        answers = form_answers(params.requested_schema)
        if answers is None:
            return self._refuse(params.message)
        if self.assume_yes:
            return ElicitResult(action="accept", content=answers)
        if self.ask is None:
            return self._refuse(params.message)
        ask = self.ask
        if self.display is None:
            yes = await anyio.to_thread.run_sync(ask, params.message)
        else:
            with self.display.paused():
                yes = await anyio.to_thread.run_sync(ask, params.message)
        if yes:
            return ElicitResult(action="accept", content=answers)
        return self._refuse(params.message)

    def _refuse(self, message: str) -> ElicitResult:
        self.refused = message
        return ElicitResult(action="decline")


def _ask_on_terminal(message: str) -> bool:
    from rich.console import Console
    from rich.markup import escape
    from rich.prompt import Confirm

    # the tool's words are shown as written: brackets in them are not rich markup
    return Confirm.ask(f"{escape(message)}\nGo on?", console=Console(stderr=True), default=False)
