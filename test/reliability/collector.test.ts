/*
 * The collector is not there, or not at first: turns must not wait for telemetry, processes
 * must still exit promptly, and once a collector appears the spans of later turns must reach
 * it whole. Both the client (many users in one driver process) and `memento serve` export to
 * the same endpoint, as they would in the compose stack.
 */
import { readFile, readdir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDriver, type DrivenTurn } from '../helpers/drive.ts';
import { freePort, startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { expectCompleteTurn, expectedSpans } from './trace-shape.ts';

/** The OTLP exporter's own timeout: a turn that waited on an export would take at least this long. */
const EXPORT_TIMEOUT_MS = 10_000;

let root: Awaited<ReturnType<typeof tempDir>>;
let simulator: Running;
let blackhole: Server;
const sockets = new Set<Socket>();

beforeAll(async () => {
  root = await tempDir('memento-collector-');
  simulator = await startMemento(['simulator', '--port', '0']);
  // Accepts connections and never answers: the worst a collector can do.
  blackhole = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((r) => blackhole.close(() => r()));
  await simulator?.stop();
  await root?.cleanup();
});

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const users = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const stores = (user: string, from: number, n: number) =>
  Array.from({ length: n }, (_, i) => `remember that ${user} wrote entry ${from + i}`);

function clientEnv(endpoint: string, server: Running) {
  return {
    OTEL_SDK_DISABLED: 'false',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    AZURE_OPENAI_ENDPOINT: simulator.url,
    AZURE_OPENAI_API_KEY: 'sk-collector-test-00000000000000',
    MEMENTO_MCP_URL: `${server.url}/mcp`,
  };
}

/** Every memory the turns stored is on disk, whole, once. */
async function expectStored(dataDir: string, turns: DrivenTurn[]): Promise<void> {
  for (const user of new Set(turns.map((t) => t.user))) {
    const names = await readdir(join(dataDir, user));
    const contents = names.filter((n) => !n.endsWith('.meta.json'));
    expect(names.length, user).toBe(2 * contents.length);
    const texts = await Promise.all(contents.map((n) => readFile(join(dataDir, user, n), 'utf8')));
    const expected = turns.filter((t) => t.user === user).map((t) => t.text.replace(/^remember that /, ''));
    expect(texts.sort()).toEqual(expected.sort());
  }
}

describe('collector down for the whole run', () => {
  it.each([
    ['refusing connections', async () => `http://127.0.0.1:${await freePort()}`],
    ['accepting and never answering', async () => `http://127.0.0.1:${(blackhole.address() as { port: number }).port}`],
  ])('(%s) every turn completes without waiting on export, and every process exits promptly', { timeout: 90_000 }, async (name, endpoint) => {
    const otlp = await endpoint();
    const dataDir = join(root.path, name.split(' ')[0]!);
    const server = await startMemento(['serve', '--port', '0', '--data-dir', dataDir], {
      env: { OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: otlp },
    });
    try {
      const driver = startDriver(clientEnv(otlp, server));
      const turns = await driver.run(users(10, 'u').map((user) => ({ user, texts: stores(user, 0, 3) })), 60_000);
      expect(turns.filter((t) => !t.ok)).toEqual([]);
      expect(turns).toHaveLength(30);
      const slowest = Math.max(...turns.map((t) => t.durationMs));
      expect(slowest, 'no turn waited for an export to give up').toBeLessThan(EXPORT_TIMEOUT_MS - 2000);

      const closed = await driver.end();
      expect(closed.code, driver.stderr()).toBe(0);
      // The client's shutdown gives its exports 2.5 s, then exits regardless.
      expect(closed.exitMs).toBeLessThan(8000);

      const stopping = performance.now();
      expect(await server.stop('SIGTERM')).toBe(0);
      expect(performance.now() - stopping).toBeLessThan(8000);
      await expectStored(dataDir, turns);
    } finally {
      await server.stop('SIGKILL');
    }
  });
});

describe('collector appearing mid-run', () => {
  it("later turns' spans arrive whole once it is up; nothing crashes and nothing is sent twice", { timeout: 90_000 }, async () => {
    const port = await freePort();
    const otlp = `http://127.0.0.1:${port}`;
    const dataDir = join(root.path, 'mid-run');
    const server = await startMemento(['serve', '--port', '0', '--data-dir', dataDir], {
      env: { OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: otlp },
    });
    const receiver = new OtlpReceiver();
    try {
      const driver = startDriver(clientEnv(otlp, server));
      const people = users(5, 'm');
      const before = await driver.run(people.map((user) => ({ user, texts: stores(user, 0, 3) })));
      expect(before.filter((t) => !t.ok)).toEqual([]);
      // The server has found the collector missing (it says so once) before it appears.
      await waitUntil(() => server.stderr().includes('no collector at'), 20_000);

      await receiver.start(port);
      const after = await driver.run(people.map((user) => ({ user, texts: stores(user, 3, 3) })));
      expect(after.filter((t) => !t.ok)).toEqual([]);
      const closed = await driver.end();
      expect(closed.code, driver.stderr()).toBe(0);
      expect(await server.stop('SIGTERM')).toBe(0);

      const shape = { tool: 'store_memory', connected: false, loaded: false };
      const wanted = expectedSpans(shape).length;
      await receiver.waitFor(() => after.every((t) => receiver.byTrace(t.traceId!).length >= wanted), 20_000);
      for (const turn of after) expectCompleteTurn(receiver.byTrace(turn.traceId!), shape, `${turn.user} turn ${turn.index} after`);

      // Spans from before may arrive late (retried) or not at all, but never more than once.
      for (const turn of before) {
        const spans = receiver.byTrace(turn.traceId!);
        expect(new Set(spans.map((s) => s.spanId)).size, `${turn.user} turn ${turn.index} before`).toBe(spans.length);
      }
      await expectStored(dataDir, [...before, ...after]);
    } finally {
      await server.stop('SIGKILL');
      await receiver.stop();
    }
  });
});
