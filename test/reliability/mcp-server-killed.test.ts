/*
 * The MCP server killed (SIGKILL) in the middle of a turn, at two exact points held open by a
 * TCP proxy: while the model is still thinking (the tool call then finds no server), and
 * after the server stored a memory but before its answer reached the client, over Streamable
 * HTTP and over legacy SSE (where the answer travels on the event stream). Either way the
 * turn fails with an error that says what to check, well before any timeout; the session's
 * next turn, once the server is back, works; and whatever the server wrote before it died is
 * on disk, whole and once (the client never repeats a store that may have arrived).
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDriver, type Driver } from '../helpers/drive.ts';
import { freePort, startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { OtlpReceiver, STATUS } from '../helpers/otlp-receiver.ts';
import { startTcpProxy, type ProxiedConnection, type TcpProxy } from '../helpers/tcp-proxy.ts';

/** The client's MCP request timeout in these runs: a turn that fails only when it runs out noticed nothing. */
const MCP_TIMEOUT_MS = 20_000;
const USER = 'dana';

const receiver = new OtlpReceiver();
let root: Awaited<ReturnType<typeof tempDir>>;
let simulator: Running;

beforeAll(async () => {
  await receiver.start();
  root = await tempDir('memento-mcp-killed-');
  simulator = await startMemento(['simulator', '--port', '0']);
});
afterAll(async () => {
  await simulator?.stop();
  await receiver.stop();
  await root?.cleanup();
});

