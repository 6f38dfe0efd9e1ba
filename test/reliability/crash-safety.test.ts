/*
 * Crash safety at scale: 1,000 stores in flight at once (4 users, 16 sessions over Streamable
 * HTTP and legacy SSE, contents up to 60 KB so that writes take time), and the server killed
 * with SIGKILL once 100 of them have been acknowledged. The smaller version of this in
 * test/server/concurrency.test.ts kills a handful of serial writers; this one kills the server
 * with hundreds of writes at every stage at once.
 *
 * Acknowledged means the client got the tool result. After the crash: every acknowledged
 * memory is on disk and, after a restart, listed and readable with exactly the content sent;
 * every memory that is listed is whole; nothing half-written is ever a memory; and what the
 * crash left behind (temporary files, content that never got its sidecar) is removed by the
 * next start.
 */
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir } from '../helpers/memento.ts';
import { allMemories, auditDataDir } from '../helpers/memories.ts';
import { connect, type Connection, type Kind } from '../server/support.ts';

const STORES = 1000;
// Early enough that hundreds of stores are still unanswered when the kill lands: at 300, a
// quiet machine had written and answered all 1,000 before the signal arrived.
const KILL_AFTER = 100;
const USERS = ['alice', 'bob', 'carol', 'dave'];
const SESSIONS_PER_USER = 4;

/** Content of store `i`: names its number, so any file on disk says which store it came from. */
const contentOf = (i: number) => `memory ${i}: ${'x'.repeat((i * 7919) % 60_000)}`;
const numberOf = (content: string) => Number(/^memory (\d+): /.exec(content)?.[1] ?? -1);

let data: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  data = await tempDir('memento-crash-');
});
afterAll(() => data?.cleanup());

describe('crash safety', () => {
  it(`SIGKILL during ${STORES} concurrent stores: every acknowledged memory survives whole, nothing partial remains`, { timeout: 120_000 }, async () => {
    const dir = join(data.path, 'data');
    const server = await startMemento(['serve', '--port', '0', '--data-dir', dir]);
    const sessions: { user: string; connection: Connection }[] = [];
    for (const user of USERS) {
      for (let s = 0; s < SESSIONS_PER_USER; s++) {
        const kind: Kind = s % 2 ? 'sse' : 'http';
        sessions.push({ user, connection: await connect(kind, server.url, { user }) });
      }
    }

    const acknowledged = new Map<string, { user: string; i: number }>();
    let kill: () => void = () => {};
    const killed = new Promise<void>((resolve) => (kill = resolve));
    let isKilled = false;
    const settled = Promise.allSettled(
      Array.from({ length: STORES }, async (_, i) => {
        const { user, connection } = sessions[i % sessions.length]!;
        const stored: { id: string } = await connection.ok('store_memory', {
          content: contentOf(i),
          // A third of them race for the same name in the same second.
          ...(i % 3 === 0 ? { filename: 'same.txt' } : {}),
          tags: [`batch${i % 5}`],
        });
        acknowledged.set(stored.id, { user, i });
        if (acknowledged.size >= KILL_AFTER && !isKilled) {
          isKilled = true;
          server.child.kill('SIGKILL');
          kill();
        }
      }),
    );
    await Promise.race([killed, settled]);
    expect(isKilled, 'the server was killed with stores in flight').toBe(true);
    await server.stop();
    // A Streamable HTTP request fails with its connection; a legacy SSE client keeps waiting
    // for answers on an event stream that will not come back (the SDK's SSE transport only
    // reports the stream's error), so its sessions are closed, as a client that saw the
    // error would, and then nothing may stay pending.
    await Promise.all(sessions.map((s) => s.connection.close().catch(() => {})));
    const outcomes = await Promise.race([
      settled,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`stores still pending 30 s after the kill; ${acknowledged.size} acknowledged`)), 30_000)),
    ]);
    const rejected = outcomes.filter((o) => o.status === 'rejected').length;
    expect(acknowledged.size + rejected).toBe(STORES);
    expect(rejected, 'stores were cut off by the kill').toBeGreaterThan(0);

    // On disk, before anything touches it again.
    const crashed = await auditDataDir(dir);
    expect(crashed.halfPairs, 'a sidecar without its content').toEqual([]);
    expect(crashed.broken, 'a sidecar that lies about its content').toEqual([]);
    for (const memory of crashed.memories) {
      expect(memory.content, `${memory.user}/${memory.file}`).toBe(contentOf(numberOf(memory.content)));
    }
    const onDisk = new Set(crashed.memories.map((m) => m.meta.id));
    expect([...acknowledged.keys()].filter((id) => !onDisk.has(id)), 'acknowledged but not on disk').toEqual([]);

    // The restart comes later than the store's grace period for leftovers (a leftover younger
    // than that may be another process's write in flight): age them as a later restart would see them.
    const long = new Date(Date.now() - 10 * 60_000);
    await Promise.all([...crashed.temporary, ...crashed.uncommitted].map((f) => utimes(join(dir, f), long, long)));

    const restarted = await startMemento(['serve', '--port', '0', '--data-dir', dir]);
    try {
      let listedTotal = 0;
      for (const user of USERS) {
        const client = await connect('http', restarted.url, { user });
        const listed = await allMemories(client);
        listedTotal += listed.length;
        const listedIds = new Set(listed.map((m) => m.id));
        const mine = [...acknowledged].filter(([, a]) => a.user === user);
        expect(mine.filter(([id]) => !listedIds.has(id)).map(([, a]) => a.i), `${user}: acknowledged but not listed`).toEqual([]);
        for (const [id, { i }] of mine) expect((await client.ok('get_memory', { id })).content, `${user}: store ${i}`).toBe(contentOf(i));
        // Listed but never acknowledged (committed just before the kill): whole as well.
        for (const memory of listed.filter((m) => !acknowledged.has(m.id))) {
          const { content } = await client.ok('get_memory', { id: memory.id });
          expect(content).toBe(contentOf(numberOf(content)));
        }
        await client.close();
      }
      expect(listedTotal).toBe(crashed.memories.length);

      // Loading each user cleared what the crash left: only whole pairs remain.
      const after = await auditDataDir(dir);
      expect(after.temporary).toEqual([]);
      expect(after.uncommitted).toEqual([]);
      expect(after.halfPairs).toEqual([]);
      expect(after.broken).toEqual([]);
      expect(after.memories.map((m) => m.meta.id).sort()).toEqual([...onDisk].sort());

      const client = await connect('http', restarted.url, { user: 'alice' });
      expect((await client.ok('store_memory', { content: 'life goes on' })).size).toBe(12);
      await client.close();
    } finally {
      expect(await restarted.stop()).toBe(0);
    }
  });
});
