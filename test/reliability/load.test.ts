/*
 * Load: 50 simulated users × 10 turns in parallel through the real client code, against one
 * `memento serve` and one `memento simulator`, every process exporting OTLP to a receiver
 * here. Every turn must arrive as one complete trace — root, both chat spans with their
 * HTTP attempts, the tool span, the joined server spans — counted span by span, because the
 * batch span processor drops spans silently when its queue overflows. The collector answers
 * each export after a second, as a collector under load does: the processor exports one batch
 * at a time, so spans pile up in its queue while the turns go on, which is the case a queue
 * too small (the SDK's stock 2048) loses spans in. A second is well inside the 2.5 s that the
 * client's shutdown gives its last exports.
 *
 * The telemetry settings are the product's defaults (no OTEL_BSP_* overrides): what users run.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDriver } from '../helpers/drive.ts';
import { startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { CLIENT, expectCompleteTurn, expectedSpans, type TurnShape } from './trace-shape.ts';

const USERS = 50;
const TURNS = 10;
/** What each turn of a user says, and the one tool it makes the model call. */
const SCRIPT: { text: (user: string, i: number) => string; tool: string }[] = Array.from({ length: TURNS }, (_, i) =>
  i === 2 || i === 8 ? { text: () => 'what did I store?', tool: 'retrieve_memories' }
  : i === 5 ? { text: () => 'search for keeps', tool: 'search_memories' }
  : { text: (user) => `remember that ${user} keeps note ${i}`, tool: 'store_memory' },
);
const storesBefore = (i: number) => SCRIPT.slice(0, i).filter((s) => s.tool === 'store_memory').length;

const receiver = new OtlpReceiver();
let data: Awaited<ReturnType<typeof tempDir>>;
let server: Running;
let simulator: Running;
// Only the endpoint: batch sizes, queue and delays stay at Memento's defaults.
const otel = () => ({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });

beforeAll(async () => {
  await receiver.start();
  receiver.responseDelayMs = 1000;
  data = await tempDir('memento-load-');
  [server, simulator] = await Promise.all([
    startMemento(['serve', '--port', '0', '--data-dir', data.path], { env: otel() }),
    // The simulator stands in for Azure, whose side is not part of a turn's trace: it exports nothing.
    startMemento(['simulator', '--port', '0']),
  ]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), simulator?.stop()]);
  await receiver.stop();
  await data?.cleanup();
});

describe('load', () => {
  it(`${USERS} users × ${TURNS} turns in parallel: every turn is one complete trace, no span lost`, { timeout: 150_000 }, async () => {
    const driver = startDriver({
      ...otel(),
      AZURE_OPENAI_ENDPOINT: simulator.url,
      AZURE_OPENAI_API_KEY: 'sk-load-test-0000000000000000',
      MEMENTO_MCP_URL: `${server.url}/mcp`,
    });
    const users = Array.from({ length: USERS }, (_, u) => `user${u}`);
    const turns = await driver.run(
      users.map((user) => ({ user, texts: SCRIPT.map((s, i) => s.text(user, i)) })),
      120_000,
    );
    const closed = await driver.end();
    expect(closed.code, driver.stderr()).toBe(0);

    expect(turns).toHaveLength(USERS * TURNS);
    expect(turns.filter((t) => !t.ok)).toEqual([]);
    for (const turn of turns) {
      expect(turn.tools.map((t) => [t.name, t.ok]), `${turn.user} turn ${turn.index}`).toEqual([[SCRIPT[turn.index]!.tool, true]]);
      // Each user sees exactly their own memories, however the turns interleave.
      const n = storesBefore(turn.index);
      if (turn.index === 2 || turn.index === 8) expect(turn.answer).toMatch(new RegExp(`You stored ${n} memories`));
      if (turn.index === 5) expect(turn.answer).toMatch(new RegExp(`I found ${n} memories`));
    }

    const shapeOf = (index: number): TurnShape => ({ tool: SCRIPT[index]!.tool, connected: index === 0, loaded: index === 0 });
    const expectedTotal = turns.reduce((sum, t) => sum + expectedSpans(shapeOf(t.index)).length, 0);
    await receiver.waitFor((spans) => spans.length >= expectedTotal, 30_000);
    // Late stragglers would show up as extra spans. Both exporting processes end first: the
    // driver has exited, and the server flushes and exits on SIGTERM, so once it is gone
    // nothing more can arrive.
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(receiver.spans.length, 'spans received in all').toBe(expectedTotal);
    expect(receiver.traceIds().sort(), 'one trace per turn, and no other').toEqual(turns.map((t) => t.traceId).sort());

    for (const turn of turns) {
      const spans = receiver.byTrace(turn.traceId!);
      expectCompleteTurn(spans, shapeOf(turn.index), `${turn.user} turn ${turn.index}`);
      // The trace is this turn's and no other's: concurrency never crosses the wires.
      const root = spans.find((s) => s.service === CLIENT && !s.parentSpanId)!;
      expect(root.attributes).toMatchObject({ 'memento.user.id': turn.user, 'memento.turn.number': turn.index + 1 });
    }

    // And on disk: every store, exactly once, for the right user.
    for (const user of users) {
      const files = (await readdir(join(data.path, user))).sort();
      const contents = files.filter((f) => !f.endsWith('.meta.json'));
      expect(files.length, user).toBe(2 * contents.length);
      const texts = await Promise.all(contents.map((f) => readFile(join(data.path, user, f), 'utf8')));
      const stored = SCRIPT.flatMap((s, i) => (s.tool === 'store_memory' ? [`${user} keeps note ${i}`] : []));
      expect(texts.sort()).toEqual(stored.sort());
    }
  });
});
