/*
 * Data directories that cannot work, through the real `memento serve`: each failure is one
 * sentence naming the path and what to do (never a bare ENOENT or EEXIST, never a hang), and
 * /health says "degraded" whenever a store could not succeed. A full disk and a read-only file
 * system are real: a small tmpfs the test mounts (the suite runs as root, like CI).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, startMemento, tempDir } from '../../helpers/memento.ts';
import { connect } from '../support.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
const mounted: string[] = [];

async function tmpfs(name: string, size: string): Promise<string> {
  const at = join(tmp.path, name);
  await mkdir(at);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', at]);
  mounted.push(at);
  return at;
}

beforeAll(async () => {
  tmp = await tempDir('memento-datadir-');
});
afterAll(async () => {
  for (const at of mounted.reverse()) execFileSync('umount', ['-l', at]);
  await tmp.cleanup();
});

describe('data directories that cannot work', () => {
  it('--data-dir pointing at a file: a sentence naming it, not EEXIST', async () => {
    const file = join(tmp.path, 'not-a-dir');
    await writeFile(file, 'x');
    const run = await runMemento(['serve', '--port', '0', '--data-dir', file]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`The data directory ${file} is a file, not a directory`);
    expect(run.stderr).not.toMatch(/EEXIST|ENOTDIR/);
  });

  it('a data directory under /proc: refused at once with a sentence, instead of hanging in mkdir', async () => {
    for (const mode of [['--port', '0'], ['--stdio']]) {
      const run = await runMemento(['serve', ...mode, '--data-dir', '/proc/memento-test/data'], { timeoutMs: 20_000 });
      expect(run.signal).toBeNull();
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/Cannot create the data directory \/proc\/memento-test\/data: \/proc does not accept new directories\. Choose another --data-dir/);
    }
  });

  it('a data directory on a read-only file system at start: refused with a sentence naming it', async () => {
    const fs = await tmpfs('ro-start', '4m');
    execFileSync('mount', ['-o', 'remount,ro', fs]);
    try {
      const run = await runMemento(['serve', '--port', '0', '--data-dir', fs]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(`the file system is read-only in ${fs}`);
      expect(run.stderr).toMatch(/start the server with --data-dir pointing at a writable directory/);
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', fs]);
    }
  });

  it('a data directory that turns read-only: a store for a new user names the path and what to do; /health is degraded', async () => {
    const fs = await tmpfs('ro', '4m');
    const server = await startMemento(['serve', '--port', '0', '--data-dir', fs, '--max-content-size', '65536']);
    let bound = false;
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      // A read-only view over the path (the server's open index keeps working underneath).
      execFileSync('mount', ['--bind', fs, fs]);
      bound = true;
      execFileSync('mount', ['-o', 'remount,bind,ro', fs]);
      const client = await connect('http', server.url, { user: 'newcomer' });
      const message = await client.refused('store_memory', { content: 'hello' });
      expect(message).toContain(`the file system is read-only in ${fs}`);
      expect(message).toMatch(/Make it writable for the server, or start the server with --data-dir pointing at a writable directory/);
      expect(message).not.toMatch(/ENOENT/);
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(503);
      const body = (await health.json()) as { status: string; problem?: string };
      expect(body.status).toBe('degraded');
      expect(body.problem).toContain(fs);
      await client.close();
    } finally {
      if (bound) execFileSync('umount', [fs]);
      await server.stop();
    }
  });

  it('a full disk: /health is degraded with a sentence naming the path, and a store says what to do', async () => {
    const fs = await tmpfs('full', '2m');
    const server = await startMemento(['serve', '--port', '0', '--data-dir', fs, '--max-content-size', '65536']);
    try {
      const client = await connect('http', server.url, { user: 'alice' });
      await client.ok('store_memory', { content: 'fits' });
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      // Fill the file system to the last block.
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(fs, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
      } catch {
        // dd stops with "No space left on device": that is the point.
      }
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(503);
      const body = (await health.json()) as { status: string; problem?: string };
      expect(body.status).toBe('degraded');
      expect(body.problem).toContain(fs);
      expect(body.problem).toMatch(/free some space there or move the data directory/);
      const message = await client.refused('store_memory', { content: 'x'.repeat(60_000) });
      expect(message).toContain(`no space is left on the device in ${fs}`);
      expect(message).toMatch(/Free some space there, or move the data directory/);
      await client.close();
    } finally {
      await server.stop();
    }
  });

  it('a PostgreSQL store that does not answer, or a store URL that is not postgres://: a sentence, never the password', async () => {
    const down = await runMemento(['serve', '--port', '0', '--store', 'postgres://bob:s3cretPassw0rd@127.0.0.1:1/memo']);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toContain('Could not open the store: PostgreSQL at 127.0.0.1:1/memo does not answer (ECONNREFUSED): start it, or correct --store (MEMENTO_STORE_URL).');
    expect(down.stderr).not.toContain('s3cretPassw0rd');
    const wrong = await runMemento(['serve', '--port', '0', '--store', 'mysql://x@y/z']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--store (MEMENTO_STORE_URL) must be a postgres:// URL');
  });
});
