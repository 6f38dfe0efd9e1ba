/*
 * History shared through a real Redis (Debian's redis-server on a free loopback port): two
 * client processes, one history; and with Redis down the turn still works, with a one-line
 * warning.
 */
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runMemento, startInteractive, tempDir } from '../helpers/memento.ts';
import { startRedis, type RunningRedis } from '../helpers/redis.ts';

let dir: { path: string; cleanup: () => Promise<void> };
let redis: RunningRedis;
beforeAll(async () => {
  dir = await tempDir('memento-history-redis-');
  redis = await startRedis(dir.path);
}, 30_000);
afterAll(async () => {
  await redis?.stop();
  await dir.cleanup();
});

const env = (url: string) => ({ MEMENTO_HISTORY_URL: url, MEMENTO_DATA_DIR: join(dir.path, 'data') });

describe('history in Redis', () => {
  it('two clients, one history: what one said, the other continues', async () => {
    const a = await runMemento(['ask', '--json', '--user', 'kim', 'remember that the lease ends in June'], { env: env(redis.url) });
    expect(a.code, a.stderr).toBe(0);
    const first = JSON.parse(a.stdout);

    // A chat (another process) sees that exchange and continues the same conversation.
    const chat = startInteractive(['chat', '--user', 'kim'], { env: env(redis.url) });
    try {
      chat.send('/history');
      await chat.waitFor(/you: remember that the lease ends in June\nmemento: /);
      const mark = chat.stdout().length;
      chat.send('what did I store?');
      await chat.waitFor(/\d+ model calls?, \d+ tool calls?\n/, { since: mark });

      // …and a third client, continuing, sees both and takes turn 3.
      const c = await runMemento(['ask', '--json', '--continue', '--user', 'kim', 'what did I store?'], { env: env(redis.url) });
      expect(c.code, c.stderr).toBe(0);
      expect(JSON.parse(c.stdout)).toMatchObject({ conversationId: first.conversationId, turn: 3 });

      // The chat's next /history includes the third client's turn.
      chat.send('/history');
      await chat.waitFor(/you: what did I store\?\nmemento: [\s\S]*you: what did I store\?\nmemento: /, { since: mark });
      chat.send('/quit');
      expect(await chat.end()).toBe(0);
    } finally {
      chat.child.kill();
    }

    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      expect(await client.hGetAll('memento:history:kim:meta')).toEqual({ id: first.conversationId, turns: '3' });
      const items = (await client.lRange('memento:history:kim:exchanges', 0, -1)).map((i) => JSON.parse(i).user);
      expect(items).toEqual(['remember that the lease ends in June', 'what did I store?', 'what did I store?']);
    } finally {
      await client.close();
    }
  }, 150_000);

  it('Redis down: the turn works, with a one-line warning', async () => {
    const down = `redis://127.0.0.1:${await freePort()}`;
    const r = await runMemento(['ask', '--continue', '--user', 'lee', 'remember that the gate code is 4711'], { env: env(down) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Stored/);
    expect(r.stderr.trim().split('\n')).toEqual([
      `memento: could not read the conversation history at ${down} (ECONNREFUSED); going on with the history in memory`,
    ]);
  });

  it('a URL that is not redis:// is refused with a clear line', async () => {
    const r = await runMemento(['ask', 'hello'], { env: env('http://127.0.0.1:6379') });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('memento: MEMENTO_HISTORY_URL must be a redis:// or rediss:// URL, got http://…');
  });
});
