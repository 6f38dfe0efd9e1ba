/*
 * Cold start of the real command line (bin/memento, which finds Node, sets the compile cache
 * and preloads telemetry): `memento chat` on a pseudo-terminal until its prompt is drawn,
 * `memento serve` until /health answers, and one whole `memento ask` turn (simulator and its
 * own stdio MCP server included), next to a bare `node -e 0` started the same way. Tracing on
 * (OTLP to the benchmark's collector, trace file in a scratch HOME) and off alternate.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, ROOT, startChild, type Child } from './lib/child.ts';
import { progress } from './lib/progress.ts';
import { fmt, median, summarize, table } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult } from './lib/types.ts';

const BIN = join(ROOT, 'bin', 'memento');

interface Timed {
  ms: number;
  ok: boolean;
  note?: string;
}

/** Spawns a command and resolves when `ready(output)` first holds (or it exits, or times out). */
function until(command: string, args: string[], env: NodeJS.ProcessEnv, ready: (out: string) => boolean, input?: string): Promise<Timed> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let out = '';
    let done = false;
    const finish = (ok: boolean, note?: string) => {
      if (done) return;
      done = true;
      const ms = performance.now() - t0;
      clearTimeout(timer);
      // The whole group: `script` and the memento under it.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
      resolve({ ms, ok, note });
    };
    const timer = setTimeout(() => finish(false, `timed out; output: ${out.slice(-300)}`), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      if (ready(out)) finish(true);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      if (ready(out)) finish(true);
      else finish(code === 0, code === 0 ? undefined : `exit ${code}: ${out.slice(-300)}`);
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** `memento serve --port 0` until GET /health answers 200 on the port it logged. */
function serveUntilHealthy(env: NodeJS.ProcessEnv): Promise<Timed & { listeningMs?: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(BIN, ['serve', '--port', '0', '--data-dir', env.MEMENTO_DATA_DIR!], { env: { ...env, MEMENTO_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let done = false;
    const finish = (r: Timed & { listeningMs?: number }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ms: performance.now() - t0, ok: false, note: err.slice(-300) }), 30_000);
    child.stderr.setEncoding('utf8').on('data', async (d: string) => {
      const had = /listening on (http:\/\/\S+)/.test(err);
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (had || !m) return;
      const listeningMs = performance.now() - t0;
      // The log line is written as the socket starts listening; /health answering is the
      // moment a load balancer or compose healthcheck would see it ready.
      while (!done) {
        try {
          const res = await fetch(`${m[1]}/health`);
          await res.arrayBuffer();
          if (res.ok) return finish({ ms: performance.now() - t0, ok: true, listeningMs });
        } catch {
          // Not yet.
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    });
    child.on('exit', (code) => finish({ ms: performance.now() - t0, ok: false, note: `exit ${code}: ${err.slice(-300)}` }));
  });
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const runs = options.quick ? 3 : 10;
  const children: Child[] = [];
  try {
    const collector = await startChild<{ url: string }>('collector.ts');
    children.push(collector);
    const home = join(options.workDir, 'home');
    const dataDir = join(options.workDir, 'data');
    await mkdir(home, { recursive: true });
    await mkdir(dataDir, { recursive: true });
    const envs = {
      off: cleanEnv({ HOME: home, MEMENTO_DATA_DIR: dataDir, MEMENTO_TRACE_FILE: undefined }),
      on: cleanEnv({ HOME: home, MEMENTO_DATA_DIR: dataDir, MEMENTO_TRACE_FILE: undefined, OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: collector.ready.url }),
    };
    // The prompt `memento (user)> ` is only drawn on a terminal: `script` gives it one.
    const chat = (env: NodeJS.ProcessEnv) =>
      until('script', ['-qfec', `${BIN} chat --user bench`, '/dev/null'], { ...env, TERM: 'dumb' }, (out) => /\(bench\)> /.test(out));
    const ask = (env: NodeJS.ProcessEnv) => until(BIN, ['ask', '--user', 'bench', 'store this: cold start note'], env, () => false);
    const node = () => until(process.execPath, ['-e', '0'], cleanEnv(), () => false);

    const cases: { name: string; variant: string; fn: () => Promise<Timed & { listeningMs?: number }> }[] = [
      { name: 'node -e 0 (floor)', variant: '–', fn: node },
      { name: 'memento chat → prompt', variant: 'tracing off', fn: () => chat(envs.off) },
      { name: 'memento chat → prompt', variant: 'tracing on', fn: () => chat(envs.on) },
      { name: 'memento serve → /health 200', variant: 'tracing off', fn: () => serveUntilHealthy(envs.off) },
      { name: 'memento serve → /health 200', variant: 'tracing on', fn: () => serveUntilHealthy(envs.on) },
      { name: 'memento ask (one whole turn, exit)', variant: 'tracing off', fn: () => ask(envs.off) },
      { name: 'memento ask (one whole turn, exit)', variant: 'tracing on', fn: () => ask(envs.on) },
    ];
    progress('cold-start: one untimed run of each (fills the compile cache)');
    for (const c of cases) {
      const r = await c.fn();
      if (!r.ok) throw new Error(`${c.name} (${c.variant}) failed: ${r.note}`);
    }
    const times = new Map<number, { ms: number[]; listening: number[]; failures: number }>(cases.map((_, i) => [i, { ms: [], listening: [], failures: 0 }]));
    for (let r = 0; r < runs; r++) {
      for (let i = 0; i < cases.length; i++) {
        const res = await cases[i]!.fn();
        const t = times.get(i)!;
        if (!res.ok) t.failures++;
        else {
          t.ms.push(res.ms);
          if (res.listeningMs !== undefined) t.listening.push(res.listeningMs);
        }
      }
      progress(`cold-start: run ${r + 1}/${runs} done`);
    }
    const floor = median(times.get(0)!.ms);
    const rows = cases.map((c, i) => {
      const t = times.get(i)!;
      const s = summarize(t.ms);
      return [
        c.name,
        c.variant,
        fmt(s.p50),
        fmt(Math.min(...t.ms)),
        fmt(s.max),
        i === 0 ? '–' : fmt(s.p50 - floor),
        t.listening.length ? fmt(median(t.listening)) : '–',
        String(t.failures),
      ];
    });
    const p50 = (i: number) => median(times.get(i)!.ms);
    return {
      title: 'Cold start',
      method:
        'Each case spawns the real `bin/memento` (as a user runs it) and stops the clock when it is ready: for `chat`, when its prompt `memento (bench)> ` appears on a pseudo-terminal (`script -qfec`), after the banner; for `serve --port 0`, when `GET /health` on the port it logged first answers 200 (polled every 2 ms); for `ask`, when the process exits after a whole turn (in-process simulator, its own `memento serve --stdio` child, trace flush). ' +
        `Cases alternate within each of ${runs} runs, after one untimed run each; the compile cache (NODE_COMPILE_CACHE, set by bin/memento) is warm, as it is from a user's second start on.`,
      body: [
        table(['what', 'variant', 'median (ms)', 'min (ms)', 'max (ms)', 'median − node floor (ms)', '"listening" logged (ms)', 'failures'], rows),
      ].join('\n'),
      targets: [
        { what: '`memento chat` to prompt (tracing on)', target: 'reported (no target set)', measured: `${fmt(p50(2))} ms`, met: undefined },
        { what: '`memento serve` to /health (tracing on)', target: 'reported (no target set)', measured: `${fmt(p50(4))} ms`, met: undefined },
      ],
      data: Object.fromEntries(cases.map((c, i) => [`${c.name} / ${c.variant}`, times.get(i)])),
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

export const coldStart: Benchmark = {
  name: 'cold-start',
  summary: 'process start to the chat prompt, to /health, and one whole `memento ask`',
  run,
};
