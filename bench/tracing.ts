/*
 * Tracing overhead: the same turn loop (intent call → one MCP tool call → summarizing call)
 * against the simulator at zero latency and a real Memento MCP server over Streamable HTTP,
 * in client processes that differ only in their tracing (see procs/turn-worker.ts). All
 * workers stay warm for the whole run and take turns in rotating order (A B C D, B C D A …),
 * so drift and noise from the other engineers' work on this machine fall on every variant
 * alike; each figure is the median over rounds, and each ratio or difference is taken within
 * a round before the median.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { dumpInstructions, startInstrumentation, valgrindAvailable } from './lib/callgrind.ts';
import { cleanEnv, startChild, type Child } from './lib/child.ts';
import { progress } from './lib/progress.ts';
import { fmt, median, medianCI, pct, ratio, table, withCI } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult } from './lib/types.ts';

/** The prototype's latency per Azure call, and so the length of a real two-call turn. */
const AZURE_CALL_MS = 350;
const REAL_TURN_MS = 2 * AZURE_CALL_MS;
const TARGET_CLIENT_CPU_MS = 0.4;
const TARGET_SHARE = 0.001;

type Mode = 'off' | 'memento' | 'memento-file' | 'peer';
const MODES: Mode[] = ['off', 'memento', 'memento-file', 'peer'];
const LABEL: Record<Mode, string> = {
  off: 'untraced (OTEL_SDK_DISABLED=true)',
  memento: 'Memento tracing (OTLP, trace file off)',
  'memento-file': 'Memento tracing (OTLP + trace file)',
  peer: 'peer: OpenInference + instrumentation-undici',
};

interface Round {
  n: number;
  cpuUs: number;
  wallMs: number;
  failures: number;
  toolCalls: number;
  chatCalls: number;
  serverCpuUs: number;
}

interface Rig {
  children: Child[];
  collector: Child<{ url: string }>;
  tracedServer: Child<{ url: string }>;
  plainServer: Child<{ url: string }>;
  workers: Map<Mode, { child: Child; server: Child<{ url: string }> }>;
}

