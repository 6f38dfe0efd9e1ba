/*
 * The client's side of MCP: one connection to the Memento MCP server, made lazily inside a
 * turn (so connecting and listing tools are spans of that turn's trace) and made again on
 * the next turn after the server went away.
 *
 * - MEMENTO_MCP_URL ending in /sse: legacy HTTP+SSE.
 * - Any other URL: Streamable HTTP, falling back to legacy SSE on the same URL when the
 *   server answers the initialize POST with a 4xx (the MCP spec's backwards-compatibility
 *   procedure).
 * - No URL: the client starts its own `memento serve --stdio` as a child process, which
 *   exports its spans as `memento-mcp-server`, so the trace still shows two services.
 *
 * The current user travels in every request's `params._meta` (USER_META_KEY), outside the
 * tool arguments the model writes, and `user_id` is removed from the schemas the model sees.
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SseError, SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ChatCompletionTool } from 'openai/resources/chat/completions';
import { log, writeLogLine } from '../log.ts';
import { USER_ARGUMENT, USER_META_KEY } from '../protocol.ts';
import { instrumentClientTransport, type McpTransportKind } from '../telemetry/mcp.ts';
import { VERSION } from '../version.ts';
import { mcpError } from './errors.ts';
import { connectionGone, HttpStatusError, mcpFailure, neverArrived, type McpFailure } from './mcp-failure.ts';
import type { Exchange, FetchLike } from './http.ts';
import { observeStdio } from './traffic.ts';

export interface McpOptions {
  /** Unset: start our own server over stdio. */
  url?: string;
  token?: string;
  fetch: FetchLike;
  /** How long one MCP request may take. */
  requestTimeoutMs: number;
  /** `--traffic` for our own stdio server (HTTP exchanges are seen by `fetch`). */
  onExchange?: (exchange: Exchange) => void;
}

interface Live {
  client: Client;
  kind: McpTransportKind;
  tools: Tool[];
  /** The same tools as the model takes them, converted once per connection. */
  modelTools: ChatCompletionTool[];
  names: Set<string>;
  closed: boolean;
}

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));
const PRELOAD = fileURLToPath(new URL('../telemetry/preload.ts', import.meta.url));

export class McpConnection {
  private live: Live | undefined;
  private connecting: Promise<Live> | undefined;
  private readonly options: McpOptions;

  constructor(options: McpOptions) {
    this.options = options;
  }

  /** Where the tools come from, for messages and `/help`. */
  describe(): string {
    return this.options.url ?? 'its own server (memento serve --stdio)';
  }

  /** The tools in the form the model takes, from the server's own `tools/list`. */
  async modelTools(): Promise<ChatCompletionTool[]> {
    return (await this.connect()).modelTools;
  }

  /** The names of the server's tools. */
  async toolNames(): Promise<Set<string>> {
    return (await this.connect()).names;
  }

  /**
   * Calls a tool for `user`. A request that provably never reached a server (connection
   * refused, or a session the server no longer knows after a restart) is sent once more on a
   * fresh connection; anything that may have reached it is not repeated, so a store is never
   * made twice.
   */
  async call(name: string, args: Record<string, unknown>, user: string, signal?: AbortSignal): Promise<CallToolResult> {
    const params = { name, arguments: args, _meta: { [USER_META_KEY]: user } };
    const options = { signal, timeout: this.options.requestTimeoutMs };
    let live = await this.connect();
    try {
      return (await live.client.callTool(params, undefined, options)) as CallToolResult;
    } catch (err) {
      const failure = mcpFailure(err, live.client.transport !== undefined, signal);
      // The server read the request and refused it (invalid params, too large): the model
      // made a bad call, which it hears about as a tool error, in the server's own words.
      const refusal = refusedByServer(err, failure);
      if (refusal) return refusal;
      if (!neverArrived(failure)) {
        if (connectionGone(failure)) this.drop(live);
        throw mcpError(err, this.options.url, failure);
      }
      log.debug('MCP request did not reach the server; reconnecting once', { failure: failure.kind });
      this.drop(live);
      live = await this.connect();
      try {
        return (await live.client.callTool(params, undefined, options)) as CallToolResult;
      } catch (again) {
        const failure = mcpFailure(again, live.client.transport !== undefined, signal);
        if (connectionGone(failure)) this.drop(live);
        throw mcpError(again, this.options.url, failure);
      }
    }
  }

  async close(): Promise<void> {
    const live = this.live;
    this.live = undefined;
    if (!live) return;
    live.closed = true;
    await live.client.close().catch(() => {});
  }

