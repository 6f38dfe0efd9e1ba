/*
 * Two server processes on one data directory — two `memento chat` windows each start their
 * own server on ./memento-data — must see each other's memories: a store in one shows up
 * in the other, and so does a delete.
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
  it('see each other\'s stores and deletes', async () => {
    const a = await server();
    const b = await server();
    // Both have loaded gina's (empty) memories before either writes.
    expect((await call(a, 'retrieve_memories', {})).memories).toEqual([]);
    expect((await call(b, 'retrieve_memories', {})).memories).toEqual([]);

    const stored = await call(a, 'store_memory', { content: 'the bike lock code is 4711', tags: ['home'] });
    const seen = await call(b, 'retrieve_memories', {});
    expect(seen.memories.map((m: { id: string }) => m.id)).toEqual([stored.id]);
    expect((await call(b, 'search_memories', { query: 'bike lock' })).memories).toHaveLength(1);
    expect((await call(b, 'get_memory', { id: stored.id })).content).toBe('the bike lock code is 4711');

    await call(b, 'delete_memory', { id: stored.id });
    expect((await call(a, 'retrieve_memories', {})).memories).toEqual([]);
    expect((await call(a, 'search_memories', { query: 'bike' })).memories).toEqual([]);
  });
});
