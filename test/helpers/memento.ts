/*
 * Runs the real `memento` command (bin/memento → node --import preload → src/cli.ts) as a
 * child process, the way a user or a script would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv } from '../../scripts/lib/child-env.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MEMENTO_BIN = join(ROOT, 'bin', 'memento');
/** Where child processes keep memories when a test sets no data directory (one per test process). */
export const TEST_DATA_HOME = join(tmpdir(), `memento-test-data-${process.pid}`);

/**
 * A clean environment for a child `memento` (shared with the benchmarks), whose default store
 * (the user's data directory) is a temp one: tests never touch ~/.local/share.
 */
export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ XDG_DATA_HOME: TEST_DATA_HOME, ...extra });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  cwd?: string;
  timeoutMs?: number;
}

/** Spawns `memento ARGS…` with all three streams piped and its output collected as it comes. */
function spawnCaptured(args: string[], options: RunOptions) {
  const child = spawn(MEMENTO_BIN, args, {
    cwd: options.cwd ?? ROOT,
    env: baseEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output.stderr += d));
  return { child, output };
}

/** Runs `memento ARGS…` to completion. */
export function runMemento(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const { child, output } = spawnCaptured(args, options);
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout: output.stdout, stderr: output.stderr, durationMs: performance.now() - started });
    });
  });
}

export interface Running {
  child: ChildProcess;
  /** The URL from the process's "listening on URL" line. */
  url: string;
  stderr(): string;
  stdout(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a long-running `memento` (serve, simulator) and waits for its
 * "listening on http://…" line on stderr; pass `--port 0` to get a free port.
 */
export async function startMemento(args: string[], options: RunOptions = {}): Promise<Running> {
  const child = spawn(MEMENTO_BIN, args, {
    cwd: options.cwd ?? ROOT,
    env: baseEnv({ MEMENTO_LOG_LEVEL: 'info', ...options.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const url = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`memento ${args.join(' ')} did not start:\n${err}${out}`));
    }, options.timeoutMs ?? 30_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /listening on (https?:\/\/\S+)/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolvePromise(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`memento ${args.join(' ')} exited with ${code}:\n${err}${out}`));
    });
  });
  return {
    child,
    url,
    stderr: () => err,
    stdout: () => out,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolvePromise) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolvePromise(child.exitCode);
        child.once('exit', (code) => resolvePromise(code));
        child.kill(signal);
      }),
  };
}

/** A fresh temp directory, removed by the returned cleanup function. */
export async function tempDir(prefix = 'memento-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export interface Interactive {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  send(line: string): void;
  /** Resolves when stdout (or stderr, with `stream`) from `since` on matches; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, options?: { since?: number; timeoutMs?: number; stream?: 'stdout' | 'stderr' }): Promise<RegExpExecArray>;
  /** Closes stdin (Ctrl-D) and waits for the exit status. */
  end(): Promise<number | null>;
}

/** Starts `memento ARGS…` with stdin kept open, for driving the REPL line by line. */
export function startInteractive(args: string[], options: RunOptions = {}): Interactive {
  const { child, output } = spawnCaptured(args, options);
  const exited = new Promise<number | null>((resolvePromise) => child.on('close', (code) => resolvePromise(code)));
  return {
    child,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    send: (line) => {
      child.stdin.write(`${line}\n`);
    },
    waitFor: async (pattern, { since = 0, timeoutMs = 30_000, stream = 'stdout' } = {}) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(output[stream].slice(since));
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`memento exited (${child.exitCode}) before ${pattern}:\n${output.stdout}\n${output.stderr}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; stdout:\n${output.stdout}\nstderr:\n${output.stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    end: () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
      return exited.finally(() => clearTimeout(timer));
    },
  };
}

/** A TCP port that was free a moment ago (for a server that must come back on the same port). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolvePromise(port));
    });
  });
}