/** Contents of the user's memories on disk, sorted; every content file must have its sidecar. */
async function storedContents(dataDir: string): Promise<string[]> {
  const names = await readdir(join(dataDir, USER));
  const contents = names.filter((n) => !n.endsWith('.meta.json'));
  expect(names.filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  expect(names.filter((n) => n.endsWith('.meta.json')).sort()).toEqual(contents.map((n) => `${n}.meta.json`).sort());
  return (await Promise.all(contents.map((n) => readFile(join(dataDir, USER, n), 'utf8')))).sort();
}

interface Setup {
  dataDir: string;
  port: number;
  server: Running;
  serve(): Promise<Running>;
  driver: Driver;
}

async function setUp(name: string, endpoints: (mcpPort: number) => Promise<{ azure: string; mcp: string }>): Promise<Setup> {
  const dataDir = join(root.path, name);
  const port = await freePort();
  const serve = () =>
    startMemento(['serve', '--port', String(port), '--data-dir', dataDir], {
      env: { ...receiver.env(), MEMENTO_TRACE_FILE: 'off' },
    });
  const server = await serve();
  const { azure, mcp } = await endpoints(port);
  const driver = startDriver({
    ...receiver.env(),
    AZURE_OPENAI_ENDPOINT: azure,
    AZURE_OPENAI_API_KEY: 'sk-mcp-killed-test-0000000000000',
    MEMENTO_MCP_URL: mcp,
    MEMENTO_MCP_TIMEOUT_MS: String(MCP_TIMEOUT_MS),
  });
  return { dataDir, port, server, serve, driver };
}

/** One turn of USER, which must return (ok or not) well within the bound. */
async function turn(driver: Driver, text: string) {
  const [result] = await driver.run([{ user: USER, texts: [text] }], 30_000);
  expect(result!.thrown, 'runTurn threw instead of returning a result').toBeUndefined();
  return result!;
}

/** Asserts the failed turn's trace: root ERROR with the same error.type as the result. */
async function expectFailedTrace(traceId: string, errorType: string) {
  const spans = await receiver.waitFor((all) => all.some((s) => s.traceId === traceId && s.name === 'invoke_agent memento'));
  const root = spans.find((s) => s.traceId === traceId && s.name === 'invoke_agent memento')!;
  expect(root.status.code).toBe(STATUS.ERROR);
  expect(root.attributes['error.type']).toBe(errorType);
}

describe('MCP server killed mid-turn', () => {
  it('while the model is thinking: the tool call fails cleanly, the next turn works', { timeout: 90_000 }, async () => {
    const model: TcpProxy = await startTcpProxy(Number(new URL(simulator.url).port));
    const s = await setUp('while-thinking', async (port) => ({ azure: model.url, mcp: `http://127.0.0.1:${port}/mcp` }));
    let server = s.server;
    try {
      expect((await turn(s.driver, 'remember that the server was up')).ok).toBe(true);

      // The next model request: hold its answer, kill the server, then let the answer through.
      let killed: Promise<unknown> | undefined;
      model.onClientData = (chunk, connection) => {
        if (killed || !chunk.toString('latin1').startsWith('POST ')) return;
        connection.hold();
        killed = server.stop('SIGKILL').then(() => connection.release());
      };
      const failed = await turn(s.driver, 'remember that the server went down');
      expect(killed, 'the server was killed during the turn').toBeDefined();
      expect(failed.ok).toBe(false);
      expect(failed.error?.message).toMatch(
        new RegExp(`^cannot use the MCP server at http://127\\.0\\.0\\.1:${s.port}/mcp \\(.+\\); check MEMENTO_MCP_URL \\(is \`memento serve\` running\\?\\)\\.$`),
      );
      expect.soft(failed.durationMs, 'failed at once, not at the MCP timeout').toBeLessThan(15_000);
      await expectFailedTrace(failed.traceId!, failed.error!.type);

      model.onClientData = undefined;
      server = await s.serve();
      const next = await turn(s.driver, 'what did I store?');
      expect(next.ok, JSON.stringify(next.error)).toBe(true);
      expect(next.answer).toMatch(/You stored 1 memory:[\s\S]*the server was up/);
      expect(await storedContents(s.dataDir)).toEqual(['the server was up']);

      const closed = await s.driver.end();
      expect(closed.code, s.driver.stderr()).toBe(0);
    } finally {
      s.driver.child.kill('SIGKILL');
      await server.stop('SIGKILL');
      await model.close();
    }
  });

  it.each(['mcp', 'sse'] as const)(
    'over /%s, after it stored the memory but before its answer left: the turn fails cleanly, the memory is on disk once',
    { timeout: 90_000 },
    async (path) => {
    let mcp: TcpProxy | undefined;
    const s = await setUp(`mid-call-${path}`, async (port) => {
      mcp = await startTcpProxy(port);
      return { azure: simulator.url, mcp: `${mcp.url}/${path}` };
    });
    const proxy = mcp!;
    const { driver, dataDir } = s;
    let server = s.server;
    // Hold the answer to the second turn's tools/call — on the POST that carries it (Streamable
    // HTTP), or on the event stream that answers it (legacy SSE, whose POST only gets 202) — and
    // kill the server as soon as that answer exists, so the store is complete on disk.
    let armed = false;
    let stream: ProxiedConnection | undefined;
    let killed: Promise<unknown> | undefined;
    proxy.onClientData = (chunk, connection) => {
      const text = chunk.toString('utf8');
      if (text.startsWith('GET ')) stream = connection;
      if (armed && !killed && text.includes('"method":"tools/call"')) (path === 'sse' ? stream! : connection).hold();
    };
    proxy.onServerData = (chunk, connection) => {
      if (connection.holding && !killed && chunk.toString('utf8').includes('"jsonrpc"')) killed = server.stop('SIGKILL');
    };
    try {
      expect((await turn(driver, 'remember that the server was up')).ok).toBe(true);
      armed = true;
      const failed = await turn(driver, 'remember that the server died answering');
      expect(killed, 'the server was killed during the tool call').toBeDefined();
      expect(failed.ok).toBe(false);
      expect(failed.error?.message).toMatch(
        new RegExp(`^cannot use the MCP server at ${proxy.url.replace(/\./g, '\\.')}/${path} \\(.+\\); check MEMENTO_MCP_URL`),
      );
      expect.soft(failed.durationMs, 'failed at once, not at the MCP timeout').toBeLessThan(15_000);
      await expectFailedTrace(failed.traceId!, failed.error!.type);

      proxy.onClientData = proxy.onServerData = undefined;
      server = await s.serve();
      const next = await turn(driver, 'what did I store?');
      expect(next.ok, JSON.stringify(next.error)).toBe(true);
      expect(next.answer).toMatch(/You stored 2 memories:/);
      // Stored once: the client did not send again a request that may have arrived.
      expect(await storedContents(dataDir)).toEqual(['the server died answering', 'the server was up']);

      const closed = await driver.end();
      expect(closed.code, driver.stderr()).toBe(0);
    } finally {
      driver.child.kill('SIGKILL');
      await server.stop('SIGKILL');
      await proxy.close();
    }
  },
  );
});
