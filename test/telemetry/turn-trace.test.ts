/*
 * One trace per turn, as it leaves the processes: real `memento ask` runs (and a real
 * `memento serve` for the HTTP transports) export OTLP/HTTP to a receiver inside the test,
 * which asserts on the span tree docs/design.md draws — root, chat spans with their HTTP
 * attempts, tools/call client spans, and the MCP server's spans joined into the same trace —
 * over Streamable HTTP, legacy SSE and stdio.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtlpReceiver, SPAN_KIND, STATUS, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { freePort, runMemento, startInteractive, startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { BUCKETS_GEN_AI_TIME_PER_OUTPUT_CHUNK_S } from '../../src/telemetry/semconv.ts';

const receiver = new OtlpReceiver();
let data: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  await receiver.start();
  data = await tempDir();
});
afterAll(async () => {
  await receiver.stop();
  await data.cleanup();
});

const CLIENT = 'memento-client';
const SERVER = 'memento-mcp-server';

function env(extra: Record<string, string> = {}) {
  return { ...receiver.env(), MEMENTO_DATA_DIR: data.path, ...extra };
}

async function ask(text: string, extra: Record<string, string> = {}, user = 'alice') {
  const run = await runMemento(['ask', '--json', '--user', user, text], { env: env(extra) });
  const out = JSON.parse(run.stdout || '{}');
  return { run, out, traceId: out.traceId as string };
}

/** Waits until the trace holds the client's root and the named server spans, then returns it. */
async function traceOf(traceId: string, serverSpans: string[]): Promise<ReceivedSpan[]> {
  await receiver.waitFor((spans) => {
    const mine = spans.filter((s) => s.traceId === traceId);
    const served = mine.filter((s) => s.service === SERVER && s.kind === SPAN_KIND.SERVER).map((s) => s.name);
    const wanted = [...serverSpans];
    for (const name of served) {
      const i = wanted.indexOf(name);
      if (i >= 0) wanted.splice(i, 1);
    }
    return mine.some((s) => s.name === 'invoke_agent memento') && wanted.length === 0;
  });
  return receiver.byTrace(traceId);
}

const CONNECT = ['initialize', 'tools/list'];

const only = <T>(items: T[], what: string): T => {
  expect(items, what).toHaveLength(1);
  return items[0]!;
};
const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);

