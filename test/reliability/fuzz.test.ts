/*
 * Bad-input fuzzing against a real `memento serve` over MCP: a few thousand generated tool
 * calls — wrong types, huge and multi-byte strings, unicode, path tricks, nested junk, extra
 * fields, user-id games between `_meta` and the `user_id` argument, junk trace context — and
 * raw JSON-RPC with arguments that are not even objects. test/server/bad-input.test.ts holds
 * the table of known attacks with their exact messages; this searches around them.
 *
 * Every answer must be a success, a tool error with a readable message, or a JSON-RPC error;
 * a success must act for the user the identity rules name, and a store must be on disk in
 * that user's directory with exactly the content sent. Nothing may appear outside the data
 * root (the marker every path trick carries is searched for around it), nothing half-written
 * inside it, and the server must keep serving.
 */
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_ID_PATTERN, USER_META_KEY } from '../../src/protocol.ts';
import { ROOT, startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { auditDataDir } from '../helpers/memories.ts';
import { connect, post, rawSession, rawToolCall, textOf, type Connection } from '../server/support.ts';

const LIMIT = 64 * 1024;
/** In every path trick, so that a file made from one is found wherever it landed. */
const MARK = 'zqfuzzmark';
const TOOLS = ['store_memory', 'retrieve_memories', 'search_memories', 'get_memory', 'delete_memory'] as const;
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;
/** A new seed each run, so runs search different inputs; a failure names its seed, and MEMENTO_FUZZ_SEED=<seed> replays it. */
const SEED = Number(process.env.MEMENTO_FUZZ_SEED ?? Date.now() % 2 ** 31);

// ---- Generators --------------------------------------------------------------------------

const pathTrick = fc
  .tuple(
    fc.constantFrom('', '../', '../../../../', '/', '/tmp/', '..\\', 'C:\\', '\\\\host\\share\\', './', '%2e%2e%2f', '\uFF0E\uFF0E\uFF0F', '\u2024\u2024/', '~/', '$HOME/', 'a/../../', '\0', '\u202E', 'con/', '.', '..'),
    fc.constantFrom('', '.txt', '.meta.json', '/..', '\0.txt', ' ', '.', '/x', '\n', '..'),
  )
  .map(([before, after]) => `${before}${MARK}${after}`);

const huge = fc.constantFrom(
  'x'.repeat(LIMIT),
  'x'.repeat(LIMIT + 1),
  // Under the limit in characters, over it in UTF-8 bytes.
  '\u00E9'.repeat(LIMIT / 2 + 1),
  '\u{1F600}'.repeat(LIMIT / 4 + 1),
  'y'.repeat(3 * LIMIT),
);

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 3, arbitrary: pathTrick },
  { weight: 1, arbitrary: huge },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\n\t', 'alice', 'bob', 'default', '2024-07-15', '2024-02-30', '9999-99-99T99:99Z') },
);

const junk = fc.oneof(
  fc.anything({ maxDepth: 3, maxKeys: 5 }),
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom(null, true, 0, -1, 1e308, Number.MAX_SAFE_INTEGER, [], {}, [[[]]], { $ne: null }, JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}}')),
);

const anyValue = fc.oneof({ weight: 3, arbitrary: text }, { weight: 2, arbitrary: junk });
const numberish = fc.oneof(fc.integer({ min: -5, max: 200 }), fc.double(), anyValue);

/** Tool arguments: every field any tool takes, each present or not, of any type, plus extra fields. */
const argumentsOf = (ids: string[]) =>
  fc
    .tuple(
      fc.record(
        {
          content: anyValue,
          filename: anyValue,
          description: anyValue,
          tags: fc.oneof(fc.array(text, { maxLength: 40 }), anyValue),
          query: anyValue,
          limit: numberish,
          // Now and then an id that exists, so that get and delete succeed too.
          id: fc.oneof(fc.constantFrom(...ids), anyValue, anyValue),
          tag: anyValue,
          since: anyValue,
          until: anyValue,
          cursor: anyValue,
          user_id: fc.oneof(fc.constantFrom('alice', 'bob'), anyValue),
        },
        { requiredKeys: [] },
      ),
      fc.dictionary(fc.string({ maxLength: 12 }), junk, { maxKeys: 3 }),
    )
    .map(([known, extra]): Record<string, unknown> => ({ ...extra, ...known }));

