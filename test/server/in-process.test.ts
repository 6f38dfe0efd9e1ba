/*
 * The in-process API the client and the benchmarks use: serveStdio on any pair of streams,
 * startHttpServer's close() waiting for the work in progress, and its storageStarted() telling
 * when the start-up pass over the user directories is over (the scale benchmark waits for it).
 */
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStdio, startHttpServer } from '../../src/server/index.ts';
import { tempDir } from '../helpers/memento.ts';
import { connect, INITIALIZE } from './support.ts';

let data: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  data = await tempDir('memento-in-process-');
});
afterAll(async () => {
  await data.cleanup();
});

describe('in-process API', () => {
  it('serveStdio speaks MCP on the given streams and ends when the input does', async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const lines: any[] = [];
    let buffer = '';
    stdout.setEncoding('utf8').on('data', (d: string) => {
      buffer += d;
      for (let at = buffer.indexOf('\n'); at >= 0; at = buffer.indexOf('\n')) {
        lines.push(JSON.parse(buffer.slice(0, at)));
        buffer = buffer.slice(at + 1);
      }
    });
    const running = await serveStdio({ dataDir: data.path, stdin, stdout, defaultUser: 'eve' });
    const answer = async (id: number) => {
      while (!lines.some((l) => l.id === id)) await new Promise((r) => setTimeout(r, 10));
      return lines.find((l) => l.id === id);
    };
    stdin.write(`${INITIALIZE}\n`);
    expect((await answer(1)).result.serverInfo).toMatchObject({ name: 'memento' });
    stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
    stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'store_memory', arguments: { content: 'in process' } } })}\n`);
    expect((await answer(2)).result.structuredContent).toMatchObject({ size: 10 });
    stdin.end();
    await running.closed;
    expect((await readdir(data.path)).filter((n) => !n.startsWith('.memento-index.sqlite'))).toEqual(['eve']);
  });

  it("startHttpServer's close() ends sessions and frees the port", async () => {
    const server = await startHttpServer({ dataDir: data.path, port: 0, defaultUser: 'frank' });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const client = await connect('http', server.url);
    await client.ok('store_memory', { content: 'before close' });
    await server.close();
    expect(server.sessionCount()).toBe(0);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    await client.close().catch(() => {});
  });

  it("startHttpServer's storageStarted() resolves once the start-up pass has been over every user directory", async () => {
    // An old leftover of an interrupted write: only the start-up pass removes it, with no call made.
    const userDir = join(data.path, 'grace');
    await mkdir(userDir, { recursive: true, mode: 0o700 });
    const leftover = join(userDir, '.tmp-4242-20240101-000000-000-0000abcd.content');
    await writeFile(leftover, 'partial');
    const old = new Date(Date.now() - 3600_000);
    await utimes(leftover, old, old);
    const server = await startHttpServer({ dataDir: data.path, port: 0, defaultUser: 'grace' });
    try {
      await server.storageStarted();
      expect(await readdir(userDir)).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
