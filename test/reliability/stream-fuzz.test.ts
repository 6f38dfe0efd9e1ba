/*
 * Random stream shapes from a model endpoint against the real client (issue 10, "Done
 * when"): fast-check generates what each model call gets back — valid streams split at random
 * places, tool calls with junk arguments, chunks whose fields have the wrong types, garbage
 * bytes under any content type, whole completions, HTTP errors, cut connections, stalls,
 * endless keep-alives, one enormous line — and one `memento chat` session lives through all of
 * them, one turn each. Every turn must end (its footer printed) with an answer or a single
 * error line, within the time bounds; the process must not die, print a stack, let a raw
 * control character through, or grow past a memory bound.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInteractive, tempDir } from '../helpers/memento.ts';
import { chunk, completion, ModelEndpoint, turnsOf, type ModelRequest } from '../helpers/model-endpoint.ts';

/** A new seed each run, so runs search different shapes; MEMENTO_FUZZ_SEED=<seed> replays one. */
const SEED = Number(process.env.MEMENTO_FUZZ_SEED ?? Date.now() % 2 ** 31);
const TURNS = 40;
const MAX_ANSWER = 256 * 1024;
const TIMEOUT_MS = 1500;
const IDLE_MS = 700;
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
const TOOLS = ['store_memory', 'retrieve_memories', 'search_memories', 'get_memory', 'delete_memory', 'no_such_tool'];
const CONTENT_TYPES = ['text/event-stream', 'application/json', 'text/html', 'text/plain', '', 'application/x-ndjson', 'text/event-stream; charset=utf-8'];

type Shape =
  | { kind: 'text'; text: string; cuts: number[]; eol: '\n\n' | '\r\n\r\n' | '\r\r' }
  | { kind: 'tools'; calls: { name: string; args: string }[]; cuts: number[] }
  | { kind: 'chunks'; values: unknown[]; done: boolean }
  | { kind: 'garbage'; bytes: Uint8Array; contentType: string }
  | { kind: 'completion'; value: unknown; contentType: string }
  | { kind: 'status'; status: number; body: string }
  | { kind: 'cut'; text: string; after: number }
  | { kind: 'stall' }
  | { kind: 'keepalive' }
  | { kind: 'huge'; withNewlines: boolean }
  | { kind: 'long'; pieces: number };

const text = fc.string({ unit: fc.oneof(fc.constant('\u001b'), fc.constant('\r'), fc.constant('\u009b'), fc.constant('\n'), fc.constant(' '), fc.constantFrom('a', 'é', '😀', '"', '\\')), maxLength: 80 });
const junkValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(null), fc.constant(-1), fc.constant('x'));
const junkChunk = fc.oneof(
  junkValue,
  fc.record({ choices: junkValue }),
  fc.record({
    id: junkValue,
    choices: fc.array(
      fc.record({
        index: junkValue,
        finish_reason: junkValue,
        delta: fc.oneof(junkValue, fc.record({ content: junkValue, tool_calls: fc.oneof(junkValue, fc.array(fc.record({ index: junkValue, id: junkValue, function: junkValue }), { maxLength: 3 })) })),
      }),
      { maxLength: 3 },
    ),
    usage: junkValue,
  }),
);

const shape: fc.Arbitrary<Shape> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('text' as const), text, cuts: fc.array(fc.nat(80), { maxLength: 6 }), eol: fc.constantFrom('\n\n' as const, '\r\n\r\n' as const, '\r\r' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('tools' as const),
      calls: fc.array(fc.record({ name: fc.constantFrom(...TOOLS), args: fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 30 }), fc.constant('{"query":"a"}')) }), { minLength: 1, maxLength: 4 }),
      cuts: fc.array(fc.nat(40), { maxLength: 4 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('chunks' as const), values: fc.array(junkChunk, { maxLength: 6 }), done: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 600 }), contentType: fc.constantFrom(...CONTENT_TYPES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('completion' as const), value: fc.oneof(junkValue, fc.constant(completion({ content: 'whole' })), fc.record({ choices: fc.array(junkValue, { maxLength: 2 }) })), contentType: fc.constantFrom(...CONTENT_TYPES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('status' as const), status: fc.constantFrom(400, 401, 403, 404, 408, 413, 418, 429, 500, 502, 503), body: fc.oneof(fc.string({ maxLength: 200 }), fc.constant('{"error":{"message":"\\u001b]0;t\\u0007 no"}}')) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cut' as const), text, after: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stall' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'keepalive' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('huge' as const), withNewlines: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('long' as const), pieces: fc.integer({ min: 50, max: 400 }) }) },
);

