#!/bin/sh
# Add mavi-mcp to Claude Code (run one of these once; `claude mcp list` shows it, `/mcp` inside Claude Code too).
set -eu

# The real API, for you only (user scope); the key is stored in Claude Code's config, not in the project.
claude mcp add --scope user mavi -e MAVI_API_KEY="${MAVI_API_KEY:?set MAVI_API_KEY}" -- uvx mavi-mcp

# The built-in simulator with real recordings: no key, nothing billed.
claude mcp add mavi-sandbox -- uvx mavi-mcp --sandbox

# A shared server deployed with examples/http/serve.sh (streamable HTTP, bearer token).
claude mcp add --transport http mavi-remote https://mavi.example.com/mcp \
  --header "Authorization: Bearer ${MAVI_MCP_AUTH_TOKEN:?set MAVI_MCP_AUTH_TOKEN}"
