/*
 * Azure misbehaving under many users at once: a burst of 429s in the middle of traffic, and a
 * model slower than the client's timeout. Every turn returns — completed, or failed with the
 * one-line message that says what happened — within a bound; a failed turn leaves nothing
 * half-done on disk; and the same sessions work again once Azure does.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDriver, type DrivenTurn } from '../helpers/drive.ts';
import { freePort, startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { OtlpReceiver, SPAN_KIND, STATUS } from '../helpers/otlp-receiver.ts';

const KEY = 'sk-azure-faults-test-000000000000';

const receiver = new OtlpReceiver();
let root: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  await receiver.start();
  root = await tempDir('memento-azure-faults-');
});
afterAll(async () => {
  await receiver.stop();
  await root?.cleanup();
});

async function contentsOf(dataDir: string, user: string): Promise<string[]> {
  const names = await readdir(join(dataDir, user)).catch(() => [] as string[]);
  const contents = names.filter((n) => !n.endsWith('.meta.json'));
  expect(names.length, `${user}: every content file has its sidecar, nothing else`).toBe(2 * contents.length);
  return (await Promise.all(contents.map((n) => readFile(join(dataDir, user, n), 'utf8')))).sort();
}

const stored = (turns: DrivenTurn[]) =>
  turns.filter((t) => t.tools.some((o) => o.name === 'store_memory' && o.ok)).map((t) => t.text.replace(/^remember that /, ''));

describe('Azure faults', () => {
  let server: Running;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = join(root.path, 'data');
    server = await startMemento(['serve', '--port', '0', '--data-dir', dataDir], { env: { ...receiver.env(), MEMENTO_TRACE_FILE: 'off' } });
  });
  afterAll(() => server?.stop());

  it('a burst of 429s mid-traffic: retried, and each turn completes or fails saying so; none hangs', { timeout: 90_000 }, async () => {
    const users = Array.from({ length: 10 }, (_, i) => `burst${i}`);
    // While the burst lasts every request is throttled, so a call fails once it has met four
    // 429s (the first attempt and 3 retries), and a call that has not failed has met at most
    // three. Each user has one call in progress at a time, so when the burst ends at most
    // 3 × 10 of its 429s sit in calls that go on to succeed: 50 of them fail at least
    // ⌈(50 − 30) / 4⌉ = 5 calls and at most ⌊50 / 4⌋ = 12, however the turns interleave.
    const burst = 50;
    const sim = await startMemento(['simulator', '--port', '0', '--api-key', KEY, '--faults', `ok*20,429*${burst}`, '--retry-after-ms', '50']);
    const driver = startDriver({ ...receiver.env(), AZURE_OPENAI_ENDPOINT: sim.url, AZURE_OPENAI_API_KEY: KEY, MEMENTO_MCP_URL: `${server.url}/mcp` });
    try {
      const turns = await driver.run(
        users.map((user) => ({ user, texts: [0, 1, 2].map((i) => `remember that ${user} survived burst ${i}`) })),
        60_000,
      );
      expect(turns).toHaveLength(30);
      expect(turns.filter((t) => t.thrown)).toEqual([]);
      const failed = turns.filter((t) => !t.ok);
      for (const t of failed) {
        expect(t.error).toEqual({
          type: '429',
          message: 'Azure OpenAI is rate-limiting requests (429) after 3 retries; wait a little and try again.',
        });
      }
      expect(failed.length).toBeGreaterThanOrEqual(5);
      expect(failed.length).toBeLessThanOrEqual(12);

      const closed = await driver.end();
      expect(closed.code, driver.stderr()).toBe(0);

      // Every throttled attempt is an HTTP span under its chat span: the whole burst reached
      // the turns, and calls that met it and were retried went on to an answer.
      await receiver.waitFor(() => turns.every((t) => receiver.byTrace(t.traceId!).some((s) => s.name === 'invoke_agent memento')));
      const spans = turns.flatMap((t) => receiver.byTrace(t.traceId!));
      const attempts = (chat: { spanId: string }) =>
        spans
          .filter((s) => s.parentSpanId === chat.spanId && s.kind === SPAN_KIND.CLIENT && s.name === 'POST')
          .sort((a, b) => Number(a.startNs - b.startNs))
          .map((s) => s.attributes['http.response.status_code']);
      const chats = spans.filter((s) => s.attributes['gen_ai.operation.name'] === 'chat');
      expect(chats.flatMap(attempts).filter((status) => status === 429)).toHaveLength(burst);
      expect(chats.filter((c) => c.status.code === STATUS.ERROR).map(attempts)).toEqual(failed.map(() => [429, 429, 429, 429]));
      expect(chats.some((c) => attempts(c).includes(429) && attempts(c).at(-1) === 200), 'a call throttled, retried and answered').toBe(true);

      // On disk: exactly the memories whose store ran, each once — including those of turns
      // whose summarizing call was the one throttled away.
      for (const user of users) {
        expect(await contentsOf(dataDir, user)).toEqual(stored(turns.filter((t) => t.user === user)).sort());
      }
    } finally {
      await driver.end().catch(() => {});
      await sim.stop();
    }
  });

  it('a model slower than the timeout: a clear timeout error within the bound; the sessions work again after', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const simulator = (...flags: string[]) => startMemento(['simulator', '--port', String(port), '--api-key', KEY, ...flags]);
    // Twenty seconds per answer against a 500 ms timeout and one retry.
    let sim = await simulator('--latency', '20000');
    const driver = startDriver({
      ...receiver.env(),
      AZURE_OPENAI_ENDPOINT: sim.url,
      AZURE_OPENAI_API_KEY: KEY,
      MEMENTO_MCP_URL: `${server.url}/mcp`,
      MEMENTO_MODEL_TIMEOUT_MS: '500',
      MEMENTO_MODEL_MAX_RETRIES: '1',
    });
    try {
      const users = ['slow0', 'slow1', 'slow2'];
      const slow = await driver.run(users.map((user) => ({ user, texts: [`remember that ${user} waited`] })), 30_000);
      for (const t of slow) {
        expect(t.ok).toBe(false);
        expect(t.error).toEqual({
          type: 'timeout',
          message: 'Azure OpenAI did not answer in time after 1 retries (timeout); check AZURE_OPENAI_ENDPOINT or raise MEMENTO_MODEL_TIMEOUT_MS.',
        });
        // Two 500 ms attempts and a backoff: nowhere near the 20 s the model would take.
        expect(t.durationMs).toBeLessThan(10_000);
        const spans = await receiver.waitFor((all) => all.some((s) => s.traceId === t.traceId && s.name === 'invoke_agent memento'));
        const mine = spans.filter((s) => s.traceId === t.traceId);
        const turnSpan = mine.find((s) => s.name === 'invoke_agent memento')!;
        expect(turnSpan.status.code).toBe(STATUS.ERROR);
        expect(turnSpan.attributes['error.type']).toBe('timeout');
        const chat = mine.find((s) => s.attributes['gen_ai.operation.name'] === 'chat')!;
        expect(mine.filter((s) => s.parentSpanId === chat.spanId && s.name === 'POST'), 'the attempt and its one retry').toHaveLength(2);
      }

      // Azure is fast again at the same address: the same sessions carry on.
      await sim.stop();
      sim = await simulator();
      const fast = await driver.run(users.map((user) => ({ user, texts: [`remember that ${user} was answered`] })), 30_000);
      expect(fast.filter((t) => !t.ok)).toEqual([]);
      for (const user of users) expect(await contentsOf(dataDir, user)).toEqual([`${user} was answered`]);

      const closed = await driver.end();
      expect(closed.code, driver.stderr()).toBe(0);
      expect(closed.exitMs).toBeLessThan(8000);
    } finally {
      await driver.end().catch(() => {});
      await sim.stop();
    }
  });
});