/** What `params._meta` carries: nothing, the right user, another one, junk, or junk trace context. */
const metaArb = fc.oneof(
  fc.constant(undefined),
  fc.constant({ [USER_META_KEY]: 'alice' }),
  fc.constant({ [USER_META_KEY]: 'bob' }),
  fc.record({ [USER_META_KEY]: anyValue }),
  fc.record({ [USER_META_KEY]: fc.constant('alice'), traceparent: anyValue, tracestate: anyValue, baggage: anyValue }),
);

const word = fc.stringMatching(/^[A-Za-z0-9\u00C0-\u024F]{1,12}$/);
const safeName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,30}[A-Za-z0-9_-]$/);
const isoDate = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());

/** Arguments a model would plausibly send, each tool's own. */
const validArguments = (tool: (typeof TOOLS)[number], ids: string[]): fc.Arbitrary<Record<string, unknown>> => {
  switch (tool) {
    case 'store_memory':
      return fc.record(
        {
          content: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }).filter((c) => c.trim() !== ''),
          filename: safeName,
          description: fc.string({ maxLength: 60 }),
          tags: fc.oneof(fc.array(word, { maxLength: 5 }), word),
        },
        { requiredKeys: ['content'] },
      );
    case 'retrieve_memories':
      return fc.record({ tag: word, since: isoDate, until: isoDate, limit: fc.integer({ min: 1, max: 100 }), cursor: fc.constantFrom(...ids) }, { requiredKeys: [] });
    case 'search_memories':
      return fc.record({ query: fc.array(word, { minLength: 1, maxLength: 4 }).map((w) => w.join(' ')), limit: fc.integer({ min: 1, max: 50 }) }, { requiredKeys: ['query'] });
    default:
      return fc.record({ id: fc.constantFrom(...ids) });
  }
};

/** Valid arguments with one field (known or not) replaced by anything at all: errors deep in the handlers. */
const nearlyValid = (tool: (typeof TOOLS)[number], ids: string[]) =>
  fc
    .tuple(validArguments(tool, ids), fc.option(fc.tuple(fc.oneof(fc.constantFrom('content', 'filename', 'description', 'tags', 'query', 'limit', 'id', 'since', 'cursor', 'user_id'), fc.string({ maxLength: 8 })), anyValue)))
    .map(([args, change]) => (change ? { ...args, [change[0]]: change[1] } : args));

const callOf = (ids: string[]) =>
  fc.constantFrom(...TOOLS).chain((tool) =>
    fc.record({
      tool: fc.constant(tool),
      args: fc.oneof(argumentsOf(ids), nearlyValid(tool, ids)),
      meta: metaArb,
    }),
  );

// ---- What an answer may be ---------------------------------------------------------------

type Answer =
  | { kind: 'ok'; structured: Record<string, unknown> }
  | { kind: 'tool-error'; text: string }
  | { kind: 'rpc-error'; code: number; message: string };

const present = (v: unknown) => v !== undefined && v !== null && v !== '';

/**
 * The user a call acts for under the identity rules (src/server/identity.ts), or undefined
 * when it must be refused.
 */
function expectedUser(meta: Record<string, unknown> | undefined, userArg: unknown): string | undefined {
  const fromMeta = meta?.[USER_META_KEY];
  const valid = (v: unknown): v is string => typeof v === 'string' && USER_ID_PATTERN.test(v);
  if (fromMeta !== undefined) {
    if (!valid(fromMeta)) return undefined;
    return present(userArg) && userArg !== fromMeta ? undefined : fromMeta;
  }
  if (present(userArg)) return valid(userArg) ? userArg : undefined;
  return 'default';
}

