/*
 * Replicated servers: two `memento serve --stateless --store postgres://…` processes behind a
 * real round-robin nginx, on a real PostgreSQL. A store through one replica is listed through
 * the other at once; a client talking to the balancer (each request may land on either) works
 * as with one server; and a replica SIGKILLed in the middle of a burst loses no acknowledged
 * store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, startMemento, type Running } from '../helpers/memento.ts';
import { allMemories } from '../helpers/memories.ts';
import { startNginx, type RunningNginx } from '../helpers/nginx.ts';
import { startPostgres, type RunningPostgres } from '../helpers/postgres.ts';
import { connect, post, INITIALIZE } from './support.ts';

let pg: RunningPostgres;
let url: string;
let replicas: Running[] = [];
let proxy: RunningNginx;

const portOf = (r: Running) => Number(new URL(r.url).port);

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase('replicas');
  replicas = await Promise.all([0, 1].map(() => startMemento(['serve', '--port', '0', '--store', url, '--stateless'])));
  proxy = await startNginx(replicas.map(portOf));
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all(replicas.map((r) => r.stop()));
  await pg?.stop();
});

describe('two replicas behind a round-robin proxy', () => {
  it('a store through one replica is listed, searched, read and deletable through the other at once', async () => {
    const one = await connect('http', replicas[0]!.url, { user: 'rita' });
    const two = await connect('http', replicas[1]!.url, { user: 'rita' });
    for (let round = 1; round <= 20; round++) {
      const stored = await one.ok('store_memory', { content: `round ${round} lives in postgres`, tags: ['shared'] });
      const listed = await two.ok('retrieve_memories', { limit: 1 });
      expect(listed.memories[0].id).toBe(stored.id);
      expect(listed.total).toBe(round);
    }
    const found = await two.ok('search_memories', { query: 'postgres round', limit: 50 });
    expect(found.total).toBe(20);
    const first = found.memories.at(-1)!;
    expect((await two.ok('get_memory', { id: first.id })).content).toMatch(/lives in postgres/);
    await two.ok('delete_memory', { id: first.id });
    expect((await one.ok('retrieve_memories', { tag: 'shared' })).total).toBe(19);
    await one.close();
    await two.close();
  });

  it('is stateless: no session id, and a client through the balancer works whichever replica answers', async () => {
    const init = await post(`${proxy.url}/mcp`, INITIALIZE);
    expect(init.status).toBe(200);
    expect(init.headers.get('mcp-session-id')).toBeNull();
    const client = await connect('http', proxy.url, { user: 'sam' });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await client.ok('store_memory', { content: `through the proxy ${i}` })).id);
      // The next request goes to the other replica (round robin): it must see this store.
      expect((await client.ok('retrieve_memories', { limit: 100 })).total).toBe(i + 1);
    }
    expect((await allMemories(client)).map((m) => m.id).sort()).toEqual(ids.sort());
    expect((await fetch(`${proxy.url}/sse`)).status).toBe(404);
    await client.close();
  });

  it("the Memento client works through the balancer (memento ask against the stateless replicas)", { timeout: 60_000 }, async () => {
    const env = { MEMENTO_MCP_URL: `${proxy.url}/mcp`, MEMENTO_USER: 'uma' };
    const stored = await runMemento(['ask', '--json', 'remember that the wifi password is on the fridge'], { env });
    expect(stored.code, stored.stderr).toBe(0);
    expect(JSON.parse(stored.stdout)).toMatchObject({ ok: true, tools: [{ name: 'store_memory', ok: true }] });
    const found = await runMemento(['ask', '--json', 'search for wifi'], { env });
    expect(found.code, found.stderr).toBe(0);
    expect(JSON.parse(found.stdout).answer).toMatch(/fridge/);
  });

  it('one replica SIGKILLed mid-burst loses no acknowledged store', { timeout: 90_000 }, async () => {
    const writers = await Promise.all(Array.from({ length: 6 }, () => connect('http', proxy.url, { user: 'kim' })));
    const acknowledged = new Map<string, number>();
    let next = 0;
    let killed = false;
    await Promise.all(
      writers.map(async (w) => {
        while (acknowledged.size < 150) {
          const i = next++;
          try {
            const stored = await w.ok('store_memory', { content: `burst ${i}` });
            acknowledged.set(stored.id, i);
          } catch {
            // A request the killed replica was serving: not acknowledged, so nothing is owed.
          }
          if (!killed && acknowledged.size >= 40) {
            killed = true;
            replicas[0]!.child.kill('SIGKILL');
          }
        }
      }),
    );
    expect(killed).toBe(true);
    const survivor = await connect('http', replicas[1]!.url, { user: 'kim' });
    const listed = new Set((await allMemories(survivor)).map((m) => m.id));
    for (const [id, i] of acknowledged) {
      expect(listed.has(id), `acknowledged store ${i} is listed`).toBe(true);
      expect((await survivor.ok('get_memory', { id })).content).toBe(`burst ${i}`);
    }
    await survivor.close();
    await Promise.all(writers.map((w) => w.close().catch(() => {})));
  });
});