function splitAt(s: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let last = 0;
  for (const p of points) {
    out.push(s.slice(last, p));
    last = p;
  }
  out.push(s.slice(last));
  return out.filter(Boolean);
}

function serve(s: Shape, _req: ModelRequest, res: ServerResponse): void {
  const sse = (value: unknown, eol = '\n\n') => `data: ${JSON.stringify(value)}${eol}`;
  switch (s.kind) {
    case 'text': {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of splitAt(s.text, s.cuts)) res.write(sse(chunk({ content: piece }), s.eol));
      res.end(`${sse(chunk({}, 'stop'), s.eol)}data: [DONE]${s.eol}`);
      return;
    }
    case 'tools': {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      s.calls.forEach((c, index) => {
        const pieces = splitAt(c.args, s.cuts);
        res.write(sse(chunk({ tool_calls: [{ index, id: `call_${index}`, type: 'function', function: { name: c.name, arguments: pieces[0] ?? '' } }] })));
        for (const p of pieces.slice(1)) res.write(sse(chunk({ tool_calls: [{ index, function: { arguments: p } }] })));
      });
      res.end(`${sse(chunk({}, 'tool_calls'))}data: [DONE]\n\n`);
      return;
    }
    case 'chunks': {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const v of s.values) res.write(sse(v));
      res.end(s.done ? 'data: [DONE]\n\n' : '');
      return;
    }
    case 'garbage':
      res.writeHead(200, s.contentType ? { 'content-type': s.contentType } : {}).end(Buffer.from(s.bytes));
      return;
    case 'completion':
      res.writeHead(200, s.contentType ? { 'content-type': s.contentType } : {}).end(JSON.stringify(s.value) ?? 'null');
      return;
    case 'status':
      res.writeHead(s.status, { 'content-type': 'application/json', 'retry-after': '0' }).end(s.body);
      return;
    case 'cut': {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < s.after; i++) res.write(sse(chunk({ content: s.text })));
      res.write('data: {"choi');
      setTimeout(() => res.destroy(), 20);
      return;
    }
    case 'stall':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse(chunk({ role: 'assistant', content: '' })));
      return;
    case 'keepalive': {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const timer = setInterval(() => res.write(': ping\n\n'), 100);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case 'huge': {
      // Past the event bound (2 × MAX_ANSWER + 1 MiB) in one event, as fast as it is taken.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const line = s.withNewlines ? 'data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n'.repeat(4096) : 'x'.repeat(256 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 4 * 1024 * 1024 && !res.destroyed) {
          sent += line.length;
          if (!res.write(line)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    case 'long': {
      // Past the answer bound in well-formed chunks.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const piece = sse(chunk({ content: 'z'.repeat(4096) }));
      for (let i = 0; i < s.pieces && !res.destroyed; i++) res.write(piece);
      res.end('data: [DONE]\n\n');
      return;
    }
  }
}

const endpoint = new ModelEndpoint();
let data: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  await endpoint.start();
  data = await tempDir('memento-stream-fuzz-');
});
afterAll(async () => {
  await endpoint.stop();
  await data.cleanup();
});

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