describe('bad-input fuzzing', () => {
  let outer: Awaited<ReturnType<typeof tempDir>>;
  let data: string;
  let server: Running;
  let alice: Connection;
  let bare: Connection;
  let before: string[];
  const seeded: string[] = [];

  /** Every path under `dir` but the data root, to see that nothing else appears. */
  async function around(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true });
    return entries.filter((e) => e !== 'data' && !e.startsWith(`data/`)).sort();
  }

  beforeAll(async () => {
    outer = await tempDir('memento-fuzz-');
    data = join(outer.path, 'data');
    const cwd = join(outer.path, 'cwd');
    await mkdir(cwd);
    server = await startMemento(['serve', '--port', '0', '--data-dir', data, '--max-content-size', String(LIMIT)], { cwd });
    alice = await connect('http', server.url, { user: 'alice' });
    bare = await connect('http', server.url);
    // With the tools listed, the SDK client also checks each success against its output schema.
    await Promise.all([alice.client.listTools(), bare.client.listTools()]);
    for (let i = 0; i < 30; i++) seeded.push((await alice.ok('store_memory', { content: `seed ${i}`, tags: ['seed'] })).id);
    before = await around(outer.path);
  });
  afterAll(async () => {
    await alice?.close();
    await bare?.close();
    await server?.stop();
    await outer?.cleanup();
  });

  /** One call, classified; anything that is not an answer (a dropped connection, a timeout) throws. */
  async function call(tool: string, args: Record<string, unknown>, meta: Record<string, unknown> | undefined): Promise<Answer> {
    try {
      const result = meta === undefined ? await bare.call(tool, args) : await bare.call(tool, args, meta);
      if (result.isError) return { kind: 'tool-error', text: textOf(result) };
      return { kind: 'ok', structured: result.structuredContent as Record<string, unknown> };
    } catch (err) {
      // The SDK client's own output-schema check: a success the server got wrong.
      if (err instanceof McpError && !/output schema/.test(err.message)) return { kind: 'rpc-error', code: err.code, message: err.message };
      throw err;
    }
  }

  it(`3,000 generated tool calls get only successes or clear errors (seed ${SEED})`, { timeout: 150_000 }, async () => {
    const counts = { ok: 0, 'tool-error': 0, 'rpc-error': 0 };
    const echoed = new Map<string, string>();
    await fc.assert(
      fc.asyncProperty(callOf(seeded), async ({ tool, args, meta }) => {
        const answer = await call(tool, args, meta);
        counts[answer.kind]++;
        const user = expectedUser(meta, args.user_id);
        if (answer.kind === 'tool-error') {
          expect(answer.text.length).toBeGreaterThan(10);
          // A message for a person or a model: no stack, no server paths, no echo of a huge input.
          expect(answer.text).not.toMatch(/\n\s+at |node_modules|\[object Object\]/);
          expect(answer.text).not.toContain(outer.path);
          expect(answer.text.length).toBeLessThan(4000);
          // Nothing from the input that could rewrite a terminal or a log line (escapes, NUL,
          // CR, bidi overrides). Collected rather than thrown, so the run goes on checking the rest.
          if (CONTROL.test(answer.text)) echoed.set(answer.text.slice(0, 40), JSON.stringify(answer.text));
          return;
        }
        if (answer.kind === 'rpc-error') {
          expect(Number.isInteger(answer.code)).toBe(true);
          expect(answer.message.length).toBeGreaterThan(5);
          return;
        }
        // A success: only ever for the user the identity rules name.
        expect(user, 'a call that should have been refused succeeded').toBeDefined();
        if (tool === 'store_memory') {
          const file = answer.structured.file as string;
          const content = await readFile(join(data, user!, file), 'utf8');
          expect(content).toBe(args.content);
        }
        // Only alice has memories whose ids the generator knows: reading or deleting one
        // succeeds for her alone, never for a call that names another user.
        if (tool === 'get_memory' || tool === 'delete_memory') expect(user).toBe('alice');
      }),
      {
        numRuns: 3000,
        seed: SEED,
        // Found by this property (control characters echoed in an error), checked first in every run.
        examples: [
          [{ tool: 'retrieve_memories', args: { since: '\u001b[2J\u0000zq' }, meta: { [USER_META_KEY]: 'alice' } }],
          [{ tool: 'retrieve_memories', args: { until: 'a\rforged log line' }, meta: { [USER_META_KEY]: 'alice' } }],
        ],
      },
    );
    expect([...echoed.values()], 'tool errors that echo control characters from the input').toEqual([]);
    // The generators reach all three kinds of answer; a run that only meets validation errors proves little.
    expect(counts.ok).toBeGreaterThan(100);
    expect(counts['tool-error']).toBeGreaterThan(1000);
  });

  it('raw JSON-RPC with arguments, names and _meta of any shape gets JSON-RPC answers, never a 5xx', { timeout: 60_000 }, async () => {
    const session = await rawSession(server.url);
    const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
    let n = 100;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...TOOLS), anyValue), fc.oneof(junk, argumentsOf(seeded)), fc.oneof(fc.constant(undefined), junk), async (name, args, meta) => {
        const metaObject = meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Record<string, unknown>) : undefined;
        const body = rawToolCall(n++, name as string, args, metaObject);
        const res = await post(`${server.url}/mcp`, body, headers);
        expect(res.status, res.text.slice(0, 300)).toBeLessThan(500);
        expect(res.json, res.text.slice(0, 300)).toMatchObject({ jsonrpc: '2.0' });
        if (res.json.error) {
          expect(res.json.error).toMatchObject({ code: expect.any(Number), message: expect.any(String) });
        } else {
          expect(res.json.result.content.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 500, seed: SEED },
    );
  });

  it('left nothing outside the data root, and inside it only whole memories in valid user directories', async () => {
    expect(await around(outer.path)).toEqual(before);
    // The marker anywhere else a path trick could reach: the temp dir, the repository, home.
    const stray: string[] = [];
    async function search(dir: string, depth: number): Promise<void> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const path = join(dir, e.name);
        if (path === data) continue;
        if (e.name.includes(MARK)) stray.push(path);
        if (e.isDirectory() && depth > 0 && e.name !== 'node_modules' && e.name !== '.git') await search(path, depth - 1);
      }
    }
    await search(tmpdir(), 2);
    await search(ROOT, 2);
    await search(homedir(), 1);
    await search('/', 0);
    expect(stray).toEqual([]);

    const audit = await auditDataDir(data);
    expect(audit.temporary).toEqual([]);
    expect(audit.uncommitted).toEqual([]);
    expect(audit.halfPairs).toEqual([]);
    expect(audit.broken).toEqual([]);
    // The index database (.memento-index.sqlite*) is the one thing beside the user directories.
    for (const user of (await readdir(data)).filter((n) => !n.startsWith('.memento-index.sqlite'))) {
      expect(user).toMatch(USER_ID_PATTERN);
      for (const name of await readdir(join(data, user))) {
        expect((await stat(join(data, user, name))).isFile(), `${user}/${name}`).toBe(true);
        expect(name).toMatch(/^\d{8}_\d{6}_[A-Za-z0-9 ._-]+$/);
      }
    }
  });

  it('keeps serving', async () => {
    const stored = await alice.ok('store_memory', { content: 'after the fuzz', filename: 'calm.txt' });
    expect((await alice.ok('get_memory', { id: stored.id })).content).toBe('after the fuzz');
    expect(await (await fetch(`${server.url}/health`)).json()).toMatchObject({ status: 'ok' });
    expect(server.child.exitCode).toBeNull();
    expect(await server.stop()).toBe(0);
  });
});
