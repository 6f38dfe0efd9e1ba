/*
 * `memento serve` as a user runs it: flags, the tokens file, stdio hygiene, shutdown, and
 * secrets kept out of every line it prints.
 */
import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, MEMENTO_BIN, ROOT, runMemento, startMemento, tempDir } from '../helpers/memento.ts';
import { connect, INITIALIZE, post } from './support.ts';

let data: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  data = await tempDir('memento-serve-cli-');
});
afterAll(async () => {
  await data.cleanup();
});

describe('memento serve', () => {
  it('documents its flags in --help', async () => {
    const help = await runMemento(['serve', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--host', '--port', '--data-dir', '--stdio', '--tokens', '--allowed-hosts', '--session-timeout', '--max-sessions', '--max-content-size']) {
      expect(help.stdout).toContain(flag);
    }
  });

  it('refuses a broken tokens file without printing any token from it', async () => {
    const cases: [string, RegExp][] = [
      ['{"tok-secret-aaaa1111": "alice",', /is not valid JSON/],
      ['["tok-secret-aaaa1111"]', /must hold a JSON object/],
      ['{"tok-secret-aaaa1111": "../alice"}', /entry 1: the user must be a user id/],
      ['{"tok secret aaaa1111": "alice"}', /entry 1: a token must be non-empty and contain no spaces/],
      ['{}', /maps no tokens/],
    ];
    for (const [text, message] of cases) {
      const file = join(data.path, 'tokens.json');
      await writeFile(file, text);
      const run = await runMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'unused'), '--tokens', file]);
      expect(run.code, text).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr + run.stdout).not.toMatch(/tok.secret/);
    }
    const missing = await runMemento(['serve', '--port', '0', '--tokens', join(data.path, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the tokens file .*ENOENT/);
  });

  it('never prints a token, at any log level, whatever requests arrive', async () => {
    const file = join(data.path, 'tokens-ok.json');
    await writeFile(file, JSON.stringify({ 'tok-file-alice-5e6f7a8b9c': 'alice' }));
    const server = await startMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'secret'), '--tokens', file], {
      env: { MEMENTO_LOG_LEVEL: 'debug', MEMENTO_MCP_TOKEN: 'shared-env-token-1d2c3b4a' },
    });
    const alice = await connect('http', server.url, { token: 'tok-file-alice-5e6f7a8b9c' });
    await alice.ok('store_memory', { content: 'x' });
    await alice.refused('retrieve_memories', { user_id: 'bob' });
    const wrong = await post(`${server.url}/mcp`, INITIALIZE, { authorization: 'Bearer shared-env-token-1d2c3b4a' });
    expect(wrong.status).toBe(401);
    await alice.close();
    expect(await server.stop('SIGINT')).toBe(0);
    const output = server.stderr();
    expect(output).toMatch(/MEMENTO_MCP_TOKEN is ignored/);
    expect(output).toMatch(/shutting down/);
    expect(output).not.toContain('tok-file-alice');
    expect(output).not.toContain('shared-env-token');
  });

  it('says so when the port is taken', async () => {
    const first = await startMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'busy')]);
    try {
      const port = new URL(first.url).port;
      const second = await runMemento(['serve', '--port', port, '--data-dir', join(data.path, 'busy')]);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`port ${port} on 127.0.0.1 is already in use`));
    } finally {
      await first.stop();
    }
  });

  it('puts memories of an unnamed user under MEMENTO_USER, and refuses an invalid one', async () => {
    const dir = join(data.path, 'fallback');
    const server = await startMemento(['serve', '--port', '0', '--data-dir', dir], { env: { MEMENTO_USER: 'carol' } });
    const client = await connect('http', server.url);
    await client.ok('store_memory', { content: 'whose?' });
    await client.close();
    await server.stop();
    expect((await readdir(dir)).filter((n) => !n.startsWith('.memento-index'))).toEqual(['carol']);
    const bad = await runMemento(['serve', '--port', '0', '--data-dir', dir], { env: { MEMENTO_USER: '../root' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/MEMENTO_USER "\.\.\/root" is not a valid user id/);
  });

  it('over --stdio writes nothing but MCP messages to stdout, survives garbage, and ends with its input', async () => {
    const child = spawn(MEMENTO_BIN, ['serve', '--stdio', '--data-dir', join(data.path, 'stdio')], {
      cwd: ROOT,
      env: baseEnv({ MEMENTO_LOG_LEVEL: 'debug' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const send = (message: unknown) => child.stdin.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
    const answered = (id: number) =>
      new Promise<void>((resolve) => {
        const check = () => (stdout.includes(`"id":${id}`) ? resolve() : setTimeout(check, 20));
        check();
      });

    send(INITIALIZE);
    await answered(1);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send('this is not json {');
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'store_memory', arguments: { content: 'via stdio' }, _meta: { 'memento/user': 'dora' } } });
    await answered(2);
    send({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
    await answered(3);
    child.stdin.end();
    expect(await exited).toBe(0);

    const lines = stdout.trim().split('\n');
    for (const line of lines) expect(JSON.parse(line).jsonrpc).toBe('2.0');
    const byId = Object.fromEntries(lines.map((l) => JSON.parse(l)).map((m) => [m.id, m]));
    expect(byId[2].result.structuredContent.size).toBe(9);
    expect(byId[3].result.tools).toHaveLength(5);
    expect(stderr).toMatch(/shutting down reason="end of input"/);
    expect((await readdir(join(data.path, 'stdio'))).filter((n) => !n.startsWith('.memento-index'))).toEqual(['dora']);
  });
});
