/*
 * Benchmark processes talk to the coordinator over Node's IPC channel with one tiny
 * request/response protocol. Every measured party (client, server, load generator, collector)
 * lives in its own process, so the CPU and memory each one reports are its own and no two of
 * them share an event loop.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const PROCS = join(ROOT, 'bench', 'procs');

interface Request {
  id: number;
  op: string;
  args?: unknown;
}
interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

export interface Child<R = unknown> {
  proc: ChildProcess;
  pid: number;
  /** What the child sent when it was ready (a URL, a port …). */
  ready: R;
  call<T = unknown>(op: string, args?: unknown): Promise<T>;
  /** Messages the child sends on its own (progress). */
  onEvent(fn: (event: unknown) => void): void;
  stderr(): string;
  stop(): Promise<void>;
}

// The same clean environment the tests give a child `memento` (scripts/lib/child-env.ts).
import { cleanEnv } from '../../scripts/lib/child-env.ts';

export { cleanEnv };

export interface StartOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  execArgv?: string[];
  timeoutMs?: number;
  /**
   * Run the child under valgrind's callgrind, writing to this file pattern (`%p` is the pid):
   * instruction counts, unlike CPU seconds, do not change with what else the machine is doing.
   */
  callgrindOut?: string;
  /**
   * Under callgrind, count nothing until `startInstrumentation` (lib/callgrind.ts) turns it on:
   * start-up and warm-up then run several times faster than fully instrumented.
   */
  callgrindLate?: boolean;
}

/** Forks `bench/procs/<script>` and waits for its ready message. */
export function startChild<R = unknown>(script: string, options: StartOptions = {}): Promise<Child<R>> {
  // BENCH_CPU_PROF=<dir>: every benchmark process writes a V8 CPU profile there when it exits,
  // for `node bench/profile.ts <dir>` to sum up (how the causes in bench/history/ were found).
  const profDir = process.env.BENCH_CPU_PROF;
  // A directory per process (named after its script): V8's own file names there tell its
  // threads apart, where one --cpu-prof-name had the checkpoint thread's profile overwrite the
  // main thread's.
  const nodeArgs = [...(options.execArgv ?? []), ...(profDir && !options.callgrindOut ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, `${script.replace(/\.ts$/, '')}-${Date.now()}`)}`] : [])];
  const proc = fork(join(PROCS, script), options.args ?? [], {
    env: options.env ?? cleanEnv(),
    // fork() runs `execPath ...execArgv script ...args`: valgrind then starts this same node.
    ...(options.callgrindOut
      ? { execPath: 'valgrind', execArgv: ['--tool=callgrind', '--quiet', ...(options.callgrindLate ? ['--instr-atstart=no'] : []), `--callgrind-out-file=${options.callgrindOut}`, process.execPath, ...nodeArgs] }
      : { execArgv: nodeArgs }),
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners: ((event: unknown) => void)[] = [];
  let next = 1;
  let exited = false;
  proc.on('exit', (code, signal) => {
    exited = true;
    for (const w of waiting.values()) w.reject(new Error(`${script} exited (${code ?? signal}):\n${err.slice(-3000)}`));
    waiting.clear();
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${script} did not start in time:\n${err.slice(-3000)}`));
    }, options.timeoutMs ?? 60_000);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited before it was ready (${code ?? signal}):\n${err.slice(-3000)}`));
    });
    proc.on('message', (raw: unknown) => {
      const msg = raw as { ready?: unknown; event?: unknown } & Partial<Reply>;
      if ('ready' in msg) {
        clearTimeout(timer);
        resolvePromise(child(msg.ready as R));
        return;
      }
      if ('event' in msg) {
        for (const l of listeners) l(msg.event);
        return;
      }
      const w = waiting.get(msg.id!);
      if (!w) return;
      waiting.delete(msg.id!);
      if (msg.ok) w.resolve(msg.value);
      else w.reject(new Error(`${script} ${msg.error}`));
    });
  });

  function child(ready: R): Child<R> {
    return {
      proc,
      pid: proc.pid!,
      ready,
      call<T>(op: string, args?: unknown): Promise<T> {
        if (exited) return Promise.reject(new Error(`${script} is not running:\n${err.slice(-3000)}`));
        const id = next++;
        return new Promise<T>((res, rej) => {
          waiting.set(id, { resolve: res as (v: unknown) => void, reject: rej });
          proc.send({ id, op, args } satisfies Request);
        });
      },
      onEvent: (fn) => listeners.push(fn),
      stderr: () => err,
      stop: () =>
        new Promise<void>((res) => {
          if (exited) return res();
          const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
          proc.once('exit', () => {
            clearTimeout(timer);
            res();
          });
          proc.kill('SIGTERM');
        }),
    };
  }
}

type Handler = (args: any) => unknown;

/** The child's side: answers the coordinator's requests, then tells it that it is ready. */
export function serveParent(handlers: Record<string, Handler>, ready: unknown): void {
  if (!process.send) throw new Error('this benchmark process must be started by bench/run.ts');
  process.on('message', async (raw: unknown) => {
    const { id, op, args } = raw as Request;
    try {
      const handler = handlers[op];
      if (!handler) throw new Error(`unknown op ${op}`);
      const value = await handler(args);
      process.send!({ id, ok: true, value } satisfies Reply);
    } catch (err) {
      process.send!({ id, ok: false, error: (err as Error)?.stack ?? String(err) } satisfies Reply);
    }
  });
  // The coordinator's end of the channel closing means it is gone: so are we.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.send({ ready });
}

export function sendEvent(event: unknown): void {
  process.send?.({ event });
}

/** CPU time of this process in microseconds (user + system). */
export function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Handlers every long-lived benchmark process offers: its own CPU and memory. */
export function processHandlers(): Record<string, Handler> {
  return {
    cpu: () => cpuMicros(),
    /** User and system (kernel) CPU µs apart: how much of a server's cost is the kernel's. */
    cpuSplit: () => process.cpuUsage(),
    memory: (args?: { gc?: boolean }) => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (args?.gc && gc) {
        // Twice: the first pass may only schedule finalizers whose objects the second frees.
        gc();
        gc();
      }
      const m = process.memoryUsage();
      return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, gcForced: Boolean(args?.gc && gc) };
    },
  };
}
