/*
 * The PostgreSQL backend's own business, beyond the contract suite: the schema migration from
 * version 1 (no per-user counts) keeps every memory and counts them, and the per-user count a
 * plain listing reports stays exact through concurrent stores and deletes of several users, and
 * search's one-pass statement gives what the plain query gives (every match ranked, ties to the
 * newer memory, the exact count).
 * A real PostgreSQL from Debian's package (test/helpers/postgres.ts).
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../../src/server/storage/index.ts';
import { startPostgres, type RunningPostgres } from '../../helpers/postgres.ts';

let pg: RunningPostgres;
let n = 0;
const opened: Storage[] = [];
const open = async (url: string) => {
  const s = await openStorage({ dataDir: '/nonexistent', storeUrl: url });
  opened.push(s);
  return s;
};

beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close().catch(() => {})));
  await pg?.stop();
});

/** Every id a user has, by paging the listing. */
async function allIds(store: Storage, user: string): Promise<string[]> {
  const ids: string[] = [];
  for (let cursor: string | undefined; ; ) {
    const page = await store.list(user, { limit: 50, ...(cursor ? { cursor } : {}) });
    ids.push(...page.memories.map((m) => m.id));
    if (!page.nextCursor) return ids;
    cursor = page.nextCursor;
  }
}

describe('PostgreSQL backend', () => {
  it('migrates a version-1 schema to per-user counts, keeping and counting every memory', { timeout: 60_000 }, async () => {
    const url = await pg.createDatabase(`migrate_${++n}`);
    const store = await open(url);
    const stored: Record<string, string[]> = { alice: [], bob: [] };
    const odd: Record<string, number> = { alice: 0, bob: 0 };
    for (let i = 0; i < 60; i++) {
      const user = i % 3 ? 'alice' : 'bob';
      if (i % 2) odd[user]!++;
      stored[user]!.push((await store.store(user, { content: `memory ${i} about gardening`, tags: i % 2 ? ['odd'] : [] })).id);
    }
    await store.close();
    opened.pop();

    // Back to version 1 exactly: the table and indexes as they were, no count table or trigger.
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`
        DROP TRIGGER memories_count ON memories;
        DROP TRIGGER memories_truncate ON memories;
        DROP FUNCTION memento_count_memories();
        DROP TABLE memento_user_counts;
        DROP TABLE memento_tag_counts;
        UPDATE memento_schema SET version = 1;`);
    } finally {
      await admin.end();
    }

    const again = await open(url);
    for (const user of ['alice', 'bob']) {
      const page = await again.list(user, { limit: 5 });
      expect(page.total).toBe(stored[user]!.length);
      expect((await again.list(user, { tag: 'ODD' })).total).toBe(odd[user]);
      expect((await allIds(again, user)).sort()).toEqual([...stored[user]!].sort());
      for (const id of stored[user]!) expect((await again.get(user, id)).content).toMatch(/^memory \d+ about gardening$/);
    }
    expect((await again.search('alice', 'garden')).total).toBe(40);
    // The counts go on from there.
    await again.delete('bob', stored.bob![0]!);
    await again.store('alice', { content: 'one more' });
    expect((await again.list('bob')).total).toBe(19);
    expect((await again.list('alice')).total).toBe(41);
    expect((await again.list('bob', { tag: 'odd' })).total).toBe(odd.bob!);
    await again.store('bob', { content: 'tagged', tags: ['Odd', 'new'] });
    expect((await again.list('bob', { tag: 'odd' })).total).toBe(odd.bob! + 1);
    expect((await again.list('bob', { tag: 'new' })).total).toBe(1);
    expect((await again.list('bob', { tag: 'never' })).total).toBe(0);
    expect((await again.list('carol')).total).toBe(0);
  });

  it('keeps each user’s listed total exact through concurrent stores and deletes, filtered or not', { timeout: 60_000 }, async () => {
    const url = await pg.createDatabase(`counts_${++n}`);
    const [one, two] = [await open(url), await open(url)];
    const users = ['u1', 'u2', 'u3'];
    const made = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        (i % 2 ? one : two).store(users[i % 3]!, { content: `note ${i}`, tags: i % 4 ? (i % 2 ? ['x', 'y'] : ['y', 'x']) : ['four', 'x'] }),
      ),
    );
    // Delete every fifth concurrently through both handles, each twice: one of each pair wins.
    const doomed = made.filter((_, i) => i % 5 === 0);
    const results = await Promise.allSettled(doomed.flatMap((m, i) => [one, two].map((s) => s.delete(users[made.indexOf(m) % 3]!, m.id))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(doomed.length);
    for (const [u, user] of users.entries()) {
      const kept = made.filter((_, i) => i % 3 === u && i % 5 !== 0);
      for (const s of [one, two]) {
        expect((await s.list(user)).total).toBe(kept.length);
        expect((await s.list(user, { tag: 'four' })).total).toBe(made.filter((_, i) => i % 3 === u && i % 5 !== 0 && i % 4 === 0).length);
        expect((await s.list(user, { tag: 'x' })).total).toBe(kept.length);
        expect((await s.list(user, { tag: 'y' })).total).toBe(made.filter((_, i) => i % 3 === u && i % 5 !== 0 && i % 4 !== 0).length);
        expect((await s.search(user, 'note')).total).toBe(kept.length);
      }
      expect((await allIds(one, user)).sort()).toEqual(kept.map((m) => m.id).sort());
    }
  });

  it('scores and counts every match: any limit gives the top of one order (score, then newer), the total the plain count', { timeout: 60_000 }, async () => {
    const url = await pg.createDatabase(`search_${++n}`);
    const store = await open(url);
    const words = ['apple', 'apricot', 'banana', 'cherry', 'applause', 'grape'];
    let seed = 7;
    const pick = () => words[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % words.length]!;
    for (let i = 0; i < 400; i++) {
      await store.store(i % 2 ? 'alice' : 'bob', { content: `${pick()} ${pick()} ${pick()}`, ...(i % 7 ? {} : { tags: [pick()] }) });
    }
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      for (const [query, prefixes] of [['app', 'app:*'], ['banana cherry', 'banana:* | cherry:*'], ['grape apricot apple', 'grape:* | apricot:* | apple:*']] as const) {
        const matching = await sql<{ id: string }[]>`
          SELECT id FROM memories WHERE user_id = 'alice' AND search @@ to_tsquery('simple', ${prefixes})`;
        const all = await store.search('alice', query, 500);
        expect(all.total).toBe(matching.length);
        expect(all.memories.map((m) => m.id).sort()).toEqual(matching.map((r) => r.id).sort());
        const order = [...all.memories].sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1));
        expect(all.memories.map((m) => m.id)).toEqual(order.map((m) => m.id));
        expect(new Set(all.memories.map((m) => m.score)).size).toBeGreaterThan(1);
        for (const limit of [1, 10, 50]) {
          const found = await store.search('alice', query, limit);
          expect(found.total).toBe(matching.length);
          expect(found.memories).toEqual(all.memories.slice(0, limit));
        }
      }
      expect((await store.search('alice', 'kiwi')).total).toBe(0);
    } finally {
      await sql.end();
    }
  });
});
