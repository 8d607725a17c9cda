"""The MCP tools, one module per area: assets, transcribe, transcripts, tasks."""
