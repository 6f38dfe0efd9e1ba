/*
 * The floor: the MCP SDK's own McpServer with one no-op tool, served the way Memento serves
 * (node:http, one McpServer and transport per session, Streamable HTTP at /mcp, legacy SSE at
 * /sse + /messages), or on stdio. Whatever Memento takes beyond this on the same transport is
 * Memento's own cost: tools, schemas, storage, identity and tracing.
 *
 * argv: http | stdio [json] [traced | otel]: with `json`, Streamable HTTP answers POSTs with plain
 * JSON (enableJsonResponse), the mode Memento's server uses, instead of an SSE stream per POST.
 *
 * `traced`: the same server with the telemetry Memento's traced server has, and nothing else of
 * Memento: the OpenTelemetry setup of `memento serve` (src/telemetry/setup.ts: the SDK,
 * instrumentation-http, the redacting processor, the batch processor and OTLP exporter from the
 * OTEL_* environment), the HTTP peer on the context and the MCP span decorator on each
 * transport (src/telemetry/mcp.ts), as src/server/http does. What it costs per call over the
 * plain floor is what tracing costs a call before any Memento tool or storage code runs.
 * `otel`: the setup and instrumentation-http only, no MCP decorator (splits the two).
 *
 * `durable=<dir>`: the floor of a durable store. Besides `noop`, a `store_memory` tool with
 * Memento's own definition (its input and output schemas, so the SDK validates the same on
 * both ends) whose handler is the least a store meeting issue 11's contract can do, written
 * here with no Memento code: the content and its metadata as two plain files, each written
 * under a temporary name and linked into place (nothing half-written ever has a final name),
 * and one row in an SQLite index (WAL, synchronous NORMAL, one transaction). No input rules,
 * naming, tags, search words, reconciliation or spans. Memento's store_memory minus this is
 * what Memento's own code costs a store.
 *
 * `schema`: the same `store_memory` (Memento's definition) with a handler that writes nothing
 * and returns a result of the same shape: what the tool's contract costs on the wire (its
 * larger request and result, validated by the SDK on both ends), without the disk.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

const flags = process.argv.slice(3);
const tracing = flags.includes('traced') ? 'traced' : flags.includes('otel') ? 'otel' : undefined;
// The SDK first, as memento-server.ts and the CLI do, so its instrumentations are in place
// before node:http and the MCP SDK are loaded.
const telemetry = tracing ? (await import('../../src/telemetry/setup.ts')).startTelemetry('server') : undefined;
const { default: http } = await import('node:http');
const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
const { SSEServerTransport } = await import('@modelcontextprotocol/sdk/server/sse.js');
const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
const { isInitializeRequest } = await import('@modelcontextprotocol/sdk/types.js');
type Transport = import('@modelcontextprotocol/sdk/shared/transport.js').Transport;
type McpServer = InstanceType<typeof McpServer>;
type StreamableHTTPServerTransport = InstanceType<typeof StreamableHTTPServerTransport>;
type SSEServerTransport = InstanceType<typeof SSEServerTransport>;
const mcpSpans = tracing === 'traced' ? await import('../../src/telemetry/mcp.ts') : undefined;
const peer = tracing === 'traced' ? await import('../../src/telemetry/peer.ts') : undefined;
const { context } = await import('@opentelemetry/api');
const durableDir = flags.find((f) => f.startsWith('durable='))?.slice('durable='.length);
const schemaOnly = flags.includes('schema');
const TOOLS = durableDir || schemaOnly ? (await import('../../src/server/tools.ts')).TOOLS : undefined;
const durable = durableDir ? await durableStore(durableDir) : schemaOnly ? resultOf : undefined;

type StoreArgs = { content: string; description?: string; tags?: string[] | string };
let seq = 0;
/** store_memory's structured result for `args`, with a made-up id and file name (`schema`: all it does). */
function resultOf(args: StoreArgs) {
  const created = new Date();
  const id = `${created.getTime()}-${process.pid}-${seq++}`;
  const file = `${created.toISOString().replace(/\D/g, '').slice(0, 14)}_${id}.txt`;
  const tags = Array.isArray(args.tags) ? args.tags : args.tags ? [args.tags] : [];
  return { id, file, description: args.description ?? '', tags, created: created.toISOString(), size: Buffer.byteLength(args.content) };
}

