/*
 * The benchmarks' durable floor does the write it claims (bench/procs/floor-server.ts): each
 * store_memory leaves exactly its two files under their final names (no temporary file behind)
 * and one committed index row, and answers with store_memory's own result shape, which the SDK
 * client validates against Memento's output schema. The schema floor writes nothing. Nothing
 * about speed is asserted.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { callTool, connect, floorStdio } from '../../bench/lib/mcp.ts';

describe('the durable and schema floors', () => {
  let dir: string;
  const clients: Client[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'memento-floor-test-'));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('durable: two files linked into place and one index row per store', async () => {
    const client = await connect({ kind: 'stdio', server: floorStdio(process.env, [`durable=${dir}`]) });
    clients.push(client);
    const tools = (await client.listTools()).tools.map((t) => t.name);
    expect(tools).toEqual(['noop', 'store_memory']);
    const results = [];
    for (const content of ['first note', 'second note']) {
      results.push((await callTool(client, 'store_memory', { content, description: 'd', tags: ['a', 'b'] })).structuredContent);
    }
    expect(results[0]).toMatchObject({ description: 'd', tags: ['a', 'b'], size: 10 });
    const files = (await readdir(join(dir, 'user'))).sort();
    const names = results.map((r) => (r as { file: string }).file);
    expect(files).toEqual([...names.flatMap((f) => [f, `${f}.meta.json`])].sort());
    expect(await readFile(join(dir, 'user', names[1]!), 'utf8')).toBe('second note');
    expect(JSON.parse(await readFile(join(dir, 'user', `${names[0]}.meta.json`), 'utf8'))).toEqual(results[0]);
    const db = new DatabaseSync(join(dir, 'index.sqlite'), { readOnly: true });
    try {
      expect(db.prepare('SELECT file FROM memories ORDER BY rowid').all().map((r) => r.file)).toEqual(names);
    } finally {
      db.close();
    }
  });

  it('schema: the same tool and result shape, nothing written', async () => {
    const before = await readdir(dir);
    const client = await connect({ kind: 'stdio', server: floorStdio(process.env, ['schema']) });
    clients.push(client);
    const result = await callTool(client, 'store_memory', { content: 'x', tags: 'one' });
    expect(result.structuredContent).toMatchObject({ description: '', tags: ['one'], size: 1 });
    expect(await readdir(dir)).toEqual(before);
  });
});
