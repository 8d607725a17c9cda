#!/bin/sh
# mavi-mcp as a shared server: MCP over streamable HTTP for remote agents, and MAVI's webhook (async results:
# named speakers, async Whisper and diarization) on the same port. Configured only through environment variables.
#
#   MCP endpoint  http://$MAVI_MCP_HOST:$MAVI_MCP_PORT/mcp              clients send "Authorization: Bearer <token>"
#   webhook       http://$MAVI_MCP_HOST:$MAVI_MCP_PORT/webhooks/mavi/<secret>   MAVI authenticates by the secret path
#
# Keep the bind on loopback and put a TLS reverse proxy or tunnel in front (MAVI needs public HTTPS); set
# MAVI_MCP_WEBHOOK_PUBLIC_URL to its public base, and the URL to paste into the MAVI console is printed at start
# (also shown by the webhook_info tool). MAVI_MCP_AUTH_TOKEN is the bearer token clients must send; generate one
# with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'
set -eu

: "${MAVI_API_KEY:?set MAVI_API_KEY (memories.ai console -> API keys)}"
: "${MAVI_MCP_AUTH_TOKEN:?set MAVI_MCP_AUTH_TOKEN (the bearer token MCP clients must send)}"
export MAVI_API_KEY MAVI_MCP_AUTH_TOKEN
export MAVI_MCP_TRANSPORT=streamable-http
export MAVI_MCP_HOST="${MAVI_MCP_HOST:-127.0.0.1}"
export MAVI_MCP_PORT="${MAVI_MCP_PORT:-8000}"
# export MAVI_MCP_WEBHOOK_PUBLIC_URL=https://mavi.example.com   # the public HTTPS base in front of this port
# export MAVI_MCP_WEBHOOK_SECRET=...                             # default: generated once, kept in the data dir
# export MAVI_MCP_DATA_DIR=/var/lib/mavi-mcp                      # default: ~/.local/share/mavi-mcp on Linux

# MAVI_MCP_BIN: how to run mavi-mcp (default: the latest release through uvx; or the path of an installed one).
# shellcheck disable=SC2086  # word splitting of "uvx mavi-mcp" is intended
exec ${MAVI_MCP_BIN:-uvx mavi-mcp}