/** Asserts docs/design.md's tree for a one-tool turn and returns its parts. */
function assertTurnTree(spans: ReceivedSpan[], tool: string, transport: 'http' | 'sse' | 'stdio') {
  const client = spans.filter((s) => s.service === CLIENT);
  const server = spans.filter((s) => s.service === SERVER);
  const root = only(client.filter((s) => !s.parentSpanId), 'one root span');
  expect(root).toMatchObject({ name: 'invoke_agent memento', kind: SPAN_KIND.INTERNAL, status: { code: STATUS.UNSET } });
  expect(root.attributes).toEqual({
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.agent.name': 'memento',
    'gen_ai.conversation.id': expect.stringMatching(/^[0-9a-f-]{36}$/),
    'gen_ai.provider.name': 'azure.ai.openai',
    'gen_ai.request.model': 'gpt-4o-mini',
    'memento.turn.number': 1,
    'memento.user.id': 'alice',
    'memento.turn.chat_calls': 2,
    'memento.turn.tool_calls': 1,
    'memento.turn.tool_rounds': 1,
    'memento.turn.time_to_answer_start': expect.any(Number),
  });
  expect(root.resource).toMatchObject({ 'service.name': CLIENT, 'service.version': expect.any(String) });

  const chats = client.filter((s) => s.attributes['gen_ai.operation.name'] === 'chat');
  expect(chats.map((s) => s.attributes['memento.phase'])).toEqual(['intent', 'summarize']);
  for (const chat of chats) {
    expect(chat).toMatchObject({ name: 'chat gpt-4o-mini', kind: SPAN_KIND.CLIENT, parentSpanId: root.spanId });
    expect(chat.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'azure.ai.openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': expect.stringContaining('simulator'),
      'gen_ai.response.id': expect.stringMatching(/^chatcmpl-/),
      'gen_ai.response.finish_reasons': [chat.attributes['memento.phase'] === 'intent' ? 'tool_calls' : 'stop'],
      'gen_ai.usage.input_tokens': expect.any(Number),
      'gen_ai.usage.output_tokens': expect.any(Number),
      // The simulator answers with Azure's usage details: no cached prompt, no reasoning.
      'gen_ai.usage.cache_read.input_tokens': 0,
      'gen_ai.usage.reasoning.output_tokens': 0,
      'server.address': '127.0.0.1',
      'server.port': expect.any(Number),
      'memento.phase': chat.attributes['memento.phase'],
      'gen_ai.conversation.id': root.attributes['gen_ai.conversation.id'],
      'gen_ai.request.stream': true,
      'gen_ai.response.time_to_first_chunk': expect.any(Number),
    });
    expect(chat.attributes['gen_ai.response.time_to_first_chunk']).toBeLessThanOrEqual(Number(chat.endNs - chat.startNs) / 1e9);
    const post = only(childrenOf(client, chat), 'one HTTP attempt under the chat span');
    expect(post).toMatchObject({ name: 'POST', kind: SPAN_KIND.CLIENT });
    expect(post.attributes['http.response.status_code']).toBe(200);
  }

  const call = only(client.filter((s) => s.name === `tools/call ${tool}`), 'one tools/call client span');
  expect(call).toMatchObject({ kind: SPAN_KIND.CLIENT, parentSpanId: root.spanId, status: { code: STATUS.UNSET } });
  const network =
    transport === 'stdio'
      ? { 'network.transport': 'pipe' }
      : { 'network.transport': 'tcp', 'network.protocol.name': 'http', 'server.address': '127.0.0.1', 'server.port': expect.any(Number) };
  expect(call.attributes).toEqual({
    'mcp.method.name': 'tools/call',
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': tool,
    'gen_ai.tool.call.id': expect.stringMatching(/^call_/),
    'jsonrpc.request.id': expect.any(String),
    'mcp.protocol.version': expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
    'memento.tool.result.size': expect.any(Number),
    'gen_ai.conversation.id': root.attributes['gen_ai.conversation.id'],
    // The server names its own span in the result's _meta (the self-check reads it).
    'memento.mcp.server_span': expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/),
    // Streamable HTTP names its session in a header the client keeps; the legacy SSE client
    // keeps it private in its endpoint URL, and stdio has none.
    ...(transport === 'http' ? { 'mcp.session.id': expect.any(String) } : {}),
    ...network,
  });
  if (transport !== 'stdio') {
    const post = only(childrenOf(client, call).filter((s) => s.name === 'POST'), 'the HTTP request carrying tools/call');
    expect(post.kind).toBe(SPAN_KIND.CLIENT);
  }

  // The server's span is the child of the client's tools/call span, through params._meta.
  const served = only(server.filter((s) => s.name === `tools/call ${tool}` && s.kind === SPAN_KIND.SERVER), 'one server span');
  expect(served.parentSpanId).toBe(call.spanId);
  expect(call.attributes['memento.mcp.server_span']).toBe(`00-${served.traceId}-${served.spanId}-01`);
  expect(served.attributes).toMatchObject({
    'mcp.method.name': 'tools/call',
    'gen_ai.tool.name': tool,
    'gen_ai.operation.name': 'execute_tool',
    'jsonrpc.request.id': call.attributes['jsonrpc.request.id'],
    'network.transport': transport === 'stdio' ? 'pipe' : 'tcp',
  });
  expect(served.resource['service.name']).toBe(SERVER);
  if (transport !== 'stdio') {
    // The HTTP server span that delivered the message is linked, and sits in the same trace.
    const link = only(served.links, 'one link to the HTTP server span');
    const httpSpan = spans.find((s) => s.spanId === link.spanId);
    expect(httpSpan?.kind).toBe(SPAN_KIND.SERVER);
    expect(httpSpan?.service).toBe(SERVER);
  }

  // Connecting belongs to the turn as well.
  for (const method of ['initialize', 'tools/list']) {
    expect(client.find((s) => s.name === method)?.parentSpanId).toBe(root.spanId);
    expect(server.find((s) => s.name === method && s.kind === SPAN_KIND.SERVER)?.traceId).toBe(root.traceId);
  }
  return { root, chats, call, served };
}

describe.each(['stdio', 'http', 'sse'] as const)('a turn over %s', (transport) => {
  let server: Running | undefined;
  let extra: Record<string, string> = {};

  beforeAll(async () => {
    if (transport === 'stdio') return;
    server = await startMemento(['serve', '--port', '0', '--data-dir', data.path], { env: { ...receiver.env(), MEMENTO_TRACE_FILE: 'off' } });
    extra = { MEMENTO_MCP_URL: `${server.url}/${transport === 'http' ? 'mcp' : 'sse'}` };
  });
  afterAll(() => server?.stop());

  it('a store turn is one trace with the server span joined', async () => {
    const { out, traceId } = await ask(`remember that the ${transport} test ran`, extra);
    expect(out.ok).toBe(true);
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const spans = await traceOf(traceId, [...CONNECT, 'tools/call store_memory']);
    assertTurnTree(spans, 'store_memory', transport);
  });

  it('a retrieve turn is one trace too', async () => {
    const { out, traceId } = await ask('what did I store?', extra);
    expect(out.answer).toMatch(new RegExp(`the ${transport} test ran`));
    const spans = await traceOf(traceId, [...CONNECT, 'tools/call retrieve_memories']);
    assertTurnTree(spans, 'retrieve_memories', transport);
  });
});

