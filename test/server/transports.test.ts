/*
 * Every tool through the MCP SDK Client, against a real `memento serve` process: Streamable
 * HTTP (/mcp), legacy SSE (/sse + /messages) on one port, and stdio (`serve --stdio`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { connect, filesUnder, textOf, type Connection, type Kind } from './support.ts';

const TOOLS = ['delete_memory', 'get_memory', 'retrieve_memories', 'search_memories', 'store_memory'];

describe.each<Kind>(['http', 'sse', 'stdio'])('every tool over %s', (kind) => {
  let data: Awaited<ReturnType<typeof tempDir>>;
  let server: Running | undefined;
  let alice: Connection;

  beforeAll(async () => {
    data = await tempDir('memento-transport-');
    if (kind !== 'stdio') server = await startMemento(['serve', '--port', '0', '--data-dir', data.path]);
    alice = await connect(kind, server?.url ?? '', { user: 'alice', dataDir: data.path });
  });
  afterAll(async () => {
    await alice?.close();
    if (server) expect(await server.stop()).toBe(0);
    await data?.cleanup();
  });

  it('lists the five tools with titles, annotations and described schemas', async () => {
    const { tools } = await alice.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const tool of tools) {
      expect(tool.title).toEqual(expect.any(String));
      expect(tool.description!.length).toBeGreaterThan(40);
      expect(Object.keys(tool.annotations ?? {}).sort()).toEqual([
        'destructiveHint',
        'idempotentHint',
        'openWorldHint',
        'readOnlyHint',
      ]);
      expect(tool.outputSchema?.type).toBe('object');
      const properties = tool.inputSchema.properties as Record<string, { description?: string }>;
      for (const [name, schema] of Object.entries(properties)) {
        expect(schema.description, `${tool.name}.${name} is described`).toEqual(expect.any(String));
      }
      expect(properties.user_id?.description).toMatch(/generic MCP clients only/);
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(byName.store_memory!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false });
    expect(byName.search_memories!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(byName.delete_memory!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(byName.store_memory!.inputSchema.required).toEqual(['content']);
  });

  it('stores, retrieves, searches, gets and deletes', async () => {
    const content = `Meeting summary (${kind}): the budget is approved.\nÉtape suivante: hiring.`;
    const storeResult = await alice.call('store_memory', {
      content,
      filename: 'meeting_summary.txt',
      description: 'Weekly sync',
      tags: ['work', 'meetings'],
    });
    expect(storeResult.isError).toBeFalsy();
    // Every result carries a text block with the same data as its structured content.
    expect(JSON.parse(textOf(storeResult))).toEqual(storeResult.structuredContent);
    const stored = storeResult.structuredContent as { id: string; file: string; size: number; created: string };
    expect(stored.file).toMatch(/^\d{8}_\d{6}_meeting_summary\.txt$/);
    expect(stored.size).toBe(Buffer.byteLength(content));
    expect(await readFile(join(data.path, 'alice', stored.file), 'utf8')).toBe(content);

    const other = await alice.ok('store_memory', { content: 'Dentist on Friday', tags: 'health, personal' });
    expect(other.tags).toEqual(['health', 'personal']);

    const today = stored.created.slice(0, 10);
    const listed = await alice.ok('retrieve_memories', { since: today, until: today, limit: 1 });
    expect(listed.memories.map((m: { id: string }) => m.id)).toEqual([other.id]);
    expect(listed.total).toBe(2);
    const older = await alice.ok('retrieve_memories', { since: today, until: today, limit: 1, cursor: listed.nextCursor });
    expect(older.memories.map((m: { id: string }) => m.id)).toEqual([stored.id]);
    expect(older.nextCursor).toBeNull();
    const tagged = await alice.ok('retrieve_memories', { tag: 'Meetings' });
    expect(tagged.memories).toEqual([expect.objectContaining({ id: stored.id, preview: content, truncated: false })]);

    const found = await alice.ok('search_memories', { query: 'BUDGET approved' });
    expect(found.memories[0]).toMatchObject({ id: stored.id, score: expect.any(Number) });
    expect(found.total).toBe(1);

    const got = await alice.ok('get_memory', { id: stored.id });
    expect(got).toEqual({
      id: stored.id,
      file: stored.file,
      description: 'Weekly sync',
      tags: ['work', 'meetings'],
      created: stored.created,
      size: stored.size,
      content,
    });

    expect(await alice.ok('delete_memory', { id: stored.id })).toEqual({ id: stored.id, file: stored.file, deleted: true });
    expect(await alice.refused('get_memory', { id: stored.id })).toMatch(/No memory with id/);
    await alice.ok('delete_memory', { id: other.id });
    expect(await filesUnder(data.path)).toEqual([]);
  });

  it('answers a bad call with a tool error and keeps serving', async () => {
    expect(await alice.refused('store_memory', { content: '' })).toMatch(/content is empty/);
    expect(await alice.refused('retrieve_memories', { limit: 0 })).toMatch(/Input validation error.*limit/s);
    expect(await alice.refused('search_memories', { query: 42 })).toMatch(/query/);
    const still = await alice.ok('store_memory', { content: 'still here' });
    expect(still.id).toEqual(expect.any(String));
  });

  it('accepts a note of 1 MiB and refuses one above the limit with a clear error', async () => {
    const mib = 'a'.repeat(1024 * 1024);
    const big = await alice.ok('store_memory', { content: mib, filename: 'big.txt' });
    expect(big.size).toBe(1024 * 1024);
    expect((await alice.ok('get_memory', { id: big.id })).content).toBe(mib);
    const tooBig = 'b'.repeat(4 * 1024 * 1024 + 1);
    expect(await alice.refused('store_memory', { content: tooBig })).toMatch(
      /content is 4194305 bytes; this server stores at most 4194304 bytes \(4\.0 MiB\)/,
    );
  });
});
