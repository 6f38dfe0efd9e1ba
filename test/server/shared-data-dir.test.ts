/*
 * Two server processes on one data directory — two `memento chat` windows each start their
 * own server — must agree at every moment: in each of 50 rounds both store at the same
 * instant, then both list; the totals must be equal and right (0 disagreeing rounds), no store
 * may fail, and a memory written by one is read and deleted through the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { MEMENTO_BIN, baseEnv, tempDir } from '../helpers/memento.ts';

let data: { path: string; cleanup: () => Promise<void> };
const clients: Client[] = [];

async function server(): Promise<Client> {
  const env = baseEnv({ MEMENTO_DATA_DIR: data.path }) as Record<string, string>;
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(new StdioClientTransport({ command: MEMENTO_BIN, args: ['serve', '--stdio'], env }));
  clients.push(client);
  return client;
}

const call = async (client: Client, name: string, args: Record<string, unknown>) => {
  const result = await client.callTool({ name, arguments: args, _meta: { 'memento/user': 'gina' } });
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return result.structuredContent as Record<string, any>;
};

beforeAll(async () => {
  data = await tempDir();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await data.cleanup();
});

describe('two servers on one data directory', () => {
  it('see each other\'s stores and deletes at once: 0 disagreeing rounds of 50, no failed store', { timeout: 120_000 }, async () => {
    const a = await server();
    const b = await server();
    // Both have looked at gina's (empty) memories before either writes.
    expect((await call(a, 'retrieve_memories', {})).memories).toEqual([]);
    expect((await call(b, 'retrieve_memories', {})).memories).toEqual([]);

    const disagreeing: string[] = [];
    for (let round = 1; round <= 50; round++) {
      // Same name, same second, two processes: the name race the index must not lose.
      const [x, y] = await Promise.all([
        call(a, 'store_memory', { content: `round ${round} from a`, filename: 'race.txt' }),
        call(b, 'store_memory', { content: `round ${round} from b`, filename: 'race.txt' }),
      ]);
      expect(x.file).not.toBe(y.file);
      const [la, lb] = await Promise.all([call(a, 'retrieve_memories', { limit: 1 }), call(b, 'retrieve_memories', { limit: 1 })]);
      if (la.total !== 2 * round || lb.total !== 2 * round) disagreeing.push(`round ${round}: a ${la.total}, b ${lb.total}`);
    }
    expect(disagreeing).toEqual([]);

    const stored = await call(a, 'store_memory', { content: 'the bike lock code is 4711', tags: ['home'] });
    expect((await call(b, 'search_memories', { query: 'bike lock' })).memories.map((m: { id: string }) => m.id)).toEqual([stored.id]);
    expect((await call(b, 'get_memory', { id: stored.id })).content).toBe('the bike lock code is 4711');
    await call(b, 'delete_memory', { id: stored.id });
    expect((await call(a, 'search_memories', { query: 'bike' })).memories).toEqual([]);
    const refused = await a.callTool({ name: 'get_memory', arguments: { id: stored.id }, _meta: { 'memento/user': 'gina' } });
    expect(refused.isError).toBe(true);
    expect((await call(a, 'retrieve_memories', { limit: 1 })).total).toBe(100);
  });
});
