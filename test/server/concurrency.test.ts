/*
 * Many writers at once, and a server killed in the middle of them: 200 parallel stores across
 * 10 sessions give 200 distinct, retrievable memories; after a SIGKILL every acknowledged
 * memory is complete and readable, and nothing half-written is ever listed.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir } from '../helpers/memento.ts';
import { allMemories } from '../helpers/memories.ts';
import { connect, storeUntilKilled } from './support.ts';

let data: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  data = await tempDir('memento-concurrency-');
});
afterAll(async () => {
  await data.cleanup();
});

describe('concurrency', () => {
  it('200 parallel stores across 10 sessions give 200 distinct memories, all retrievable', async () => {
    const dir = join(data.path, 'parallel');
    const server = await startMemento(['serve', '--port', '0', '--data-dir', dir]);
    try {
      const sessions = await Promise.all(
        Array.from({ length: 10 }, (_, i) => connect(i % 2 ? 'sse' : 'http', server.url, { user: 'alice' })),
      );
      const stored = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          sessions[i % 10]!.ok('store_memory', {
            content: `note number ${i}`,
            // Half of them fight over the same name in the same second.
            ...(i % 2 ? { filename: 'same.txt' } : {}),
            tags: [`s${i % 10}`],
          }),
        ),
      );
      expect(new Set(stored.map((s) => s.id)).size).toBe(200);
      expect(new Set(stored.map((s) => s.file)).size).toBe(200);

      const listed = await allMemories(sessions[3]!);
      expect(listed.map((m) => m.id).sort()).toEqual(stored.map((s) => s.id).sort());
      const contents = await Promise.all(stored.map((s) => sessions[7]!.ok('get_memory', { id: s.id })));
      expect(contents.map((c) => c.content)).toEqual(stored.map((_, i) => `note number ${i}`));
      expect((await sessions[0]!.ok('search_memories', { query: 'number', limit: 50 })).total).toBe(200);

      const files = await readdir(join(dir, 'alice'));
      expect(files).toHaveLength(400);
      expect(files.filter((f) => f.startsWith('.tmp-'))).toEqual([]);
      await Promise.all(sessions.map((s) => s.close()));
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('after a SIGKILL in the middle of writes, every acknowledged memory is complete and readable', async () => {
    const dir = join(data.path, 'killed');
    const server = await startMemento(['serve', '--port', '0', '--data-dir', dir]);
    const body = (i: number) => `memory ${i}: ${'x'.repeat(20_000 + i)}`;
    const acknowledged = await storeUntilKilled(server, body);
    expect(acknowledged.size).toBeGreaterThanOrEqual(60);

    const restarted = await startMemento(['serve', '--port', '0', '--data-dir', dir]);
    try {
      const client = await connect('http', restarted.url, { user: 'alice' });
      const listed = await allMemories(client);
      const listedIds = new Set(listed.map((m) => m.id));
      for (const [id, i] of acknowledged) {
        expect(listedIds.has(id), `acknowledged memory ${i} is listed`).toBe(true);
        expect((await client.ok('get_memory', { id })).content).toBe(body(i));
      }
      // Whatever else is listed (written but not yet acknowledged at the kill) is whole too.
      for (const memory of listed) {
        const content = await readFile(join(dir, 'alice', memory.file), 'utf8');
        expect(Buffer.byteLength(content)).toBe(memory.size);
        expect(content).toMatch(/^memory \d+: x+$/);
      }
      expect((await client.ok('store_memory', { content: 'life goes on' })).size).toBe(12);
      await client.close();
    } finally {
      expect(await restarted.stop()).toBe(0);
    }
  });
});
