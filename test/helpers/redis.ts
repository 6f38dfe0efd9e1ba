/*
 * A real Redis (Debian's redis-server) on a free loopback port, in a temp dir, with no
 * persistence: started by the tests that need one and stopped after. .ci/run installs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createClient } from 'redis';
import { freePort } from './memento.ts';
import { waitFor } from './wait.ts';

export interface RunningRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export function redisServerPresent(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error('redis-server is not on PATH; install it with `apt-get install redis-server` (.ci/run does).');
  }
}

export async function startRedis(dir: string): Promise<RunningRedis> {
  redisServerPresent();
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(
    'redis-server to answer PING',
    async () => {
      const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.ping();
        await client.close();
        return true;
      } catch (err) {
        client.destroy();
        throw err;
      }
    },
    { timeoutMs: 20_000, intervalMs: 50, stop: () => (child.exitCode !== null ? `redis-server exited with ${child.exitCode}` : undefined) },
  );
  return {
    url,
    port,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
