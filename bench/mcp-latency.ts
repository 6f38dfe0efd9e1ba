/*
 * MCP latency: store_memory and retrieve_memories, one call at a time, over Streamable HTTP,
 * legacy SSE and stdio, next to the floor (the SDK's McpServer with a no-op tool, served the
 * same way) on the same transport in the same run. Memento is measured untraced and with its
 * real tracing (OTLP to the benchmark's collector), since a deployed server is traced.
 * The client is this process, alone: every server is a process of its own.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { cleanEnv, startChild, type Child } from './lib/child.ts';
import { memoryText } from './lib/corpus.ts';
import { callTool, connect, floorStdio, mementoStdio, type Target, type TransportKind } from './lib/mcp.ts';
import { progress } from './lib/progress.ts';
import { fmt, summarize, table, type Summary } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult, TargetCheck } from './lib/types.ts';

const TARGET_P50_OVER_FLOOR_MS = 0.5;
const TARGET_P99_MS = 10;
/** Issue 11: a store's p50 within this of the SDK floor. */
const ISSUE_11_STORE_OVER_FLOOR_MS = 0.3;

type ServerKind = 'floor' | 'floor-schema' | 'floor-durable' | 'memento' | 'memento-traced';
type Op = 'noop' | 'store_memory' | 'retrieve_memories';
const TRANSPORTS: TransportKind[] = ['http', 'sse', 'stdio'];
const SERVERS: ServerKind[] = ['floor', 'floor-schema', 'floor-durable', 'memento', 'memento-traced'];
const TRANSPORT_LABEL: Record<TransportKind, string> = { http: 'Streamable HTTP', sse: 'SSE (legacy)', stdio: 'stdio' };
const SERVER_LABEL: Record<ServerKind, string> = {
  floor: 'floor (SDK, no-op tool)',
  'floor-schema': 'floor with store_memory’s schemas, writing nothing',
  'floor-durable': 'durable floor (SDK, least durable store)',
  memento: 'Memento, untraced',
  'memento-traced': 'Memento, traced',
};