describe('random stream shapes against the client', () => {
  // Streamed answers (the default) and whole ones (MEMENTO_STREAM=off) meet the same shapes.
  it.each([
    ['streaming', SEED, 'on'],
    ['whole answers', SEED + 1, 'off'],
  ])(`%s: ${TURNS} turns of generated model answers each end with an answer or one error line, bounded (seed %s)`, { timeout: 240_000 }, async (_name, seed, stream) => {
    // Requests beyond the samples (tool rounds) draw more shapes from the same seed.
    // Found by this test, and tried first every run: a choice that is null (the openai
    // package's own normalizing of chunks threw a TypeError on it), and an error event.
    const found: Shape[] = [
      { kind: 'chunks', values: [{ choices: [null] }], done: true },
      { kind: 'chunks', values: [{ error: { message: 'overloaded' } }], done: true },
    ];
    const shapes = [...found, ...fc.sample(shape, { numRuns: TURNS * 4, seed })];
    let next = 0;
    const served: string[] = [];
    endpoint.fallback = (req, res) => {
      const s = shapes[next++ % shapes.length]!;
      served.push(s.kind);
      serve(s, req, res);
    };
    const chat = startInteractive(['chat', '--user', 'fuzz'], {
      env: {
        OPENAI_BASE_URL: endpoint.baseURL,
        OPENAI_API_KEY: 'sk-fuzz-000000000000',
        MEMENTO_DATA_DIR: data.path,
        MEMENTO_MODEL_MAX_RETRIES: '0',
        MEMENTO_MODEL_TIMEOUT_MS: String(TIMEOUT_MS),
        MEMENTO_MODEL_IDLE_TIMEOUT_MS: String(IDLE_MS),
        MEMENTO_MODEL_MAX_ANSWER_BYTES: String(MAX_ANSWER),
        MEMENTO_STREAM: stream,
      },
      timeoutMs: 30_000,
    });
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(chat.child.pid!))), 100);
    try {
      for (let i = 0; i < TURNS; i++) {
        const before = turnsOf(chat.stdout()).length;
        chat.send(`turn ${i}`);
        // A turn makes at most 6 model calls, each bounded by the timeout: waiting on the
        // footer, with room for a busy machine, never on a fixed sleep.
        const deadline = Date.now() + 6 * TIMEOUT_MS + 20_000;
        while (turnsOf(chat.stdout()).length <= before) {
          if (chat.child.exitCode !== null) throw new Error(`memento died at turn ${i}:\n${chat.stderr()}\nshapes: ${served.join(' ')}`);
          if (Date.now() > deadline) throw new Error(`turn ${i} did not end; shapes: ${served.join(' ')}\n${chat.stdout().slice(-2000)}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      const code = await chat.end();
      expect(code, `${chat.stderr()}\nshapes: ${served.join(' ')}`).toBe(0);
    } finally {
      clearInterval(sampler);
      if (chat.child.exitCode === null) chat.child.kill('SIGKILL');
    }
    const out = chat.stdout();
    // MEMENTO_FUZZ_SHOW=1 lists the distinct error lines met (numbers as N) and the peak RSS.
    if (process.env.MEMENTO_FUZZ_SHOW) {
      const distinct = new Set(out.split('\n').filter((l) => l.startsWith('error: ')).map((l) => l.replace(/\d+/g, 'N')));
      console.log([...distinct, `peak RSS ${peak.toFixed(0)} MiB`].join('\n'));
    }
    const turns = turnsOf(out);
    expect(turns).toHaveLength(TURNS);
    for (const [i, turn] of turns.entries()) {
      const lines = turn.split('\n');
      const errors = lines.filter((l) => l.startsWith('error: '));
      expect(errors.length, `turn ${i}: ${turn.slice(0, 500)}`).toBeLessThanOrEqual(1);
      // An error is one line, the last before the footer (whose split line starts "<time>: ").
      const footerAt = lines.findIndex((l) => /^\S+ m?s: /.test(l));
      if (errors.length) expect(lines[footerAt - 1], `turn ${i}`).toBe(errors[0]);
      // Every failure is explained: none falls through to the catch-all.
      for (const e of errors) expect(e, `turn ${i}`).not.toMatch(/^error: the model call failed:/);
    }
    expect(out).not.toMatch(RAW);
    expect(chat.stderr()).not.toMatch(/^\s+at /m);
    expect(chat.stderr()).not.toMatch(RAW);
    expect(peak, 'peak RSS of the client (MiB)').toBeLessThan(400);
    // The generated shapes did include the hostile ones.
    expect(new Set(served).size).toBeGreaterThan(6);
  });
});
