/*
 * JSON-RPC garbage over all three transports of a real `memento serve`: Streamable HTTP
 * (/mcp), legacy SSE (/messages) and stdio. Generated bodies and lines — any JSON value,
 * JSON-RPC look-alikes with fields of the wrong type, batches, truncated and invalid UTF-8
 * text, nesting up to 20,000 deep, the occasional megabyte — must each get a JSON-RPC answer
 * (or the 202 a notification gets), never a 5xx or silence; and the server must stay alive,
 * answer a real request afterwards, and keep its memory bounded.
 * tools' argument fuzzing is in fuzz.test.ts; this is about the framing around it.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, MEMENTO_BIN, ROOT, startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { connect, INITIALIZE, rawSession, type Connection } from '../server/support.ts';

/** A new seed each run; a failure names it, and MEMENTO_FUZZ_SEED=<seed> replays it. */
const SEED = Number(process.env.MEMENTO_FUZZ_SEED ?? Date.now() % 2 ** 31);
const RUNS = 150;
/** RSS a server may reach under this fuzz (it holds one small data set). */
const RSS_LIMIT_MIB = 400;
const METHODS = ['initialize', 'ping', 'tools/list', 'tools/call', 'notifications/initialized', 'notifications/cancelled', 'resources/list', 'completion/complete', 'logging/setLevel', ''];

const anyJson = fc.jsonValue({ maxDepth: 4 });
const id = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.double(), fc.boolean(), fc.object({ maxDepth: 1 }));
const lookAlike = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant('2.0'), fc.constant('1.0'), anyJson),
    id,
    method: fc.oneof(fc.constantFrom(...METHODS), fc.string({ maxLength: 20 }), anyJson),
    params: fc.oneof(anyJson, fc.record({ name: fc.oneof(fc.string(), anyJson), arguments: anyJson, _meta: anyJson }, { requiredKeys: [] })),
    result: anyJson,
    error: fc.oneof(anyJson, fc.record({ code: fc.integer(), message: fc.string() })),
  },
  { requiredKeys: [] },
);
const deep = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom(['[', ']'], ['{"a":', '}']))
  .map(([depth, [open, close]]) => open!.repeat(depth) + '1' + close!.repeat(depth));

/** One message's text: garbage of every kind. Never contains a newline (one stdio line). */
const body = fc
  .oneof(
    { weight: 4, arbitrary: lookAlike.map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: fc.array(lookAlike, { maxLength: 5 }).map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: lookAlike.map((v) => JSON.stringify(v)).chain((t) => fc.nat(t.length).map((n) => t.slice(0, n))) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '[]', '{}', '"\\ud800"', '\uFEFF{}', `{"jsonrpc":"2.0","id":1,"method":"ping","params":"${'x'.repeat(1 << 20)}"}`) },
  )
  .map((t) => t.replace(/[\r\n]/g, ' '));

function rssMiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024);
}

