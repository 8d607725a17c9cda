"""The command line for people: `mavi-mcp transcribe | speakers | search | transcripts`.

Every command drives the real MCP server in process (`create_server(settings)` and the SDK's in-memory
`Client`) and calls the same tools an agent calls, so jobs, the store, retries, pacing and the webhook are the
tools' own code; nothing here talks to MAVI or the store directly. The command line, the stdio server and the
HTTP server of one user share one store (the same data directory), so a transcript made here is readable by an
agent and the other way round.

Modules: `parser` (arguments; imported by `mavi_mcp.cli.build_parser`, light), `run` (the commands), `session`
(the in-process client, exit codes), `output` (pages -> one document per format), `progress` (rich progress
on stderr when it is a terminal), `confirm` (the cost-confirmation hook: MCP elicitation answered by `--yes`
or by the person at the terminal), `hint` (what the stdio server says when started from a terminal).

Exit codes (`session.ExitCode`), for scripts:

| code | meaning |
| --- | --- |
| 0 | done |
| 1 | internal error (a bug; the message says where the log is) |
| 2 | bad argument or usage (no such file, unknown option, a command this version cannot serve) |
| 3 | missing configuration (no `MAVI_API_KEY` for a command that calls MAVI) |
| 4 | the tool or MAVI refused or failed (API error, network, failed task); the message says why |
| 5 | a cost confirmation was refused (declined at the prompt, or no terminal and no `--yes`) |
| 130 | interrupted (Ctrl-C) |
"""

from mavi_mcp.commands.parser import COMMANDS, add_commands

__all__ = ["COMMANDS", "add_commands"]