/** Collector, simulator, a traced and an untraced MCP server, and one client worker per mode. */
async function startRig(options: BenchOptions, label: string): Promise<Rig> {
  const children: Child[] = [];
  try {
    progress(`${label}: starting collector, simulator and two MCP servers (traced, untraced)`);
    const collector = await startChild<{ url: string }>('collector.ts');
    children.push(collector);
    const simulator = await startChild<{ url: string }>('simulator.ts', { args: ['0'] });
    children.push(simulator);
    const otel = (mode: string) => ({
      OTEL_SDK_DISABLED: 'false',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.ready.url,
      OTEL_RESOURCE_ATTRIBUTES: `bench.mode=${mode}`,
    });
    const dataTraced = join(options.workDir, 'traced');
    const dataPlain = join(options.workDir, 'plain');
    await mkdir(dataTraced, { recursive: true });
    await mkdir(dataPlain, { recursive: true });
    const [tracedServer, plainServer] = await Promise.all([
      startChild<{ url: string }>('memento-server.ts', {
        args: [dataTraced],
        env: cleanEnv(otel('memento')),
      }),
      startChild<{ url: string }>('memento-server.ts', { args: [dataPlain] }),
    ]);
    children.push(tracedServer, plainServer);

    const workers = new Map<Mode, { child: Child; server: Child<{ url: string }> }>();
    await Promise.all(
      MODES.map(async (mode) => {
        const server = mode === 'memento' || mode === 'memento-file' ? tracedServer : plainServer;
        const env = cleanEnv({
          AZURE_OPENAI_ENDPOINT: simulator.ready.url,
          AZURE_OPENAI_API_KEY: 'bench',
          MEMENTO_MCP_URL: `${server.ready.url}/mcp`,
          ...(mode === 'off' ? {} : otel(mode)),
          ...(mode === 'memento-file' ? { MEMENTO_TRACE_FILE: join(options.workDir, 'traces.jsonl') } : {}),
          // The peer brings no metrics or logs of its own; NodeSDK must not add env defaults.
          ...(mode === 'peer' ? { OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' } : {}),
        });
        const child = await startChild('turn-worker.ts', { args: [mode], env });
        children.push(child);
        workers.set(mode, { child, server });
      }),
    );
    return { children, collector, tracedServer, plainServer, workers };
  } catch (err) {
    await Promise.all(children.map((c) => c.stop()));
    throw err;
  }
}

async function run(options: BenchOptions): Promise<BenchResult> {
  // Many short rounds: a difference taken between neighbouring rounds a second apart sees
  // the same machine, and the median of many such differences shrugs off the rounds that
  // another engineer's test run landed on.
  const rounds = options.quick ? 6 : 40;
  const perRound = options.quick ? 15 : 15;
  const warmup = options.quick ? 30 : 80;
  const rig = await startRig(options, 'tracing');
  const { children, collector, tracedServer, workers } = rig;
  try {
    progress(`tracing: warming up (${warmup} turns per variant)`);
    for (const mode of MODES) await workers.get(mode)!.child.call('turns', { n: warmup });

    // Every traced round sits between two untraced rounds (off X off Y off Z off …) and is
    // compared with their mean: load from the rest of the machine comes in bursts of seconds,
    // and a baseline taken on both sides of a round a few hundred milliseconds long cancels
    // most of it, drift included.
    const traced = MODES.filter((m) => m !== 'off');
    const results = new Map<Mode, Round[]>(MODES.map((m) => [m, []]));
    const baselines = new Map<Mode, Round[]>(traced.map((m) => [m, []]));
    const measure = async (mode: Mode): Promise<Round> => {
      const { child, server } = workers.get(mode)!;
      const s0 = await server.call<number>('cpu');
      const round = await child.call<Omit<Round, 'serverCpuUs'>>('turns', { n: perRound });
      const s1 = await server.call<number>('cpu');
      const measured = { ...round, serverCpuUs: s1 - s0 };
      results.get(mode)!.push(measured);
      return measured;
    };
    const mean = (a: Round, b: Round): Round => ({
      n: a.n,
      cpuUs: (a.cpuUs + b.cpuUs) / 2,
      wallMs: (a.wallMs + b.wallMs) / 2,
      serverCpuUs: (a.serverCpuUs + b.serverCpuUs) / 2,
      failures: 0,
      toolCalls: 0,
      chatCalls: 0,
    });
    let before = await measure('off');
    for (let r = 0; r < rounds; r++) {
      // Rotate which traced variant comes first in each cycle.
      for (let k = 0; k < traced.length; k++) {
        const mode = traced[(k + r) % traced.length]!;
        await measure(mode);
        const after = await measure('off');
        baselines.get(mode)!.push(mean(before, after));
        before = after;
      }
      if ((r + 1) % Math.max(1, Math.floor(rounds / 5)) === 0 || r === rounds - 1) {
        const line = MODES.map((m) => `${m} ${fmt(median(results.get(m)!.map((x) => x.cpuUs / x.n / 1000)))} ms`).join(', ');
        progress(`tracing: cycle ${r + 1}/${rounds}: median client CPU per turn so far: ${line}`);
      }
    }

    progress('tracing: flushing exporters and counting what the collector received');
    const flushAll = async () => {
      for (const mode of MODES) await workers.get(mode)!.child.call('flush');
      await tracedServer.call('flush');
      // The receiver answers each export before the exporter's callback runs; give the last
      // responses a moment to be counted.
      await new Promise((r) => setTimeout(r, 300));
    };
    await flushAll();
    await collector.call('reset');
    // Spans of the measured rounds are counted from a clean slate: one more round per
    // variant, flushed, so the counts cover exactly a known number of turns.
    const countTurns = options.quick ? 20 : 50;
    for (const mode of MODES) await workers.get(mode)!.child.call('turns', { n: countTurns });
    await flushAll();
    const counts = await collector.call<{ spans: Record<string, number>; requests: number; bytes: number }>('counts');

    const per = (mode: Mode, f: (r: Round) => number) => median(results.get(mode)!.map(f));
    const diffs = (mode: Mode, f: (r: Round, base: Round) => number) => results.get(mode)!.map((r, i) => f(r, baselines.get(mode)![i]!));
    const within = (mode: Mode, f: (r: Round, base: Round) => number) => median(diffs(mode, f));
    const ci = (mode: Mode, f: (r: Round, base: Round) => number) => medianCI(diffs(mode, f));
    const cpuMs = (r: Round) => r.cpuUs / r.n / 1000;
    const serverMs = (r: Round) => r.serverCpuUs / r.n / 1000;
    const wallMs = (r: Round) => r.wallMs / r.n;
    const failures = MODES.reduce((s, m) => s + results.get(m)!.reduce((a, r) => a + r.failures, 0), 0);

    const spansOf = (mode: Mode) => {
      let client = 0;
      let server = 0;
      for (const [key, n] of Object.entries(counts.spans)) {
        const [service, m] = key.split('/');
        if (m !== mode) continue;
        if (service === 'memento-mcp-server') server += n;
        else client += n;
      }
      return { client: client / countTurns, server: server / countTurns };
    };
    // The traced server serves both memento variants; its spans are counted under `memento`.
    const serverSpans = spansOf('memento').server / 2;

    const rows = MODES.map((mode) => {
      const spans = spansOf(mode);
      const traced = mode === 'memento' || mode === 'memento-file';
      return [
        LABEL[mode],
        fmt(per(mode, cpuMs)),
        mode === 'off' ? '–' : fmt(within(mode, (r, b) => cpuMs(r) - cpuMs(b))),
        mode === 'off' ? '1.00×' : ratio(within(mode, (r, b) => cpuMs(r) / cpuMs(b))),
        fmt(per(mode, serverMs)),
        mode === 'off' || mode === 'peer' ? '–' : fmt(within(mode, (r, b) => serverMs(r) - serverMs(b))),
        fmt(per(mode, wallMs)),
        fmt(1000 / per(mode, wallMs)),
        mode === 'off' ? '0' : `${fmt(spans.client, 2)}${traced ? ` + ${fmt(serverSpans, 2)}` : ''}`,
      ];
    });

    const clientDelta = (r: Round, b: Round) => cpuMs(r) - cpuMs(b);
    const serverDelta = (r: Round, b: Round) => serverMs(r) - serverMs(b);
    const wholeDelta = (r: Round, b: Round) => clientDelta(r, b) + serverDelta(r, b);
    const mementoClient = within('memento', (r, b) => cpuMs(r) - cpuMs(b));
    const mementoWhole = within('memento', (r, b) => cpuMs(r) - cpuMs(b) + serverMs(r) - serverMs(b));
    const peerClient = within('peer', (r, b) => cpuMs(r) - cpuMs(b));
    const chatCallsPerTurn = per('peer', (r) => r.chatCalls / r.n);

    const body = [
      table(
        ['variant', 'client CPU / turn (ms)', 'Δ vs untraced (ms)', 'ratio', 'server CPU / turn (ms)', 'server Δ (ms)', 'wall / turn (ms)', 'turns / s', 'spans / turn (client + server)'],
        rows,
      ),
      '',
      table(
        ['figure (same run, medians of per-round differences)', 'value'],
        [
          ['Memento: client CPU added per turn', withCI(ci('memento', clientDelta))],
          ['Memento: server CPU added per turn (MCP server span, HTTP server span, storage span)', withCI(ci('memento', serverDelta))],
          ['Memento: whole turn, client + server', withCI(ci('memento', wholeDelta))],
          ['Memento with the trace file on: client CPU added per turn', withCI(ci('memento-file', clientDelta))],
          ['peer: client CPU added per turn', withCI(ci('peer', clientDelta))],
          ['peer: client CPU added per chat call', `${fmt(peerClient / chatCallsPerTurn)} ms`],
          ['Memento ÷ peer (client CPU added)', ratio(mementoClient / peerClient)],
          [`Memento's whole turn as a share of a ${REAL_TURN_MS} ms turn (2 × ${AZURE_CALL_MS} ms Azure calls)`, pct(mementoWhole / REAL_TURN_MS)],
          ['turns with an error or without exactly one tool call', String(failures)],
          ['collector: export requests / bytes received in the counted rounds', `${counts.requests} / ${fmt(counts.bytes / 1024)} KiB`],
        ],
      ),
      '',
      'Each traced round runs between two untraced rounds and is compared with their mean; a difference is the median of those comparisons, with the distribution-free 95 % interval of that median. The per-round CPU figures themselves swing by ±50 % on this shared machine, so a difference of a few tenths of a millisecond is only as certain as its interval says. ' +
        `Rounds: ${rounds} cycles of (off, traced variant) × 3, ${perRound} turns per round, after ${warmup} warm-up turns; spans counted at the collector over ${countTurns} further turns per variant, after a flush. ` +
        `The server CPU column is the MCP server process serving that variant: the traced one for both Memento variants, the untraced one for the others (the peer instruments only the client).`,
    ].join('\n');

    return {
      title: 'Tracing overhead',
      method:
        'Four warm client processes run the same turn loop (even turns store a memory, odd turns search; intent call, one tool call, summarizing call, streamed as the client does by default) ' +
        'against the simulator at zero latency (its own process) and a Memento MCP server over Streamable HTTP (its own process; a traced and an untraced one). ' +
        'CPU is `process.cpuUsage()` of the client process over a whole round, divided by its turns; the server column is the same for the server process. ' +
        'Tracing exports real OTLP/JSON to a receiver process (bench/procs/collector.ts). Every traced round is bracketed by two untraced rounds of the untraced client.',
      body,
      targets: [
        { what: "Memento's whole turn, client CPU", target: `≤ ${TARGET_CLIENT_CPU_MS} ms`, measured: withCI(ci('memento', clientDelta)), met: mementoClient <= TARGET_CLIENT_CPU_MS },
        { what: "Memento's whole turn, client + server CPU", target: `≤ ${TARGET_CLIENT_CPU_MS} ms`, measured: withCI(ci('memento', wholeDelta)), met: mementoWhole <= TARGET_CLIENT_CPU_MS },
        { what: `share of a ${REAL_TURN_MS} ms turn`, target: '< 0.1 %', measured: pct(mementoWhole / REAL_TURN_MS), met: mementoWhole / REAL_TURN_MS < TARGET_SHARE },
        { what: 'peer (for reference), client CPU per turn', target: '≈ 0.54 ms measured earlier', measured: withCI(ci('peer', clientDelta)), met: undefined },
        { what: 'turns failed', target: '0', measured: String(failures), met: failures === 0 },
      ],
      data: { rounds, perRound, warmup, results: Object.fromEntries(results), counts, countTurns, untracedCpuMsPerTurn: per('off', cpuMs) },
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

export const tracing: Benchmark = {
  name: 'tracing',
  createsFiles: true,
  summary: 'client CPU per turn: untraced vs Memento tracing vs the peer instrumentation',
  run,
};

/** V8 settings under which a client's instruction count is repeatable (see runInstructions). */
export const PREDICTABLE_V8 = [
  // No background threads (concurrent compilation, marking, sweeping): all of V8's work runs
  // on the main thread in program order, and is counted there.
  '--single-threaded',
  // A heap that does not grow or shrink with timing: fixed new space, no idle-time or
  // memory-reducer collections.
  '--predictable-gc-schedule',
  '--min-semi-space-size=16',
  '--max-semi-space-size=16',
  // No old-generation collection inside a window. Incremental marking is stepped by tasks as
  // well as by allocation, i.e. by the clock, and with 100 counted turns two fresh untraced
  // processes were 3.2 % apart (22.70 / 22.00 M per turn): callgrind_annotate put the whole
  // difference in marking and sweeping. Atomic marking, and an old generation that starts at
  // 512 MB, leave only the forced collection before the window (V8's --trace-gc, natively:
  // 0 mark-compacts in 100 turns for off, memento and peer; scavenges, driven by allocation,
  // stay in the count). What this leaves out is the old-generation work that tracing's
  // longer-lived objects cause later, which a window cannot count repeatably anyway.
  '--no-incremental-marking',
  '--initial-old-space-size=512',
  // Math.random (span and trace ids) draws the same numbers in every run.
  '--random-seed=1',
  // Bytecode of functions not run for a while is flushed at GC and compiled again later:
  // compilation would then fall into a window by chance.
  '--no-flush-bytecode',
  '--expose-gc',
];

const HOUR_MS = '3600000';
/**
 * memento-server.ts's arguments for a server whose client runs under callgrind: keep-alive
 * connections stay open for an hour. With Node's 5 s default a client ~50× slower found the
 * server's close too late and sent its next MCP request onto a closed socket
 * (UND_ERR_SOCKET "other side closed": 1–3 failed turns per process in a 100-turn window).
 */
export const CALLGRIND_SERVER_ARGS = (dataDir: string) => [dataDir, '0', JSON.stringify({ keepAliveTimeoutMs: Number(HOUR_MS) })];
export const NO_TIMEOUTS = {
  MEMENTO_MCP_TIMEOUT_MS: HOUR_MS,
  MEMENTO_MODEL_TIMEOUT_MS: HOUR_MS,
  MEMENTO_MODEL_IDLE_TIMEOUT_MS: HOUR_MS,
  OTEL_BSP_EXPORT_TIMEOUT: HOUR_MS,
};

/**
 * A client's telemetry settings under callgrind, exporting to `collectorUrl`: exports happen
 * at the flushes; metrics export once a minute natively, i.e. once in thousands of turns, so
 * not in a window.
 */
export function callgrindOtel(collectorUrl: string, mode: string): Record<string, string> {
  return {
    OTEL_SDK_DISABLED: 'false',
    OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
    OTEL_RESOURCE_ATTRIBUTES: `bench.mode=${mode}`,
    OTEL_BSP_SCHEDULE_DELAY: HOUR_MS,
    OTEL_METRIC_EXPORT_INTERVAL: HOUR_MS,
  };
}

/** A turn worker's environment for one variant: untraced (off), Memento's tracing, or the peer instrumentation. */
export function instructionsClientEnv(variant: string, urls: { simulator: string; server: string; collector: string }): NodeJS.ProcessEnv {
  return cleanEnv({
    AZURE_OPENAI_ENDPOINT: urls.simulator,
    AZURE_OPENAI_API_KEY: 'bench',
    MEMENTO_MCP_URL: `${urls.server}/mcp`,
    // A process under callgrind on a busy machine can wait minutes for a core: no timeout
    // may fire (a timed-out call is a failed turn with other work in it, and a retry).
    ...NO_TIMEOUTS,
    ...(variant === 'off' ? {} : callgrindOtel(urls.collector, variant)),
    ...(variant === 'peer' ? { OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' } : {}),
  });
}

/**
 * The counting itself, on a turn worker started under callgrind (late) into `out`: warm-up
 * turns, a full GC, then `callgrind_control --dump` brackets `turns` turns.
 */
export async function countTurnInstructions(child: Child, out: string, warmup: number, turns: number): Promise<{ instructions: number; failures: number; why: string[] }> {
  const warm = await child.call<{ failures: number; why: string[] }>('turns', { n: warmup, flushEach: true });
  if (warm.failures) progress(`warm-up of ${child.pid}: ${warm.failures} failed turns: ${warm.why.join('; ')}`);
  await child.call('gc');
  await startInstrumentation(child.pid);
  await dumpInstructions(child.pid, out);
  const result = await child.call<{ failures: number; why: string[] }>('turns', { n: turns, flushEach: true });
  const instructions = await dumpInstructions(child.pid, out);
  return { instructions, failures: result.failures, why: result.why };
}

/**
 * Instructions per turn, counted by callgrind: unlike CPU seconds, they do not move with what
 * else the machine does. For each variant and each repetition a fresh client process runs
 * under callgrind (simulator, servers and collector native), with V8 made predictable
 * (PREDICTABLE_V8), warms up, collects its heap, and `callgrind_control --dump` brackets the
 * measured turns. Each turn exports its own spans (`flushEach`), as an interactive client
 * does, so no timer decides what a window contains. Repetitions in fresh processes show how
 * far a count moves between runs; the figure is their mean.
 */
async function runInstructions(options: BenchOptions): Promise<BenchResult> {
  if (!(await valgrindAvailable())) throw new Error('valgrind (Debian package valgrind) is needed for this benchmark');
  // V8 tiers code up by invocation counts, so warm-up is counted in turns, as natively.
  // 40 warm-up turns left 1.2–3.6 M instructions per turn of parsing and compiling in the
  // window (callgrind_annotate: Scanner, Parser, compiler::); 150 leave the code warm.
  const warmup = options.quick ? 60 : 150;
  // 40 counted turns left the two processes of one variant up to 1.05 % apart: whether an
  // old-generation collection (its marking and sweeping, ~0.2 M instructions per turn of a
  // 40-turn window) fell inside the window or just after it. Over 100 turns one such
  // collection more or less is under 0.5 %.
  const turns = options.quick ? 20 : 100;
  const reps = 2;
  const modes: Mode[] = ['off', 'memento', 'peer'];
  const children: Child[] = [];
  try {
    progress('tracing-instructions: starting collector, simulator and two MCP servers (native)');
    const collector = await startChild<{ url: string }>('collector.ts');
    children.push(collector);
    const simulator = await startChild<{ url: string }>('simulator.ts', { args: ['0'] });
    children.push(simulator);
    const otel = (mode: string) => callgrindOtel(collector.ready.url, mode);
    for (const sub of ['traced', 'plain']) await mkdir(join(options.workDir, sub), { recursive: true });
    const [tracedServer, plainServer] = await Promise.all([
      startChild<{ url: string }>('memento-server.ts', { args: CALLGRIND_SERVER_ARGS(join(options.workDir, 'traced')), env: cleanEnv(otel('memento')) }),
      startChild<{ url: string }>('memento-server.ts', { args: CALLGRIND_SERVER_ARGS(join(options.workDir, 'plain')) }),
    ]);
    children.push(tracedServer, plainServer);

    const measureOnce = async (mode: Mode, rep: number) => {
      const server = mode === 'memento' ? tracedServer : plainServer;
      const env = instructionsClientEnv(mode, { simulator: simulator.ready.url, server: server.ready.url, collector: collector.ready.url });
      const out = join(options.workDir, `callgrind-${mode}-${rep}.%p`);
      const child = await startChild('turn-worker.ts', { args: [mode, `${mode}-${rep}`], env, execArgv: PREDICTABLE_V8, timeoutMs: 600_000, callgrindOut: out, callgrindLate: true });
      try {
        const { instructions, failures } = await countTurnInstructions(child, out, warmup, turns);
        return { perTurn: instructions / turns, failures };
      } finally {
        await child.stop();
      }
    };

    const counts = new Map<Mode, { perTurn: number; failures: number }[]>(modes.map((m) => [m, []]));
    // All at once: a count does not depend on what else runs, and under callgrind one
    // process takes minutes. Each worker is its own user, so every search finds the same notes.
    progress(`tracing-instructions: ${reps} × (${modes.join(', ')}) under callgrind, ${warmup} warm-up + ${turns} counted turns each`);
    const runs = modes.flatMap((m) => Array.from({ length: reps }, (_, i) => ({ mode: m, rep: i + 1 })));
    const results = await Promise.all(runs.map((r) => measureOnce(r.mode, r.rep)));
    results.forEach((r, i) => counts.get(runs[i]!.mode)!.push(r));

    const mean = (mode: Mode) => counts.get(mode)!.reduce((s, c) => s + c.perTurn, 0) / reps;
    // Repeatability: the largest relative difference between repetitions of one variant.
    const spread = (mode: Mode) => {
      const v = counts.get(mode)!.map((c) => c.perTurn);
      return (Math.max(...v) - Math.min(...v)) / mean(mode);
    };
    const off = mean('off');
    const timing = options.earlier.get('tracing') as { untracedCpuMsPerTurn?: number } | undefined;
    // Instructions → ms at the rate the untraced client ran natively in the tracing benchmark.
    const msPerInstruction = timing?.untracedCpuMsPerTurn ? timing.untracedCpuMsPerTurn / off : undefined;
    const asMs = (instructions: number) => (msPerInstruction ? `${fmt(instructions * msPerInstruction)} ms` : '–');
    const M = (n: number) => fmt(n / 1e6, 4);
    const rows = modes.map((mode) => {
      const d = mean(mode) - off;
      return [
        LABEL[mode],
        counts.get(mode)!.map((c) => M(c.perTurn)).join(' / '),
        pct(spread(mode), 2),
        M(mean(mode)),
        mode === 'off' ? '–' : M(d),
        mode === 'off' ? '–' : pct(d / off, 2),
        mode === 'off' ? '–' : asMs(d),
      ];
    });
    const memento = mean('memento') - off;
    const peer = mean('peer') - off;
    const worstSpread = Math.max(...modes.map(spread));
    const failures = [...counts.values()].flat().reduce((s, c) => s + c.failures, 0);
    return {
      title: 'Tracing overhead in instructions (callgrind)',
      method:
        `For each variant, ${reps} fresh client processes (one per repetition) run under \`valgrind --tool=callgrind\`; simulator, MCP servers and collector run natively. ` +
        `V8 runs \`${PREDICTABLE_V8.join(' ')}\`. After ${warmup} warm-up turns and a full GC, \`callgrind_control --dump\` brackets ${turns} counted turns; ` +
        'every turn exports its own spans (a flush after the turn, as an interactive client whose turns outlast the batch delay does), so the counts do not depend on timers, on how slowly valgrind runs or on the machine’s load. ' +
        (msPerInstruction
          ? `Milliseconds are the instructions at the rate the untraced client ran natively in the \`tracing\` benchmark of this same run (${fmt(timing!.untracedCpuMsPerTurn!)} ms per turn).`
          : 'Run together with `tracing` to have them converted to milliseconds.'),
      body: [
        table(['variant', 'Minstr / turn, each repetition', 'spread', 'mean Minstr / turn', 'Δ Minstr vs untraced', 'Δ', 'Δ ≈ ms'], rows),
        '',
        `Memento ÷ peer, client instructions added per turn: ${ratio(memento / peer)}. Largest spread between repetitions: ${pct(worstSpread, 2)}. Turns with an error or without exactly one tool call: ${failures}.`,
      ].join('\n'),
      targets: [
        { what: 'instruction counts repeatable (largest spread between repetitions)', target: '≤ 1 %', measured: pct(worstSpread, 2), met: worstSpread <= 0.01 },
        { what: 'client instructions added by Memento ÷ by the peer', target: '≤ 0.5×', measured: ratio(memento / peer), met: memento / peer <= 0.5 },
        {
          what: 'client CPU added by Memento per turn (instructions → ms)',
          target: `≤ ${TARGET_CLIENT_CPU_MS} ms`,
          measured: `${asMs(memento)} (${M(memento)} M instructions)`,
          met: msPerInstruction ? memento * msPerInstruction <= TARGET_CLIENT_CPU_MS : undefined,
        },
        { what: 'turns failed', target: '0', measured: String(failures), met: failures === 0 },
      ],
      data: { warmup, turns, reps, counts: Object.fromEntries(counts), msPerInstruction },
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

export const tracingInstructions: Benchmark = {
  name: 'tracing-instructions',
  summary: 'instructions per turn under callgrind (fresh predictable processes): untraced vs Memento vs the peer',
  run: runInstructions,
};
