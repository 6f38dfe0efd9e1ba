/*
 * Turns end to end: `memento ask` (the simulator as the model, with an API key it checks)
 * against its own stdio server, and against a `memento serve` over Streamable HTTP and over
 * legacy SSE (with the MCP token). Both processes export to the real collector and write the
 * same local trace file; Jaeger's API v3 must then hold each turn as the file does, span for
 * span, with the server's spans under the client's `tools/call` and no byte of the key or
 * the token. Message content reaches Jaeger only when the client and the collector opt in.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceSpan } from '../../src/traces/model.ts';
import { startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { ask, byId, fileTrace, jaegerTrace, restartCollector, secrets, spanShape, telemetryEnv, waitFor, type JaegerTrace } from './helpers.ts';

const SERVICE_CLIENT = 'memento-client';
const SERVICE_SERVER = 'memento-mcp-server';

let root: Awaited<ReturnType<typeof tempDir>>;
let simulator: Running;
let server: Running;
const { apiKey, mcpToken } = secrets();
let traceFile: string;

beforeAll(async () => {
  root = await tempDir('memento-stack-turns-');
  traceFile = join(root.path, 'traces.jsonl');
  simulator = await startMemento(['simulator', '--port', '0'], { env: { MEMENTO_SIMULATOR_API_KEY: apiKey } });
  await mkdir(join(root.path, 'served'));
  server = await startMemento(['serve', '--port', '0', '--data-dir', join(root.path, 'served')], {
    env: telemetryEnv(traceFile, { MEMENTO_MCP_TOKEN: mcpToken }),
  });
});

afterAll(async () => {
  await server?.stop();
  await simulator?.stop();
  await root?.cleanup();
});

function clientEnv(mode: 'stdio' | 'http' | 'sse', extra: Record<string, string> = {}) {
  const mcp =
    mode === 'stdio'
      ? { MEMENTO_DATA_DIR: join(root.path, 'stdio') }
      : { MEMENTO_MCP_URL: `${server.url}/${mode === 'http' ? 'mcp' : 'sse'}`, MEMENTO_MCP_TOKEN: mcpToken };
  return telemetryEnv(traceFile, {
    AZURE_OPENAI_ENDPOINT: simulator.url,
    AZURE_OPENAI_API_KEY: apiKey,
    MEMENTO_USER: `alice-${mode}`,
    ...mcp,
    ...extra,
  });
}

/**
 * Waits until the local file holds the turn's server spans too, and Jaeger holds as many
 * spans as the file: both processes export on their own schedule.
 */
async function bothSides(traceId: string): Promise<{ file: TraceSpan[]; jaeger: JaegerTrace }> {
  return waitFor(`turn ${traceId} complete in the file and in Jaeger`, async () => {
    const file = await fileTrace(traceFile, traceId);
    if (!file.some((s) => s.service === SERVICE_SERVER && s.name.startsWith('tools/call '))) return undefined;
    const jaeger = await jaegerTrace(traceId);
    return jaeger && jaeger.spans.length >= file.length ? { file, jaeger } : undefined;
  });
}

function ancestors(span: TraceSpan, spans: TraceSpan[]): TraceSpan[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const out: TraceSpan[] = [];
  for (let p = span.parentSpanId && byId.get(span.parentSpanId); p; p = p.parentSpanId ? byId.get(p.parentSpanId) : undefined) out.push(p);
  return out;
}

describe.each(['stdio', 'http', 'sse'] as const)('a turn with the MCP server over %s', (mode) => {
  let turn: Awaited<ReturnType<typeof ask>>;
  let file: TraceSpan[];
  let jaeger: JaegerTrace;
  const phrase = `the ${mode} offsite moved to platform ${Math.floor(Math.random() * 1e9)}`;

  beforeAll(async () => {
    turn = await ask(`remember that ${phrase}`, clientEnv(mode));
    ({ file, jaeger } = await bothSides(turn.traceId));
  });

  it('reaches Jaeger as the same tree as in the local trace file: names, kinds, parents, services, attributes', () => {
    expect(jaeger.spans.length).toBe(file.length);
    expect(byId(jaeger.spans).map(spanShape)).toEqual(byId(file).map(spanShape));
    const root = jaeger.spans.filter((s) => !s.parentSpanId);
    expect(root.map((s) => `${s.service} ${s.name}`)).toEqual([`${SERVICE_CLIENT} invoke_agent memento`]);
  });

  it("joins the server's spans under the client's tools/call", () => {
    const serverCall = jaeger.spans.find((s) => s.service === SERVICE_SERVER && s.name === 'tools/call store_memory');
    expect(serverCall, 'the server span of the tool call').toBeDefined();
    const up = ancestors(serverCall!, jaeger.spans);
    expect(up.some((s) => s.service === SERVICE_CLIENT && s.name === 'tools/call store_memory' && s.kind === 'client')).toBe(true);
    expect(up.at(-1)?.name).toBe('invoke_agent memento');
  });

  it('holds no byte of the API key or the MCP token, and no message content', () => {
    expect(jaeger.text).not.toContain(apiKey);
    expect(jaeger.text).not.toContain(mcpToken);
    expect(jaeger.text).not.toContain(phrase);
    expect(jaeger.text).not.toMatch(/gen_ai\.(input|output)\.messages|gen_ai\.tool\.call\.arguments/);
  });
});

describe('message content, opted in', () => {
  afterAll(() => restartCollector());

  it('is stripped by the collector when only the client opts in', async () => {
    const phrase = `the client-only offsite moved to gate ${Math.floor(Math.random() * 1e9)}`;
    const turn = await ask(`remember that ${phrase}`, clientEnv('stdio', { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' }));
    const { file, jaeger } = await bothSides(turn.traceId);
    // The client did record it (the file is written before the collector) ...
    expect(JSON.stringify(file)).toContain(phrase);
    // ... and the collector's transform/redact removed it on the way to Jaeger.
    expect(jaeger.text).not.toContain(phrase);
    expect(jaeger.text).not.toContain(apiKey);
  });

  it('reaches Jaeger when the client and the collector both opt in', async () => {
    await restartCollector({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' });
    const phrase = `the opted-in offsite moved to hall ${Math.floor(Math.random() * 1e9)}`;
    const turn = await ask(`remember that ${phrase}`, clientEnv('http', { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' }));
    const { jaeger } = await bothSides(turn.traceId);
    const withContent = jaeger.spans.filter((s) => JSON.stringify(s.attributes).includes(phrase));
    expect(withContent.map((s) => s.name)).toEqual(expect.arrayContaining(['chat gpt-4o-mini']));
    expect(jaeger.text).not.toContain(apiKey);
    expect(jaeger.text).not.toContain(mcpToken);
  });
});