describe('turn shapes', () => {
  it('every client trace is a turn: one trace per ask, nothing outside turns', async () => {
    receiver.reset();
    const a = await ask('remember that traces are per turn');
    const b = await ask('search for traces');
    await traceOf(a.traceId, [...CONNECT, 'tools/call store_memory']);
    await traceOf(b.traceId, [...CONNECT, 'tools/call search_memories']);
    // Late exports (session close, shutdown) would be here already: each `ask` has exited, and
    // it exits only after its exporter's last request was answered.
    expect(receiver.traceIds(CLIENT).sort()).toEqual([a.traceId, b.traceId].sort());
  });

  it('parallel tool calls are two tools/call spans under one turn', async () => {
    const { out, traceId } = await ask('remember: water the plants; remember: renew the passport');
    expect(out.toolCalls).toBe(2);
    const spans = await traceOf(traceId, [...CONNECT, 'tools/call store_memory', 'tools/call store_memory']);
    const root = spans.find((s) => s.name === 'invoke_agent memento')!;
    const calls = spans.filter((s) => s.service === CLIENT && s.name === 'tools/call store_memory');
    expect(calls).toHaveLength(2);
    expect(calls.every((c) => c.parentSpanId === root.spanId)).toBe(true);
    expect(new Set(calls.map((c) => c.attributes['gen_ai.tool.call.id'])).size).toBe(2);
    const served = spans.filter((s) => s.service === SERVER && s.name === 'tools/call store_memory');
    expect(served.map((s) => s.parentSpanId).sort()).toEqual(calls.map((c) => c.spanId).sort());
  });

  it('a two-round tool turn has an intent call and two summarize calls', async () => {
    const { out, traceId } = await ask('forget the memory about passport');
    expect(out.answer).toMatch(/Deleted/);
    const spans = await traceOf(traceId, [...CONNECT, 'tools/call search_memories', 'tools/call delete_memory']);
    const chats = spans
      .filter((s) => s.attributes['gen_ai.operation.name'] === 'chat')
      .sort((x, y) => Number(x.startNs - y.startNs));
    expect(chats.map((s) => s.attributes['memento.phase'])).toEqual(['intent', 'summarize', 'summarize']);
    const tools = spans
      .filter((s) => s.service === CLIENT && s.attributes['mcp.method.name'] === 'tools/call')
      .sort((x, y) => Number(x.startNs - y.startNs));
    expect(tools.map((s) => s.attributes['gen_ai.tool.name'])).toEqual(['search_memories', 'delete_memory']);
    expect(spans.find((s) => s.name === 'invoke_agent memento')?.attributes['memento.turn.tool_rounds']).toBe(2);
  });

  it("a refused tool call is error.type=tool_error on both tools/call spans; the turn succeeds", async () => {
    const { out, traceId } = await ask("show bob's memories");
    expect(out.ok).toBe(true);
    const spans = await traceOf(traceId, [...CONNECT, 'tools/call retrieve_memories']);
    const [client, served] = [CLIENT, SERVER].map((service) =>
      spans.find((s) => s.service === service && s.attributes['mcp.method.name'] === 'tools/call'),
    );
    for (const span of [client, served]) {
      expect(span?.attributes['error.type']).toBe('tool_error');
      expect(span?.status.code).toBe(STATUS.ERROR);
    }
    expect(spans.find((s) => s.name === 'invoke_agent memento')?.status.code).toBe(STATUS.UNSET);
  });

  it('records the GenAI, MCP and turn metrics', async () => {
    await ask('what did I store?');
    await receiver.waitFor(() => {
      const names = new Set(receiver.metrics.map((m) => m.name));
      return [
        'gen_ai.client.operation.duration',
        'gen_ai.client.token.usage',
        'mcp.client.operation.duration',
        'mcp.server.operation.duration',
        'memento.turn.duration',
        'gen_ai.client.operation.time_to_first_chunk',
        'gen_ai.client.operation.time_per_output_chunk',
      ].every((n) => names.has(n));
    });
    const turn = receiver.metrics.find((m) => m.name === 'memento.turn.duration');
    expect(turn?.unit).toBe('s');
    // Two streamed chat calls, each with one first chunk: the cumulative count reaches 2.
    const firstChunks = () => {
      const ttfc = receiver.metrics.findLast((m) => m.name === 'gen_ai.client.operation.time_to_first_chunk');
      const points = (ttfc?.data as { dataPoints?: { count?: string | number }[] } | undefined)?.dataPoints ?? [];
      return { unit: ttfc?.unit, count: points.reduce((n, p) => n + Number(p.count ?? 0), 0) };
    };
    await receiver.waitFor(() => firstChunks().count >= 2);
    expect(firstChunks()).toEqual({ unit: 's', count: 2 });
    // One value per chunk after the first (batched per call in the client, batched-histogram.ts).
    const perChunk = receiver.metrics.findLast((m) => m.name === 'gen_ai.client.operation.time_per_output_chunk');
    const chunkPoints = (perChunk?.data as { dataPoints?: { count?: string | number; explicitBounds?: number[] }[] } | undefined)?.dataPoints ?? [];
    expect(perChunk?.unit).toBe('s');
    expect(chunkPoints[0]?.explicitBounds).toEqual(BUCKETS_GEN_AI_TIME_PER_OUTPUT_CHUNK_S);
    expect(chunkPoints.reduce((n, p) => n + Number(p.count ?? 0), 0)).toBeGreaterThan(2);
  });

  it('time to the first answer token: on the chat spans, the root, and in ask --json', async () => {
    const latency = 120;
    const { run, out, traceId } = await ask('remember that the train leaves at 9', { MEMENTO_SIMULATOR_LATENCY_MS: String(latency) });
    expect(run.code, run.stderr).toBe(0);
    const spans = await traceOf(traceId, ['tools/call store_memory']);
    const root = spans.find((s) => s.name === 'invoke_agent memento')!;
    const chats = spans.filter((s) => s.attributes['gen_ai.operation.name'] === 'chat');
    // The simulator holds each answer for `latency` before its first chunk.
    for (const chat of chats) expect(chat.attributes['gen_ai.response.time_to_first_chunk']).toBeGreaterThanOrEqual(latency / 1000);
    // The answer's text comes from the second call: the user waits for both.
    const firstToken = root.attributes['memento.turn.time_to_answer_start'] as number;
    expect(firstToken).toBeGreaterThanOrEqual((2 * latency) / 1000);
    expect(firstToken * 1000).toBeLessThanOrEqual(out.durationMs + 1);
    expect(out.firstTokenMs).toBeGreaterThanOrEqual(2 * latency);
    expect(out.firstTokenMs).toBeLessThanOrEqual(out.durationMs);
  });
});

