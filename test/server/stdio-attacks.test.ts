/*
 * Attacks on `memento serve --stdio` through a real pipe: an over-long line, garbage and batch
 * lines, and a host that goes away. Every bad line gets its JSON-RPC error reply and the server
 * keeps serving; it exits only when its input ends (0) or a stream fails (not 0).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, MEMENTO_BIN, ROOT, tempDir } from '../helpers/memento.ts';
import { INITIALIZE } from './support.ts';

let data: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  data = await tempDir('memento-stdio-attacks-');
});
afterAll(async () => {
  await data.cleanup();
});

/** `memento serve --stdio` with helpers to write lines and wait for replies. */
function stdioServer() {
  const child = spawn(MEMENTO_BIN, ['serve', '--stdio', '--data-dir', join(data.path, 'stdio')], {
    cwd: ROOT,
    env: baseEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const replies: any[] = [];
  let pending = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) replies.push(JSON.parse(line));
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let alive = true;
  void exited.then(() => (alive = false));
  const until = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 30_000;
    while (!check()) {
      if (!alive) throw new Error(`the server exited while waiting for ${what}; stderr: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    child,
    replies,
    exited,
    stderr: () => stderr,
    isAlive: () => alive,
    write: (line: string | Buffer) => child.stdin.write(line),
    send: (message: unknown) => child.stdin.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`),
    /** Waits for `count` more replies than were there when `since` was taken. */
    replyCount: (count: number) => until(() => replies.length >= count, `${count} replies`),
    answerTo: async (id: number) => {
      await until(() => replies.some((r) => r.id === id), `the answer to ${id}`);
      return replies.find((r) => r.id === id);
    },
  };
}

describe('memento serve --stdio under attack', () => {
  it('answers a 12 MiB line with a JSON-RPC error and keeps serving', async () => {
    const server = stdioServer();
    server.send(INITIALIZE);
    await server.answerTo(1);
    server.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    // Written in pieces, as a pipe delivers it.
    const huge = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'store_memory', arguments: { content: 'x'.repeat(12 * 1024 * 1024) } } });
    for (let i = 0; i < huge.length; i += 256 * 1024) server.write(huge.slice(i, i + 256 * 1024));
    server.write('\n');
    server.send({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
    expect((await server.answerTo(3)).result.tools).toHaveLength(5);
    const refusal = server.replies.find((r) => r.id === null);
    expect(refusal.error).toEqual({ code: -32600, message: expect.stringMatching(/^Invalid Request: the message is longer than \d+ bytes; it was skipped\.$/) });
    expect(server.replies.some((r) => r.id === 2)).toBe(false);
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
  });

  it('answers garbage, batch, deeply nested and non-JSON-RPC lines with JSON-RPC errors, in order', async () => {
    const server = stdioServer();
    server.send(INITIALIZE);
    await server.answerTo(1);
    const before = server.replies.length;
    server.send('this is not json {');
    server.send(JSON.stringify([{ jsonrpc: '2.0', id: 5, method: 'tools/list' }, { jsonrpc: '2.0', id: 6, method: 'ping' }]));
    server.send('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000));
    server.send({ hello: 'world' });
    server.send({ jsonrpc: '2.0', id: 7, method: 42 });
    server.send('\u0000\u0001\u00ff binary');
    server.send({ jsonrpc: '2.0', id: 8, method: 'ping' });
    await server.answerTo(8);
    const errors = server.replies.slice(before, -1).map((r) => [r.id, r.error.code, r.error.message]);
    expect(errors).toEqual([
      [null, -32700, 'Parse error: the message is not valid JSON.'],
      [null, -32600, 'Invalid Request: batches are not supported; send one message per line.'],
      [null, -32600, 'Invalid Request: the message nests objects or arrays more than 64 levels deep.'],
      [null, -32600, 'Invalid Request: the line is not a JSON-RPC 2.0 message.'],
      [7, -32600, 'Invalid Request: the line is not a JSON-RPC 2.0 message.'],
      [null, -32700, 'Parse error: the message is not valid JSON.'],
    ]);
    expect(server.isAlive()).toBe(true);
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
  });

  it('exits with a non-zero status when the host stops reading its output', async () => {
    const server = stdioServer();
    server.send(INITIALIZE);
    await server.answerTo(1);
    server.child.stdout.destroy();
    // Answers now have nowhere to go: the write fails (EPIPE) and the server ends, with an error.
    for (let id = 10; id < 20; id++) server.send({ jsonrpc: '2.0', id, method: 'tools/list' });
    expect(await server.exited).toBe(1);
    expect(server.stderr()).toMatch(/the stdio connection failed/);
  });
});
