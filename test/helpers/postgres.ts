/*
 * A real PostgreSQL for tests, from Debian's `postgresql` package (.ci/run installs it):
 * initdb in a temp directory, the server on a free loopback port, stopped and removed
 * afterwards. initdb and postgres refuse to run as root, so as root they run as the
 * `postgres` account the package creates (runuser), in a directory that account owns.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from './memento.ts';
import { waitFor } from './wait.ts';

export interface RunningPostgres {
  /** postgres://memento@127.0.0.1:PORT/memento */
  url: string;
  port: number;
  /** A URL for another database on the same server. */
  urlFor(database: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory. */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const bin = versions.map((v) => join(root, v, 'bin')).find((b) => existsSync(join(b, 'initdb')));
  if (!bin) throw new Error("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does this)");
  return bin;
}

export async function startPostgres(): Promise<RunningPostgres> {
  const bin = postgresBin();
  const asRoot = userInfo().uid === 0;
  const dir = await mkdtemp(join(tmpdir(), 'memento-pg-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const as = (cmd: string, args: string[]): [string, string[]] => (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  const data = join(dir, 'data');
  const [initCmd, initArgs] = as(join(bin, 'initdb'), ['-D', data, '-U', 'memento', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  const port = await freePort();
  const [cmd, args] = as(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`,
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
  ]);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const url = `postgres://memento@127.0.0.1:${port}/postgres`;
  await waitFor(
    'PostgreSQL to answer SELECT 1',
    async () => {
      const probe = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 2 });
      try {
        await probe`SELECT 1`;
        return true;
      } finally {
        await probe.end({ timeout: 0 }).catch(() => {});
      }
    },
    { stop: () => (child.exitCode !== null ? `postgres exited with ${child.exitCode}\n${stderr}` : undefined) },
  );
  const admin = postgres(url, { max: 2, onnotice: () => {} });
  const urlFor = (database: string) => `postgres://memento@127.0.0.1:${port}/${database}`;
  return {
    url: urlFor('memento'),
    port,
    urlFor,
    async createDatabase(name: string) {
      await admin.unsafe(`CREATE DATABASE "${name.replace(/[^a-z0-9_]/g, '')}"`);
      return urlFor(name);
    },
    async stop() {
      await admin.end({ timeout: 1 }).catch(() => {});
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        // SIGINT: PostgreSQL's fast shutdown. Sent to the server itself, even under runuser.
        try {
          const pid = asRoot ? Number(execFileSync('head', ['-1', join(data, 'postmaster.pid')]).toString().trim()) : child.pid!;
          process.kill(pid, 'SIGINT');
        } catch {
          child.kill('SIGINT');
        }
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