describe('Azure faults in the trace', () => {
  let sim: Running;
  const simEnv = () => ({ AZURE_OPENAI_ENDPOINT: sim.url, AZURE_OPENAI_API_KEY: 'sk-sim-0123456789abcdef0123' });

  afterAll(() => sim?.stop());

  it('a 429 then success is two HTTP attempts under one chat span', async () => {
    sim = await startMemento(['simulator', '--port', '0', '--faults', '429,ok', '--retry-after-ms', '20']);
    const { out, traceId } = await ask('what did I store?', simEnv());
    expect(out.ok).toBe(true);
    const spans = await traceOf(traceId, [...CONNECT, 'tools/call retrieve_memories']);
    const intent = spans.find((s) => s.attributes['memento.phase'] === 'intent')!;
    const attempts = childrenOf(spans, intent).sort((x, y) => Number(x.startNs - y.startNs));
    expect(attempts.map((a) => [a.name, a.attributes['http.response.status_code']])).toEqual([
      ['POST', 429],
      ['POST', 200],
    ]);
    expect(intent.status.code).toBe(STATUS.UNSET);
    await sim.stop();
  });

  it('an Azure 500 makes the turn span ERROR with error.type', async () => {
    sim = await startMemento(['simulator', '--port', '0', '--faults', '500*10']);
    const { out, traceId } = await ask('what did I store?', { ...simEnv(), MEMENTO_MODEL_MAX_RETRIES: '1' });
    expect(out.ok).toBe(false);
    const spans = await traceOf(traceId, CONNECT);
    const root = spans.find((s) => s.name === 'invoke_agent memento')!;
    expect(root.status).toEqual({ code: STATUS.ERROR, message: expect.stringMatching(/failed \(500\)/) });
    expect(root.attributes['error.type']).toBe('500');
    const chat = spans.find((s) => s.attributes['gen_ai.operation.name'] === 'chat')!;
    expect(chat.attributes['error.type']).toBe('500');
    expect(chat.status.code).toBe(STATUS.ERROR);
    expect(childrenOf(spans, chat).map((a) => a.attributes['http.response.status_code'])).toEqual([500, 500]);
    await sim.stop();
  });
});