/** The answer must be JSON-RPC: one message or a list of them, each with jsonrpc "2.0". */
function expectJsonRpc(text: string, context: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${context}: the answer is not JSON: ${text.slice(0, 200)}`);
  }
  for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
    expect((message as { jsonrpc?: unknown }).jsonrpc, context).toBe('2.0');
    expect('result' in (message as object) || 'error' in (message as object), context).toBe(true);
    const error = (message as { error?: { message?: unknown } }).error;
    if (error) expect(String(error.message)).not.toMatch(/RangeError|call stack|at .*\.(ts|js):\d+/);
  }
}

let data: Awaited<ReturnType<typeof tempDir>>;
let server: Running;
beforeAll(async () => {
  data = await tempDir('memento-transport-fuzz-');
  server = await startMemento(['serve', '--port', '0', '--data-dir', data.path], {
    env: { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' },
  });
});
afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  await data?.cleanup();
});

async function stillServing(): Promise<void> {
  expect(server.child.exitCode).toBeNull();
  expect((await fetch(`${server.url}/health`)).status).toBe(200);
  const client = await connect('http', server.url, { user: 'after-fuzz' });
  expect((await client.ok('retrieve_memories', {})).total).toBeGreaterThanOrEqual(0);
  await client.close();
  expect(await rssMiB(server.child.pid!)).toBeLessThan(RSS_LIMIT_MIB);
}

describe(`JSON-RPC garbage over every transport (seed ${SEED})`, () => {
  it('Streamable HTTP: every body gets a JSON-RPC answer or a 202, never a 5xx', { timeout: 180_000 }, async () => {
    const session = await rawSession(server.url);
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (text, withSession) => {
        const response = await fetch(`${server.url}/mcp`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': '2025-06-18',
            ...(withSession ? { 'mcp-session-id': session } : {}),
          },
          body: text,
          signal: AbortSignal.timeout(30_000),
        });
        const answer = await response.text();
        expect(response.status, answer).toBeLessThan(500);
        if (response.status !== 202) expectJsonRpc(answer, `HTTP ${response.status} for ${text.slice(0, 80)}`);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    await stillServing();
  });

  it('legacy SSE: every message body gets a JSON-RPC error or is accepted, never a 5xx', { timeout: 180_000 }, async () => {
    const client: Connection = await connect('sse', server.url, { user: 'fuzz-sse' });
    client.client.onerror = () => {};
    const sessionId = (client.transport as unknown as { _endpoint: URL })._endpoint.searchParams.get('sessionId')!;
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const response = await fetch(`${server.url}/messages?sessionId=${sessionId}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: text,
          signal: AbortSignal.timeout(30_000),
        });
        const answer = await response.text();
        expect(response.status, answer).toBeLessThan(500);
        // Accepted messages are answered on the stream; refusals here.
        if (response.status !== 202) expectJsonRpc(answer, `SSE ${response.status} for ${text.slice(0, 80)}`);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    await client.close();
    await stillServing();
  });

  it('stdio: every line gets its answer, the server keeps serving and exits 0 at the end of input', { timeout: 180_000 }, async () => {
    const child = spawn(MEMENTO_BIN, ['serve', '--stdio', '--data-dir', join(data.path, 'stdio')], {
      cwd: ROOT,
      env: baseEnv({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const replies: unknown[] = [];
    let pending = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        expectJsonRpc(line, 'stdio reply');
        replies.push(JSON.parse(line));
      }
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const answered = async (probe: number) => {
      const deadline = Date.now() + 30_000;
      while (!replies.some((r) => (r as { id?: unknown }).id === `probe-${probe}`)) {
        if (child.exitCode !== null) throw new Error(`the stdio server exited (${child.exitCode}): ${stderr}`);
        if (Date.now() > deadline) throw new Error(`no answer to probe ${probe}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    child.stdin.write(`${INITIALIZE}\n`);
    const deadline = Date.now() + 30_000;
    while (!replies.some((r) => (r as { id?: unknown }).id === 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    let probe = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 4 }), async (lines) => {
        const before = replies.length;
        for (const line of lines) child.stdin.write(`${line}\n`);
        // A ping after the garbage: answered only if the server read past every line.
        probe++;
        child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: `probe-${probe}`, method: 'ping' })}\n`);
        await answered(probe);
        // At most one answer per line (plus the probe's); and every line that is not JSON, or
        // is a batch, gets one: before the fix such lines got silence.
        const answers = replies.length - before - 1;
        const mustAnswer = lines.filter((line) => {
          if (line.trim() === '') return false;
          try {
            return Array.isArray(JSON.parse(line));
          } catch {
            return true;
          }
        }).length;
        expect(answers).toBeLessThanOrEqual(lines.length);
        expect(answers).toBeGreaterThanOrEqual(mustAnswer);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    expect(await rssMiB(child.pid!)).toBeLessThan(RSS_LIMIT_MIB);
    child.stdin.end();
    expect(await exited).toBe(0);
  });
});
