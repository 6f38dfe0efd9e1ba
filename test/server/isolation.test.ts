/*
 * Isolation: bob cannot read, search, get or delete alice's memories by any argument, whether
 * the user comes from _meta (the Memento client) or from a bearer token.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { connect, type Connection } from './support.ts';

interface Stored {
  id: string;
  file: string;
}

/** Every way bob might try to reach `secret`, with what must happen. */
async function attack(bob: Connection, secret: Stored): Promise<void> {
  for (const id of [secret.id, secret.file, `../alice/${secret.file}`, `alice/${secret.id}`, `../../alice/${secret.file}.meta.json`]) {
    expect(await bob.refused('get_memory', { id })).toMatch(/No memory with/);
    expect(await bob.refused('delete_memory', { id })).toMatch(/No memory with/);
  }
  for (const userId of ['alice', '../alice', 'bob/../alice', './alice', 'ALICE/..']) {
    for (const [tool, args] of [
      ['get_memory', { id: secret.id }],
      ['delete_memory', { id: secret.id }],
      ['retrieve_memories', {}],
      ['search_memories', { query: 'launch codes' }],
      ['store_memory', { content: 'planted' }],
    ] as const) {
      expect(await bob.refused(tool, { ...args, user_id: userId }), `${tool} user_id=${userId}`).toMatch(/Refused|not valid/);
    }
  }
  const search = await bob.ok('search_memories', { query: 'launch codes zebra' });
  expect(search.total).toBe(0);
  const listed = await bob.ok('retrieve_memories', { tag: 'secret' });
  expect(listed.total).toBe(0);
  // A cursor is only a position: alice's id as bob's cursor lists bob's own older memories.
  const paged = await bob.ok('retrieve_memories', { cursor: secret.id });
  for (const m of paged.memories) expect(m.preview).not.toMatch(/zebra/);
}

describe('isolation between users', () => {
  let data: Awaited<ReturnType<typeof tempDir>>;
  let server: Running;
  let tokensFile: string;

  beforeAll(async () => {
    data = await tempDir('memento-isolation-');
    tokensFile = join(data.path, 'tokens.json');
    await writeFile(tokensFile, JSON.stringify({ 'alice-token-3c1f9e7a2b': 'alice', 'bob-token-8d2e4f6a0c': 'bob' }));
    server = await startMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'data')]);
  });
  afterAll(async () => {
    await server?.stop();
    await data?.cleanup();
  });

  it('with the user in _meta, over Streamable HTTP and SSE', async () => {
    const alice = await connect('http', server.url, { user: 'alice' });
    const secret = await alice.ok('store_memory', { content: 'launch codes: zebra-42', tags: ['secret'] });
    const bobHttp = await connect('http', server.url, { user: 'bob' });
    const bobSse = await connect('sse', server.url, { user: 'bob' });
    await bobHttp.ok('store_memory', { content: 'bob grocery list' });
    await attack(bobHttp, secret);
    await attack(bobSse, secret);
    expect((await alice.ok('get_memory', { id: secret.id })).content).toBe('launch codes: zebra-42');
    expect((await alice.ok('search_memories', { query: 'zebra' })).total).toBe(1);
    expect(await readFile(join(data.path, 'data', 'alice', secret.file), 'utf8')).toBe('launch codes: zebra-42');
    await Promise.all([alice.close(), bobHttp.close(), bobSse.close()]);
  });

  it('with the user from a bearer token', async () => {
    const tokened = await startMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'tokened'), '--tokens', tokensFile]);
    try {
      const alice = await connect('http', tokened.url, { token: 'alice-token-3c1f9e7a2b' });
      const secret = await alice.ok('store_memory', { content: 'launch codes: zebra-43', tags: ['secret'] });
      // Bob's client even claims to be alice in _meta: the token wins, and the claim is refused.
      const bob = await connect('http', tokened.url, { token: 'bob-token-8d2e4f6a0c' });
      await attack(bob, secret);
      expect(await bob.refused('retrieve_memories', {}, { 'memento/user': 'alice' })).toMatch(/bearer token belongs to "bob"/);
      expect((await alice.ok('get_memory', { id: secret.id })).content).toBe('launch codes: zebra-43');
      await Promise.all([alice.close(), bob.close()]);
    } finally {
      await tokened.stop();
    }
  });
});
