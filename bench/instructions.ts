/*
 * One variant's instruction count, outside the full harness: how each change of issue 15 was
 * measured on its own (BENCHMARKS.md). The procedure is tracing-instructions' (bench/tracing.ts:
 * fresh process under callgrind, PREDICTABLE_V8, instrumentation on after warm-up and a GC,
 * no client timeouts, one export per turn), run on the code of this checkout.
 *
 *   node bench/instructions.ts client <off|memento|peer> [warm-up turns=150] [turns=100] [processes=1]
 *   node bench/instructions.ts server <plain|traced|floor|floor-traced|floor-otel> [warm-up calls=300] [calls=150] [processes=1] [mix=steady]
 *
 * The server variant drives a Memento MCP server under callgrind with the load generator's
 * `steady` mix (store → get → search → delete → retrieve; or `mixed`) from one native session;
 * `floor` is the SDK's own server with its no-op tool (procs/floor-server.ts, `noop` mix), the
 * floor the throughput benchmark compares with, counted the same way. `floor-traced` is that
 * floor with the telemetry of Memento's traced server and no other Memento code (the OTel setup,
 * instrumentation-http, the HTTP peer and the MCP span decorator, exporting to the benchmark's
 * collector as `traced` does): floor-traced ÷ floor is what tracing costs a call at the least.
 * `floor-otel` leaves out the MCP decorator (the SDK and instrumentation-http alone).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpInstructions, startInstrumentation } from './lib/callgrind.ts';
import { cleanEnv, startChild, type Child } from './lib/child.ts';
import { CALLGRIND_SERVER_ARGS, callgrindOtel, countTurnInstructions, instructionsClientEnv, PREDICTABLE_V8 } from './tracing.ts';

const [side, variant = 'memento', warmArg, countArg, procsArg] = process.argv.slice(2);
const mixArg = process.argv[7];
const work = mkdtempSync(join(tmpdir(), 'memento-instructions-'));
process.stderr.write(`callgrind files in ${work}\n`);
const children: Child[] = [];
const collector = await startChild<{ url: string }>('collector.ts');
children.push(collector);
const otel = (mode: string) => callgrindOtel(collector.ready.url, mode);
try {
  if (side === 'client') {
    const [warmup, turns, procs] = [Number(warmArg ?? 150), Number(countArg ?? 100), Number(procsArg ?? 1)];
    const simulator = await startChild<{ url: string }>('simulator.ts', { args: ['0'] });
    children.push(simulator);
    const server = await startChild<{ url: string }>('memento-server.ts', { args: CALLGRIND_SERVER_ARGS(work), env: cleanEnv(variant === 'memento' ? otel('memento') : {}) });
    children.push(server);
    const env = instructionsClientEnv(variant, { simulator: simulator.ready.url, server: server.ready.url, collector: collector.ready.url });
    const one = async (rep: number) => {
      const out = join(work, `callgrind-${variant}-${rep}.%p`);
      const child = await startChild('turn-worker.ts', { args: [variant, `${variant}-${rep}`], env, execArgv: PREDICTABLE_V8, timeoutMs: 900_000, callgrindOut: out, callgrindLate: true });
      children.push(child);
      const { instructions, failures, why } = await countTurnInstructions(child, out, warmup, turns);
      return { minstrPerTurn: +(instructions / turns / 1e6).toFixed(4), failures, ...(failures ? { why } : {}) };
    };
    const results = await Promise.all(Array.from({ length: procs }, (_, i) => one(i + 1)));
    process.stdout.write(`${JSON.stringify({ side, variant, warmup, turns, results })}\n`);
  } else if (side === 'server') {
    const [warmup, calls] = [Number(warmArg ?? 300), Number(countArg ?? 150)];
    const out = join(work, `callgrind-server-${variant}.%p`);
    const floor = variant.startsWith('floor');
    const traced = variant === 'traced' || variant === 'floor-traced' || variant === 'floor-otel';
    const mix = floor ? 'noop' : (mixArg ?? 'steady');
    const server = await startChild<{ url: string }>(floor ? 'floor-server.ts' : 'memento-server.ts', {
      args: floor ? ['http', 'json', ...(variant === 'floor' ? [] : [variant.slice('floor-'.length)])] : CALLGRIND_SERVER_ARGS(work),
      env: cleanEnv(traced ? { ...otel('server'), OTEL_BSP_EXPORT_TIMEOUT: '3600000' } : {}),
      execArgv: PREDICTABLE_V8,
      timeoutMs: 900_000,
      callgrindOut: out,
      callgrindLate: true,
    });
    children.push(server);
    const load = await startChild('load.ts');
    children.push(load);
    await load.call('open', { url: server.ready.url, sessions: 1, userPrefix: 'steady' });
    const warm = await load.call<{ errors: number }>('run', { mix, calls: warmup });
    if (!floor || traced) await server.call('flush');
    await server.call('memory', { gc: true });
    await startInstrumentation(server.pid);
    await dumpInstructions(server.pid, out);
    const run = await load.call<{ ok: number; errors: number }>('run', { mix, calls });
    if (!floor || traced) await server.call('flush');
    const instructions = await dumpInstructions(server.pid, out);
    await load.call('close');
    // What the traced variants exported, all told (warm-up included): a check that spans left.
    const exported = traced ? (await collector.call<{ spans: Record<string, number> }>('counts')).spans : undefined;
    // Errors (client-side timeouts of a starved server) change the mix: such a count is not comparable.
    process.stdout.write(`${JSON.stringify({ side, variant, mix, warmup, calls: run.ok + run.errors, errors: warm.errors + run.errors, minstrPerCall: +(instructions / (run.ok + run.errors) / 1e6).toFixed(4), ...(exported ? { exported } : {}) })}\n`);
  } else {
    throw new Error('usage: node bench/instructions.ts client <off|memento|peer> [warm-up] [turns] [processes] | server <plain|traced|floor|floor-traced|floor-otel> [warm-up] [calls] [processes (unused)] [mix]');
  }
} finally {
  await Promise.all(children.map((c) => c.stop()));
}
