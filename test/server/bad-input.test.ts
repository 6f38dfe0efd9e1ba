/*
 * A table of bad inputs against a real `memento serve`: each gets a clear error, nothing is
 * written outside the user's directory, and the server keeps serving.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { connect, filesUnder, post, rawSession, type Connection } from './support.ts';

const LIMIT = 64 * 1024;

type Case = [name: string, tool: string, args: Record<string, unknown>, message: RegExp, meta?: Record<string, unknown>];

const PATH_TRICKS: [string, string][] = [
  ['parent traversal', '../evil'],
  ['deep traversal', '../../../../etc/passwd'],
  ['absolute path', '/etc/passwd'],
  ['Windows path', 'C:\\Windows\\evil'],
  ['NUL byte', 'ok\0../../evil'],
  ['overlong', 'a'.repeat(300)],
  ['fullwidth dots and slash', '\uFF0E\uFF0E\uFF0Fevil'],
  ['one-dot leaders', '\u2024\u2024'],
  ['bidi override', 'evil\u202Etxt'],
  ['newline', 'evil\nname'],
];

const CASES: Case[] = [
  // As a generic MCP client sends it: no _meta identity, the user in the arguments.
  ...PATH_TRICKS.map(([name, value]): Case => [
    `user_id: ${name}`,
    'store_memory',
    { content: 'x', user_id: value },
    /user id.*is not valid/s,
    {},
  ]),
  ...PATH_TRICKS.map(([name, value]): Case => [
    `_meta user: ${name}`,
    'retrieve_memories',
    {},
    /user id.*is not valid/s,
    { 'memento/user': value },
  ]),
  ...PATH_TRICKS.map(([name, value]): Case => [
    `file name: ${name}`,
    'store_memory',
    { content: 'x', filename: value },
    /file name/,
  ]),
  ['file name: nested path', 'store_memory', { content: 'x', filename: 'sub/dir/x.txt' }, /path separator/],
  ['file name: hidden file', 'store_memory', { content: 'x', filename: '.bashrc' }, /not allowed/],
  ['file name: metadata suffix', 'store_memory', { content: 'x', filename: 'x.meta.json' }, /reserved for metadata/],
  ['wrong type: content number', 'store_memory', { content: 42 }, /Input validation error.*content/s],
  ['wrong type: content missing', 'store_memory', {}, /Input validation error.*content/s],
  ['wrong type: tags object', 'store_memory', { content: 'x', tags: { a: 1 } }, /Input validation error.*tags/s],
  ['wrong type: limit string', 'retrieve_memories', { limit: 'ten' }, /Input validation error.*limit/s],
  ['wrong type: limit too big', 'search_memories', { query: 'x', limit: 10_000 }, /Input validation error.*limit/s],
  ['wrong type: id object', 'get_memory', { id: { $ne: null } }, /Input validation error.*id/s],
  ['wrong type: user_id number', 'store_memory', { content: 'x', user_id: 7 }, /Input validation error.*user_id/s],
  ['empty content', 'store_memory', { content: '' }, /content is empty/],
  ['blank content', 'store_memory', { content: '   \n' }, /content is empty/],
  ['oversized content', 'store_memory', { content: 'x'.repeat(LIMIT + 1) }, /65537 bytes; this server stores at most 65536 bytes/],
  ['oversized description', 'store_memory', { content: 'x', description: 'd'.repeat(5000) }, /description is 5000 characters/],
  ['unknown id: get', 'get_memory', { id: '20240101-000000-000-00000000' }, /No memory with id "20240101-000000-000-00000000"/],
  ['unknown id: delete', 'delete_memory', { id: 'nope' }, /No memory with id "nope"/],
  ['id path trick: get', 'get_memory', { id: '../../../etc/passwd' }, /No memory with id/],
  ['id path trick: delete', 'delete_memory', { id: '/etc/passwd' }, /No memory with id/],
  ['bad date', 'retrieve_memories', { since: 'last tuesday' }, /since must be an ISO 8601 date/],
  ['bad cursor', 'retrieve_memories', { cursor: '../x' }, /cursor is not one this server handed out/],
  ['query without words', 'search_memories', { query: '?!' }, /no words/],
];

describe('bad input', () => {
  let root: Awaited<ReturnType<typeof tempDir>>;
  let data: string;
  let server: Running;
  let client: Connection;

  beforeAll(async () => {
    root = await tempDir('memento-bad-input-');
    data = join(root.path, 'data');
    server = await startMemento(['serve', '--port', '0', '--data-dir', data, '--max-content-size', String(LIMIT)]);
    client = await connect('http', server.url, { user: 'alice' });
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
    await root?.cleanup();
  });

  it.each(CASES)('%s: a clear tool error', async (_name, tool, args, message, meta) => {
    const error = await client.refused(tool, args, meta ?? { 'memento/user': 'alice' });
    expect(error).toMatch(message);
    // Never a stack trace or a server path in the message.
    expect(error).not.toMatch(/\n\s+at |\/tmp\/|node_modules/);
  });

  it('left nothing outside the data directory and nothing half-written inside it', async () => {
    expect(await readdir(root.path)).toEqual(['data']);
    const files = await filesUnder(data);
    for (const file of files) expect(file.startsWith('alice/') || file.startsWith('default/')).toBe(true);
    expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('answers malformed JSON-RPC with JSON-RPC errors', async () => {
    const session = await rawSession(server.url);
    const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
    const cases: [string, number][] = [
      ['{"jsonrpc":"2.0","id":1,', -32700],
      ['\u0000\u0001garbage', -32700],
      ['{"jsonrpc":"1.0","id":1,"method":"tools/list"}', -32700],
      ['{"id":1,"method":"tools/call","params":"nope"}', -32700],
    ];
    for (const [body, code] of cases) {
      const res = await post(`${server.url}/mcp`, body, headers);
      expect(res.status, body).toBe(400);
      expect(res.json.error.code, body).toBe(code);
    }
    const badParams = await post(
      `${server.url}/mcp`,
      JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { arguments: {} } }),
      headers,
    );
    // The SDK validates request params itself (and calls this -32603 rather than -32602).
    expect(badParams.json).toMatchObject({ jsonrpc: '2.0', id: 9, error: { code: expect.any(Number), message: expect.any(String) } });
    expect([-32602, -32603]).toContain(badParams.json.error.code);
  });

  it('keeps serving afterwards', async () => {
    const stored = await client.ok('store_memory', { content: 'after the storm', filename: 'calm.txt' });
    expect((await client.ok('get_memory', { id: stored.id })).content).toBe('after the storm');
    const health = await fetch(`${server.url}/health`);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect(server.child.exitCode).toBeNull();
  });
});