function opsOf(server: ServerKind): Op[] {
  if (server === 'floor') return ['noop'];
  if (server === 'floor-durable' || server === 'floor-schema') return ['store_memory'];
  return ['store_memory', 'retrieve_memories'];
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const rounds = options.quick ? 2 : 5;
  const perRound = options.quick ? 50 : 120;
  const warmup = options.quick ? 50 : 150;
  const children: Child[] = [];
  const clients: Client[] = [];
  try {
    progress('mcp-latency: starting collector and servers');
    const collector = await startChild<{ url: string }>('collector.ts');
    children.push(collector);
    const tracedEnv = { OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: collector.ready.url };
    const dir = (name: string) => join(options.workDir, name);
    for (const d of ['http-plain', 'http-traced', 'stdio-plain', 'stdio-traced']) await mkdir(dir(d), { recursive: true });

    const floorHttp = await startChild<{ url: string }>('floor-server.ts', { args: ['http', 'json'] });
    const schemaHttp = await startChild<{ url: string }>('floor-server.ts', { args: ['http', 'json', 'schema'] });
    const durableHttp = await startChild<{ url: string }>('floor-server.ts', { args: ['http', 'json', `durable=${dir('http-durable')}`] });
    const plainHttp = await startChild<{ url: string }>('memento-server.ts', { args: [dir('http-plain')] });
    const tracedHttp = await startChild<{ url: string }>('memento-server.ts', { args: [dir('http-traced')], env: cleanEnv(tracedEnv) });
    children.push(floorHttp, schemaHttp, durableHttp, plainHttp, tracedHttp);
    const httpUrl: Record<ServerKind, string> = {
      floor: floorHttp.ready.url,
      'floor-schema': schemaHttp.ready.url,
      'floor-durable': durableHttp.ready.url,
      memento: plainHttp.ready.url,
      'memento-traced': tracedHttp.ready.url,
    };
    const targetOf = (transport: TransportKind, server: ServerKind): Target => {
      if (transport !== 'stdio') return { kind: transport, url: httpUrl[server] };
      if (server === 'floor') return { kind: 'stdio', server: floorStdio(cleanEnv()) };
      if (server === 'floor-schema') return { kind: 'stdio', server: floorStdio(cleanEnv(), ['schema']) };
      if (server === 'floor-durable') return { kind: 'stdio', server: floorStdio(cleanEnv(), [`durable=${dir('stdio-durable')}`]) };
      if (server === 'memento') return { kind: 'stdio', server: mementoStdio(dir('stdio-plain'), cleanEnv()) };
      return { kind: 'stdio', server: mementoStdio(dir('stdio-traced'), cleanEnv(tracedEnv)) };
    };

    const connected = new Map<string, Client>();
    for (const transport of TRANSPORTS) {
      for (const server of SERVERS) {
        const client = await connect(targetOf(transport, server));
        clients.push(client);
        connected.set(`${transport}/${server}`, client);
      }
    }

    let stored = 0;
    const call = (client: Client, op: Op) => {
      if (op === 'noop') return callTool(client, 'noop', {});
      if (op === 'store_memory') {
        const m = memoryText(stored++, 23);
        return callTool(client, 'store_memory', { content: m.content, description: m.description, tags: m.tags }, 'latency');
      }
      return callTool(client, 'retrieve_memories', {}, 'latency');
    };

    const samples = new Map<string, number[]>();
    const cells: { transport: TransportKind; server: ServerKind; op: Op }[] = [];
    for (const transport of TRANSPORTS) for (const server of SERVERS) for (const op of opsOf(server)) cells.push({ transport, server, op });

    progress(`mcp-latency: warming up (${warmup} calls per transport, server and tool)`);
    for (const c of cells) {
      const client = connected.get(`${c.transport}/${c.server}`)!;
      for (let i = 0; i < warmup; i++) await call(client, c.op);
      samples.set(`${c.transport}/${c.server}/${c.op}`, []);
    }

    for (let r = 0; r < rounds; r++) {
      // Rotate which cell goes first, so no server always follows the same neighbour.
      const order = cells.map((_, i) => cells[(i + r * 3) % cells.length]!);
      for (const c of order) {
        const client = connected.get(`${c.transport}/${c.server}`)!;
        const out = samples.get(`${c.transport}/${c.server}/${c.op}`)!;
        for (let i = 0; i < perRound; i++) {
          const t0 = performance.now();
          await call(client, c.op);
          out.push(performance.now() - t0);
        }
      }
      progress(`mcp-latency: round ${r + 1}/${rounds} done`);
    }

    const stat = (t: TransportKind, s: ServerKind, op: Op): Summary => summarize(samples.get(`${t}/${s}/${op}`)!);
    const rows: string[][] = [];
    const targets: TargetCheck[] = [];
    const data: Record<string, Summary> = {};
    for (const t of TRANSPORTS) {
      const floor = stat(t, 'floor', 'noop');
      data[`${t}/floor/noop`] = floor;
      rows.push([TRANSPORT_LABEL[t], SERVER_LABEL.floor, 'noop', fmt(floor.p50), fmt(floor.p90), fmt(floor.p99), '–', '1.00×', '–']);
      const schema = stat(t, 'floor-schema', 'store_memory');
      data[`${t}/floor-schema/store_memory`] = schema;
      const durable = stat(t, 'floor-durable', 'store_memory');
      data[`${t}/floor-durable/store_memory`] = durable;
      const plus = (ms: number) => `${ms < 0 ? '−' : '+'}${fmt(Math.abs(ms))}`;
      rows.push([TRANSPORT_LABEL[t], SERVER_LABEL['floor-schema'], 'store_memory', fmt(schema.p50), fmt(schema.p90), fmt(schema.p99), plus(schema.p50 - floor.p50), `${(schema.p50 / floor.p50).toFixed(2)}×`, '–']);
      rows.push([TRANSPORT_LABEL[t], SERVER_LABEL['floor-durable'], 'store_memory', fmt(durable.p50), fmt(durable.p90), fmt(durable.p99), plus(durable.p50 - floor.p50), `${(durable.p50 / floor.p50).toFixed(2)}×`, '–']);
      targets.push({
        what: `${TRANSPORT_LABEL[t]} the durable floor's store_memory p50 − floor (no Memento code: what issue 11's contract costs by itself)`,
        target: 'reported',
        measured: `${plus(durable.p50 - floor.p50)} ms (the schemas alone ${plus(schema.p50 - floor.p50)}, the durable write ${plus(durable.p50 - schema.p50)})`,
        met: undefined,
      });
      for (const s of ['memento', 'memento-traced'] as const) {
        for (const op of opsOf(s)) {
          const m = stat(t, s, op);
          data[`${t}/${s}/${op}`] = m;
          const overDurable = op === 'store_memory' ? plus(m.p50 - durable.p50) : '–';
          rows.push([TRANSPORT_LABEL[t], SERVER_LABEL[s], op, fmt(m.p50), fmt(m.p90), fmt(m.p99), plus(m.p50 - floor.p50), `${(m.p50 / floor.p50).toFixed(2)}×`, overDurable]);
          if (op === 'store_memory' && s === 'memento') {
            targets.push({
              what: `${TRANSPORT_LABEL[t]} store_memory (untraced): p50 − floor (issue 11)`,
              target: `≤ ${ISSUE_11_STORE_OVER_FLOOR_MS} ms`,
              measured: `${plus(m.p50 - floor.p50)} ms`,
              met: m.p50 - floor.p50 <= ISSUE_11_STORE_OVER_FLOOR_MS,
            });
            targets.push({
              what: `${TRANSPORT_LABEL[t]} store_memory (untraced): p50 − durable floor (Memento's own code)`,
              target: 'reported',
              measured: `${overDurable} ms`,
              met: undefined,
            });
          }
          targets.push({
            what: `${TRANSPORT_LABEL[t]} ${op} (${s === 'memento' ? 'untraced' : 'traced'}): p50 − floor`,
            target: `≤ ${TARGET_P50_OVER_FLOOR_MS} ms`,
            measured: `${fmt(m.p50 - floor.p50)} ms`,
            met: m.p50 - floor.p50 <= TARGET_P50_OVER_FLOOR_MS,
          });
          targets.push({
            what: `${TRANSPORT_LABEL[t]} ${op} (${s === 'memento' ? 'untraced' : 'traced'}): p99`,
            target: `≤ ${TARGET_P99_MS} ms`,
            measured: `${fmt(m.p99)} ms`,
            met: m.p99 <= TARGET_P99_MS,
          });
        }
      }
    }
    const n = rounds * perRound;
    const body = [
      table(['transport', 'server', 'tool', 'p50 (ms)', 'p90 (ms)', 'p99 (ms)', 'p50 − floor (ms)', 'p50 ÷ floor', 'p50 − durable floor (ms)'], rows),
      '',
      `${n} calls per row (${rounds} rounds × ${perRound}, rows interleaved round by round) after ${warmup} warm-up calls. ` +
        `store_memory stores ~300-byte memories with a description and tags (the store grows by ${n + warmup} per server over the run); ` +
        'retrieve_memories lists the newest 20 with their previews, its default page.',
    ].join('\n');
    return {
      title: 'MCP latency against the floor',
      method:
        'One SDK `Client` per transport and server, in the coordinator process, calling one tool at a time and timing `callTool` with `performance.now()` (client-side, so it includes JSON-RPC, HTTP or pipe, and the SDK’s schema validation on both ends). ' +
        'Servers each run in their own process: the floor is `bench/procs/floor-server.ts` (SDK `McpServer`, one no-op tool, one server and transport per session on `node:http`, Streamable HTTP answered in JSON: all as Memento does); ' +
        'the schema floor is the same server with a `store_memory` of Memento\'s own definition that writes nothing and returns a result of the same shape (what the tool\'s contract costs on the wire); ' +
        'the durable floor is the same server with a `store_memory` of Memento\'s own schemas whose handler is the least durable store, with no Memento code (content and metadata as two files linked into place from temporary names, one SQLite row committed in WAL mode): Memento\'s store minus it is what Memento\'s own code costs; Memento over HTTP is `startHttpServer` (`bench/procs/memento-server.ts`), over stdio the real `memento serve --stdio` command line.',
      body,
      targets,
      data: { rounds, perRound, warmup, summaries: data },
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await Promise.all(children.map((c) => c.stop()));
  }
}

export const mcpLatency: Benchmark = {
  name: 'mcp-latency',
  createsFiles: true,
  summary: 'store_memory / retrieve_memories p50 and p99 per transport, next to an SDK no-op floor',
  run,
};
