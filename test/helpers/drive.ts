/*
 * The test's side of `client-driver.ts`: starts the driver process with a clean environment
 * (baseEnv), hands it batches of turns and collects what it reports. Every wait is bounded,
 * so a turn that hangs fails the test with what was seen so far instead of hanging it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { baseEnv, ROOT } from './memento.ts';

const DRIVER = join(ROOT, 'test', 'helpers', 'client-driver.ts');

/** One turn as the driver reported it. */
export interface DrivenTurn {
  batch: number;
  user: string;
  index: number;
  text: string;
  ok: boolean;
  answer?: string;
  traceId: string | null;
  error: { type: string; message: string } | null;
  chatCalls: number;
  toolCalls: number;
  tools: { name: string; callId: string; ok: boolean; errorType?: string }[];
  durationMs: number;
  /** Set when runTurn threw instead of returning a result: always a bug. */
  thrown?: string;
}

export interface Driver {
  child: ChildProcess;
  /** Every turn reported so far, in the order they finished. */
  turns: DrivenTurn[];
  stderr(): string;
  /** Runs one batch (users in parallel, each user's texts in order) and resolves with its turns. */
  run(users: { user: string; texts: string[] }[], timeoutMs?: number): Promise<DrivenTurn[]>;
  /** Resolves once `n` turns of all batches have been reported. */
  waitForTurns(n: number, timeoutMs?: number): Promise<void>;
  /** Ends stdin and waits for the process to exit; resolves with its code and how long closing took. */
  end(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; exitMs: number }>;
}

export function startDriver(env: Record<string, string | undefined>): Driver {
  const child = spawn(process.execPath, [DRIVER], { cwd: ROOT, env: baseEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  const turns: DrivenTurn[] = [];
  const batches = new Set<number>();
  let exited = false;
  let err = '';
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      const message = JSON.parse(line);
      if (message.type === 'turn') turns.push(message as DrivenTurn);
      else if (message.type === 'batch') batches.add(message.batch);
      else if (message.type === 'exit') exited = true;
    }
  });
  // A test that failed while a turn hung never calls end(): the driver must not outlive the test run.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      process.off('exit', reap);
      resolve({ code, signal });
    }),
  );

  const until = async (what: string, done: () => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the client driver exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}:\n${err}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${turns.length} turns reported; stderr:\n${err.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  let nextBatch = 0;
  return {
    child,
    turns,
    stderr: () => err,
    run: async (users, timeoutMs = 60_000) => {
      const batch = nextBatch++;
      child.stdin!.write(`${JSON.stringify({ batch, users })}\n`);
      await until(`batch ${batch}`, () => batches.has(batch), timeoutMs);
      return turns.filter((t) => t.batch === batch);
    },
    waitForTurns: (n, timeoutMs = 60_000) => until(`${n} turns`, () => turns.length >= n, timeoutMs),
    end: async (timeoutMs = 20_000) => {
      const started = performance.now();
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await closed.finally(() => clearTimeout(timer));
      if (!exited && result.code === 0) throw new Error(`the client driver exited without finishing:\n${err}`);
      return { ...result, exitMs: performance.now() - started };
    },
  };
}
