/*
 * `npm run stack -- up|down|status|build`: the observability stack without Docker. `up` builds
 * what is missing (scripts/stack/build.ts), starts the collector, Jaeger and Prometheus as
 * local processes with the repository's config files (scripts/stack/run.ts), waits until each
 * is healthy and prints the URLs and the variables to export. The compose stack's ports are
 * used where they are free, other free ports where not.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { ensureBuilt } from './build.ts';
import { PROGRAMS, isAlive, readState, startStack, stopStack, waitHealthy, type StackPorts, type StackState } from './run.ts';

const USAGE = 'usage: npm run stack -- up|down|status|build';

function runDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MEMENTO_STACK_DIR) return resolve(env.MEMENTO_STACK_DIR);
  return join(env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state'), 'memento', 'stack');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const srv = createServer();
    srv.once('error', () => resolvePromise(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolvePromise(true)));
  });
}

/** The compose stack's published ports, each one only if nothing listens there yet. */
async function usualPorts(): Promise<Partial<StackPorts>> {
  const usual: Partial<StackPorts> = {
    otlpGrpc: 4317,
    otlpHttp: 4318,
    collectorHealth: 13133,
    collectorPrometheus: 8889,
    collectorMetrics: 8888,
    jaegerHttp: 16686,
    prometheus: 9090,
  };
  const ports: Partial<StackPorts> = {};
  for (const [name, port] of Object.entries(usual) as [keyof StackPorts, number][]) {
    if (await portFree(port)) ports[name] = port;
  }
  return ports;
}

const log = (line: string) => process.stderr.write(`stack: ${line}\n`);

/**
 * otel-collector.yaml's settings that are not addresses, passed through from the shell:
 * the sampling share and thresholds, the span-metrics flush, the log level, the content opt-in.
 */
function collectorSettings(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const passed = /^OTEL_COLLECTOR_(SAMPLING_|SPAN_METRICS_|LOG_LEVEL$)/.test(name) || name === 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT';
    if (passed && value !== undefined) settings[name] = value;
  }
  return settings;
}

function describe(state: StackState): string {
  const p = state.processes;
  return [
    `collector ${p.collector.release}  pid ${p.collector.pid}  OTLP/HTTP ${state.urls.otlpHttp}  OTLP/gRPC ${state.urls.otlpGrpc}  span metrics ${state.urls.collectorMetrics}`,
    `jaeger    ${p.jaeger.release}  pid ${p.jaeger.pid}  UI and query API ${state.urls.jaeger}  (the UI shows a placeholder: its assets are not in the Go module)`,
    `prometheus ${p.prometheus.release}  pid ${p.prometheus.pid}  ${state.urls.prometheus}  (alerts: ${state.urls.prometheus}/alerts)`,
    `logs and data in ${state.dir}`,
    '',
    `export OTEL_EXPORTER_OTLP_ENDPOINT=${state.urls.otlpHttp}`,
    `export MEMENTO_JAEGER_URL=${state.urls.jaeger}`,
  ].join('\n');
}

async function running(state: StackState | undefined): Promise<boolean> {
  return !!state && PROGRAMS.every((name) => isAlive(state.processes[name].pid));
}

async function up(): Promise<number> {
  const dir = runDir();
  const previous = await readState(dir);
  if (previous && (await running(previous))) {
    log(`already running (npm run stack -- down stops it)`);
    process.stdout.write(`${describe(previous)}\n`);
    return 0;
  }
  if (previous) await stopStack(previous);
  const state = await startStack({ dir, ports: await usualPorts(), collectorEnv: collectorSettings(), log });
  process.stdout.write(`${describe(state)}\n`);
  return 0;
}

async function down(): Promise<number> {
  const state = await readState(runDir());
  if (!state || !PROGRAMS.some((n) => isAlive(state.processes[n].pid))) {
    log('not running');
    return 0;
  }
  await stopStack(state);
  log(`stopped; logs and Prometheus' data stay in ${state.dir}`);
  return 0;
}

async function status(): Promise<number> {
  const state = await readState(runDir());
  if (!state) {
    log('not running (npm run stack -- up starts it)');
    return 3;
  }
  let healthy = true;
  const urls: Record<string, string> = {
    collector: state.urls.collectorHealth,
    jaeger: `http://${state.host}:${state.ports.jaegerHealth}/status`,
    prometheus: `${state.urls.prometheus}/-/ready`,
  };
  for (const name of PROGRAMS) {
    const info = state.processes[name];
    let line = `${name.padEnd(10)} ${info.release.padEnd(8)} `;
    if (!isAlive(info.pid)) {
      line += 'stopped';
      healthy = false;
    } else {
      try {
        await waitHealthy(name, urls[name]!, info, 3000);
        line += `healthy  pid ${info.pid}`;
      } catch {
        line += `running but not healthy  pid ${info.pid}  (log: ${info.log})`;
        healthy = false;
      }
    }
    process.stdout.write(`${line}\n`);
  }
  if (healthy) process.stdout.write(`\n${describe(state)}\n`);
  return healthy ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.length) throw new Error(`unexpected arguments: ${rest.join(' ')}\n${USAGE}`);
  switch (command) {
    case 'up':
      return up();
    case 'down':
      return down();
    case 'status':
      return status();
    case 'build':
      await ensureBuilt(log);
      return 0;
    default:
      throw new Error(command ? `unknown command "${command}"\n${USAGE}` : USAGE);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`stack: ${err.message}\n`);
    process.exit(1);
  },
);