  private connect(): Promise<Live> {
    if (this.live && !this.live.closed) return Promise.resolve(this.live);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private drop(live: Live): void {
    if (this.live === live) this.live = undefined;
    live.closed = true;
    void live.client.close().catch(() => {});
  }

  private async open(): Promise<Live> {
    const url = this.options.url;
    try {
      let live: Live;
      if (!url) {
        live = await this.start(this.stdioTransport(), 'stdio');
      } else if (new URL(url).pathname.replace(/\/+$/, '').endsWith('/sse')) {
        live = await this.start(this.sseTransport(url), 'sse', url);
      } else {
        try {
          live = await this.start(this.streamableTransport(url), 'http', url);
        } catch (err) {
          const failure = mcpFailure(err);
          if (failure.kind !== 'status' || failure.status < 400 || failure.status >= 500 || failure.status === 401 || failure.status === 403) {
            throw err;
          }
          log.debug('Streamable HTTP refused; trying legacy SSE on the same URL', { status: failure.status });
          live = await this.start(this.sseTransport(url), 'sse', url);
        }
      }
      this.live = live;
      return live;
    } catch (err) {
      throw mcpError(err, url);
    }
  }

  private async start(transport: Transport, kind: McpTransportKind, url?: string): Promise<Live> {
    const client = new Client({ name: 'memento-client', version: VERSION });
    const live: Live = { client, kind, tools: [], modelTools: [], names: new Set(), closed: false };
    client.onclose = () => {
      live.closed = true;
      if (this.live === live) this.live = undefined;
    };
    if (kind === 'sse') {
      // The legacy SSE transport reports a dropped event stream only as an error and stays
      // "open", so requests in flight would wait for their timeout. A legacy session dies
      // with its stream: closing fails them at once, and the next turn reconnects.
      client.onerror = (err) => {
        if (err instanceof SseError) void client.close();
      };
    }
    await client.connect(instrumentClientTransport(transport, { transport: kind, url: url ? new URL(url) : undefined }), {
      timeout: this.options.requestTimeoutMs,
    });
    live.tools = (await client.listTools(undefined, { timeout: this.options.requestTimeoutMs })).tools;
    live.modelTools = live.tools.map(toModelTool);
    live.names = new Set(live.tools.map((t) => t.name));
    log.debug('connected to MCP server', { transport: kind, tools: live.tools.length });
    return live;
  }

  private headers(): Record<string, string> {
    return this.options.token ? { Authorization: `Bearer ${this.options.token}` } : {};
  }

  private streamableTransport(url: string): Transport {
    return new StreamableHTTPClientTransport(new URL(url), {
      fetch: this.options.fetch,
      requestInit: { headers: this.headers() },
    });
  }

  private sseTransport(url: string): Transport {
    const headers = this.headers();
    const fetch = this.options.fetch;
    return new SSEClientTransport(new URL(url), {
      // The SDK reports an HTTP error answer to a POST as a plain Error with the status only
      // in its text; this one carries it as a number.
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (response.ok || init?.method !== 'POST') return response;
        await response.body?.cancel().catch(() => {});
        throw new HttpStatusError(response.status, 'POST');
      },
      requestInit: { headers },
      eventSourceInit: {
        fetch: (input, init) => this.options.fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }),
      },
    });
  }

  private stdioTransport(): Transport {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    // The child's routine chatter would tear the chat's prompt; its warnings still come through.
    env.MEMENTO_LOG_LEVEL ??= 'warn';
    // Our own server's spans are drawn in this terminal right after each turn (`--waterfall`,
    // `/trace`): it writes them out soon after each request instead of once a second.
    env.OTEL_BSP_SCHEDULE_DELAY ??= '100';
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', PRELOAD, CLI, 'serve', '--stdio'],
      env,
      stderr: 'pipe',
    });
    let partial = '';
    const observed = this.options.onExchange ? observeStdio(transport, this.options.onExchange) : transport;
    transport.stderr?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) writeLogLine(`${line}\n`);
    });
    return observed;
  }
}

/** The MCP tool as an OpenAI function tool, minus the identity argument the client supplies. */
export function toModelTool(tool: Tool): ChatCompletionTool {
  const schema = structuredClone(tool.inputSchema) as { properties?: Record<string, unknown>; required?: string[] };
  if (schema.properties) delete schema.properties[USER_ARGUMENT];
  if (schema.required) schema.required = schema.required.filter((r) => r !== USER_ARGUMENT);
  return {
    type: 'function',
    function: {
      name: tool.name,
      description: tool.description ?? tool.title ?? tool.name,
      parameters: schema as Record<string, unknown>,
    },
  };
}

/** A request the server answered with a refusal: the JSON-RPC error, or a 413 for its size. */
function refusedByServer(err: unknown, failure: McpFailure): CallToolResult | undefined {
  let text: string | undefined;
  if (failure.kind === 'other' && err instanceof McpError) {
    text = err.message;
  } else if (failure.kind === 'status' && failure.status === 413) {
    text = `the MCP server refused a request this large (413): ${String((err as Error).message).replace(/^Streamable HTTP error: /, '').slice(0, 300)}`;
  }
  return text === undefined ? undefined : { isError: true, content: [{ type: 'text', text }] };
}
