/*
 * A load generator in its own process, so the server under load does not share an event loop
 * (or its CPU accounting) with the clients driving it. It holds any number of MCP sessions
 * over Streamable HTTP (SDK clients) and runs closed loops of tool calls on all of them at
 * once: each session sends its next call as soon as the previous one is answered.
 *
 * Mixes:
 *   mixed   store_memory, retrieve_memories, search_memories in turn (the store grows).
 *   steady  store_memory → get_memory → search_memories → delete_memory → retrieve_memories:
 *           every memory stored is deleted again, so the server's data does not grow and any
 *           growth in its memory is the server's own.
 *   noop    the floor server's no-op tool: what the SDK and HTTP alone allow.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { cpuMicros, processHandlers, sendEvent, serveParent } from '../lib/child.ts';
import { memoryText, queries } from '../lib/corpus.ts';
import { callTool, connect } from '../lib/mcp.ts';
import { summarize } from '../lib/stats.ts';

type Session = { client: Client; user: string; transport: StreamableHTTPClientTransport };
/**
 * Sessions by group: a benchmark that compares servers keeps one group open per server and
 * alternates between them round by round (`group` in each call; one group when left out).
 */
const groups = new Map<string, Session[]>();
const words = queries(256, 29);
/** A call's counter per group, so each server sees the same sequence of calls. */
const counters = new Map<string, number>();

async function open(args: { url: string; sessions: number; userPrefix: string; usersShared?: number; group?: string }) {
  const t0 = performance.now();
  const group = args.group ?? '';
  let sessions = groups.get(group);
  if (!sessions) groups.set(group, (sessions = []));
  const batch = 32;
  for (let i = 0; i < args.sessions; i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, args.sessions - i) }, async (_, k) => {
        const n = i + k;
        const user = `${args.userPrefix}-${args.usersShared ? n % args.usersShared : n}`;
        const client = await connect({ kind: 'http', url: args.url });
        return { client, user, transport: client.transport as StreamableHTTPClientTransport };
      }),
    );
    sessions.push(...opened);
  }
  return { sessions: sessions.length, seconds: (performance.now() - t0) / 1000 };
}

/** Ends every session (of one group, or of all) with a DELETE, as a well-behaved client does, then closes it. */
async function close(args?: { group?: string }) {
  const names = args?.group !== undefined ? [args.group] : [...groups.keys()];
  for (const name of names) {
    const sessions = groups.get(name) ?? [];
    groups.delete(name);
    counters.delete(name);
    await Promise.all(sessions.map((s) => s.transport.terminateSession().catch(() => {})));
    await Promise.all(sessions.map((s) => s.client.close().catch(() => {})));
  }
}

function idOf(result: CallToolResult): string {
  return (result.structuredContent as { id: string }).id;
}

/**
 * One closed-loop run on every session of a group. With `samples`, the latencies come back
 * raw (ms, in call order) besides their summary, for a caller that pools several runs.
 */
async function run(args: { mix: 'mixed' | 'steady' | 'noop'; durationMs?: number; calls?: number; eventEvery?: number; group?: string; samples?: boolean }) {
  const group = args.group ?? '';
  const sessions = groups.get(group) ?? [];
  let ok = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const latencies: number[] = [];
  let counter = counters.get(group) ?? 0;
  let nextEvent = args.eventEvery ?? Infinity;
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  const deadline = args.durationMs === undefined ? Infinity : t0 + args.durationMs;
  const budget = args.calls ?? Infinity;
  const more = () => performance.now() < deadline && ok + errors < budget;

  const timed = async (fn: () => Promise<CallToolResult>): Promise<CallToolResult | undefined> => {
    const start = performance.now();
    try {
      const result = await fn();
      latencies.push(performance.now() - start);
      ok++;
      return result;
    } catch (err) {
      errors++;
      if (errorSamples.length < 5) errorSamples.push(String((err as Error).message ?? err).slice(0, 300));
      return undefined;
    } finally {
      if (ok + errors >= nextEvent) {
        sendEvent({ calls: ok + errors, errors });
        nextEvent += args.eventEvery!;
      }
    }
  };

  await Promise.all(
    sessions.map(async ({ client, user }) => {
      while (more()) {
        const i = counter++;
        const m = memoryText(i, 31);
        const q = words[i % words.length]!;
        if (args.mix === 'noop') {
          await timed(() => callTool(client, 'noop', {}, user));
          continue;
        }
        if (args.mix === 'mixed') {
          const op = i % 3;
          if (op === 0) await timed(() => callTool(client, 'store_memory', { content: m.content, description: m.description, tags: m.tags }, user));
          else if (op === 1) await timed(() => callTool(client, 'retrieve_memories', {}, user));
          else await timed(() => callTool(client, 'search_memories', { query: q }, user));
          continue;
        }
        const stored = await timed(() => callTool(client, 'store_memory', { content: m.content, description: m.description, tags: m.tags }, user));
        if (!stored || !more()) continue;
        const id = idOf(stored);
        await timed(() => callTool(client, 'get_memory', { id }, user));
        await timed(() => callTool(client, 'search_memories', { query: q }, user));
        await timed(() => callTool(client, 'delete_memory', { id }, user));
        await timed(() => callTool(client, 'retrieve_memories', { limit: 5 }, user));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  counters.set(group, counter);
  return {
    ok,
    errors,
    errorSamples,
    seconds,
    clientCpuUs: cpuMicros() - cpu0,
    latency: summarize(latencies),
    ...(args.samples ? { samples: latencies } : {}),
  };
}

serveParent({ ...processHandlers(), open, close, run }, { pid: process.pid });