/** The least durable store (see the header): returns store_memory's structured result. */
async function durableStore(dir: string) {
  const { linkSync, mkdirSync, unlinkSync, writeFileSync, openSync, fstatSync, closeSync, constants } = await import('node:fs');
  const { join } = await import('node:path');
  const { DatabaseSync } = await import('node:sqlite');
  const files = join(dir, 'user');
  mkdirSync(files, { recursive: true });
  const db = new DatabaseSync(join(dir, 'index.sqlite'));
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS memories (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, file TEXT NOT NULL UNIQUE, meta TEXT NOT NULL, mtime REAL NOT NULL);`);
  const insert = db.prepare('INSERT INTO memories (id, file, meta, mtime) VALUES (?, ?, ?, ?)');
  const write = (p: string, data: string) => {
    const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeFileSync(fd, data);
      return fstatSync(fd).mtimeMs;
    } finally {
      closeSync(fd);
    }
  };
  return (args: StoreArgs) => {
    const meta = resultOf(args);
    const tempContent = join(files, `.tmp-${meta.id}.content`);
    const tempMeta = join(files, `.tmp-${meta.id}.meta`);
    const mtime = write(tempContent, args.content);
    linkSync(tempContent, join(files, meta.file));
    const sidecar = JSON.stringify(meta);
    write(tempMeta, sidecar);
    linkSync(tempMeta, join(files, `${meta.file}.meta.json`));
    unlinkSync(tempContent);
    unlinkSync(tempMeta);
    db.exec('BEGIN IMMEDIATE');
    insert.run(meta.id, meta.file, sidecar, mtime);
    db.exec('COMMIT');
    return meta;
  };
}

/** The transport as Memento's traced server connects it (src/server/http/routes.ts `traced`). */
function decorated(transport: Transport, kind: 'http' | 'sse' | 'stdio'): Transport {
  return mcpSpans ? mcpSpans.instrumentServerTransport(transport, { transport: kind }) : transport;
}

function newServer(): McpServer {
  const server = new McpServer({ name: 'floor', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.registerTool('noop', { description: 'Does nothing.', inputSchema: {} }, async () => ({
    content: [{ type: 'text', text: 'ok' }],
  }));
  if (durable) {
    server.registerTool('store_memory', TOOLS!.store_memory, async (args) => {
      const meta = durable(args);
      return { content: [{ type: 'text', text: JSON.stringify(meta) }], structuredContent: meta };
    });
  }
  return server;
}

async function readJson(req: import('node:http').IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) parts.push(c);
  return parts.length ? JSON.parse(Buffer.concat(parts).toString('utf8')) : undefined;
}

if (process.argv[2] === 'stdio') {
  await newServer().connect(decorated(new StdioServerTransport(), 'stdio'));
} else {
  const { serveParent, processHandlers } = await import('../lib/child.ts');
  const streamable = new Map<string, StreamableHTTPServerTransport>();
  const sse = new Map<string, SSEServerTransport>();
  const handle = async (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/mcp') {
        const id = req.headers['mcp-session-id'];
        if (req.method === 'POST') {
          const body = await readJson(req);
          let transport = typeof id === 'string' ? streamable.get(id) : undefined;
          if (!transport && isInitializeRequest(body)) {
            const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
              sessionIdGenerator: () => randomUUID(),
              enableJsonResponse: flags.includes('json'),
              onsessioninitialized: (sid) => void streamable.set(sid, t),
            });
            t.onclose = () => t.sessionId && streamable.delete(t.sessionId);
            await newServer().connect(decorated(t, 'http'));
            transport = t;
          }
          if (!transport) return void res.writeHead(404).end();
          return void (await transport.handleRequest(req, res, body));
        }
        const transport = typeof id === 'string' ? streamable.get(id) : undefined;
        if (!transport) return void res.writeHead(404).end();
        return void (await transport.handleRequest(req, res));
      }
      if (url.pathname === '/sse' && req.method === 'GET') {
        const t = new SSEServerTransport('/messages', res);
        sse.set(t.sessionId, t);
        res.on('close', () => sse.delete(t.sessionId));
        await newServer().connect(decorated(t, 'sse'));
        return;
      }
      if (url.pathname === '/messages' && req.method === 'POST') {
        const t = sse.get(url.searchParams.get('sessionId') ?? '');
        if (!t) return void res.writeHead(404).end();
        return void (await t.handlePostMessage(req, res, await readJson(req)));
      }
      res.writeHead(404).end();
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    }
  };
  // Who called, for the MCP server span (src/server/http/app.ts does the same when traced).
  const app = http.createServer(peer ? (req, res) => void context.with(peer.withPeer(context.active(), req.socket), () => handle(req, res)) : (req, res) => void handle(req, res));
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  serveParent({ ...processHandlers(), flush: () => telemetry?.forceFlush() }, { traced: telemetry?.enabled ?? false, url: `http://127.0.0.1:${(app.address() as AddressInfo).port}` });
}