describe('what never leaves the process', () => {
  const KEY = 'sk-live-azure-key-Zq81x0PLe4Wq9r7tT2vB';
  const TOKEN = 'mcp-token-Hj4k2LmQ8sVx0pR6wY1z';
  let sim: Running;
  let server: Running;

  beforeAll(async () => {
    sim = await startMemento(['simulator', '--port', '0', '--api-key', KEY]);
    server = await startMemento(['serve', '--port', '0', '--data-dir', data.path], {
      env: { ...receiver.env(), MEMENTO_MCP_TOKEN: TOKEN, MEMENTO_TRACE_FILE: 'off' },
    });
  });
  afterAll(async () => {
    await sim.stop();
    await server.stop();
  });

  const secretEnv = (capture: boolean) => ({
    AZURE_OPENAI_ENDPOINT: sim.url,
    AZURE_OPENAI_API_KEY: KEY,
    MEMENTO_MCP_URL: `${server.url}/mcp`,
    MEMENTO_MCP_TOKEN: TOKEN,
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: capture ? 'true' : 'false',
  });

  it('no key, no token, and without opt-in no prompt, answer or tool argument in any exported byte', async () => {
    receiver.reset();
    const secretText = 'the safe combination is 4 8 15 16';
    const { out, traceId } = await ask(`remember that ${secretText}`, secretEnv(false));
    expect(out.ok).toBe(true);
    await traceOf(traceId, [...CONNECT, 'tools/call store_memory']);
    await receiver.waitFor(() => receiver.metrics.length > 0);
    const raw = receiver.rawText();
    expect(raw).not.toContain(KEY);
    expect(raw).not.toContain(TOKEN);
    expect(raw).not.toContain('safe combination');
    expect(raw).not.toContain('gen_ai.input.messages');
    expect(raw).not.toContain('gen_ai.tool.call.arguments');
  });

  it('with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true, prompts and tool arguments are recorded (secrets still are not)', async () => {
    receiver.reset();
    const { traceId } = await ask('remember that the spare key is under the blue pot', secretEnv(true));
    const spans = await traceOf(traceId, [...CONNECT, 'tools/call store_memory']);
    const intent = spans.find((s) => s.attributes['memento.phase'] === 'intent')!;
    expect(String(intent.attributes['gen_ai.input.messages'])).toContain('the spare key is under the blue pot');
    expect(String(intent.attributes['gen_ai.output.messages'])).toContain('store_memory');
    const call = spans.find((s) => s.service === CLIENT && s.name === 'tools/call store_memory')!;
    expect(JSON.parse(String(call.attributes['gen_ai.tool.call.arguments']))).toMatchObject({ content: 'the spare key is under the blue pot' });
    const raw = receiver.rawText();
    expect(raw).not.toContain(KEY);
    expect(raw).not.toContain(TOKEN);
  });
});

describe('with the collector unreachable', () => {
  let blackhole: Server;
  let blackholePort = 0;
  const sockets = new Set<import('node:net').Socket>();

  beforeAll(async () => {
    // Accepts connections and never answers: the worst a collector can do.
    blackhole = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    blackholePort = (blackhole.address() as { port: number }).port;
  });
  afterAll(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((r) => blackhole.close(() => r()));
  });

  it.each([
    ['refusing connections', async () => `http://127.0.0.1:${await freePort()}`],
    ['accepting and never answering', async () => `http://127.0.0.1:${blackholePort}`],
  ])('(%s) the turn completes and the process exits within 3 s of it', async (_, endpoint) => {
    const started = performance.now();
    const proc = startInteractive(['ask', 'remember that the collector was down'], {
      env: { ...env(), OTEL_EXPORTER_OTLP_ENDPOINT: await endpoint() },
    });
    // The answer streams to stdout when the turn ends; what follows is only shutdown.
    await proc.waitFor(/Stored "the collector was down"/);
    const answered = performance.now();
    const code = await proc.end();
    const exited = performance.now();
    expect(code).toBe(0);
    expect(exited - answered).toBeLessThan(3000);
    // And the turn was not held up: well under the exporter's own 10 s timeout.
    expect(answered - started).toBeLessThan(10_000);
  });
});
