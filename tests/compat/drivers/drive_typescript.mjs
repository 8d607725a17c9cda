// The MCP TypeScript SDK's client (@modelcontextprotocol/sdk, StdioClientTransport): the model gets the text
// content. Run as `node drive_typescript.mjs <config.json>` with NODE_PATH pointing at the node_modules that hold
// the SDK; the config is the one scripted.py describes (the same scripted agent, in JavaScript).
// Long calls: `client.callTool(params, undefined, { timeout: ms })` (default 60 s).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH + "/");
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const FOOTER = /transcript_id\\?["']?\s*[:=]\s*\\?["']([\w.-]+)/;
const CURSOR = /(?:next_)?cursor\\?["']?\s*[:=]\s*\\?["']([\w.-]+)/;

function nextCall(seen) {
  const transcript = FOOTER.exec(seen);
  const cursor = CURSOR.exec(seen);
  if (!transcript || !cursor) return null;
  return { name: "get_transcript", arguments: { transcript_id: transcript[1], cursor: cursor[1] } };
}

const transport = new StdioClientTransport({
  command: cfg.command[0],
  args: cfg.command.slice(1),
  env: { ...process.env, ...cfg.env },
  stderr: "inherit",
});
const client = new Client({ name: "mavi-compat", version: "1.0.0" });
await client.connect(transport);
const tools = (await client.listTools()).tools.map((tool) => tool.name);
const seen = [];
let call = { name: "transcribe_whisper", arguments: { asset_id: cfg.asset_id, wait_seconds: cfg.wait_seconds } };
while (call && seen.length < 30) {
  const result = await client.callTool(call, undefined, { timeout: cfg.timeout * 1000 });
  if (result.isError) throw new Error(JSON.stringify(result));
  seen.push(result.content.filter((block) => block.type === "text").map((block) => block.text).join("\n"));
  call = nextCall(seen[seen.length - 1]);
}
writeFileSync(cfg.out, JSON.stringify({ tools, seen }));
await client.close();
