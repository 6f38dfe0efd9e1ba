/*
 * Starts the three programs of the stack as local processes on loopback ports, with the
 * repository's own configuration files: otel-collector.yaml and deploy/jaeger/config.yaml as
 * shipped (their `${env:…}` variables set the addresses), deploy/prometheus/prometheus.yml with
 * its scrape targets rewritten from the compose service names to the local ports (Prometheus
 * expands no variables there). `npm run stack` and the stack tests (test/stack/) both use it.
 *
 * Everything a run needs lives in one directory outside the clone: the state file with the
 * pids and ports, each program's log, the generated Prometheus config, Prometheus' data.
 * Processes are started detached, so `npm run stack -- up` can return and `down` (or another
 * process) can stop them by pid.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ensureBuilt, isAlive, type Log } from './build.ts';
import { ROOT, prometheusProgram } from './programs.ts';

export { isAlive };

export type ProgramName = 'collector' | 'jaeger' | 'prometheus';
export const PROGRAMS: readonly ProgramName[] = ['prometheus', 'jaeger', 'collector'];

export interface StackPorts {
  otlpGrpc: number;
  otlpHttp: number;
  collectorHealth: number;
  collectorPrometheus: number;
  collectorMetrics: number;
  jaegerOtlpGrpc: number;
  jaegerHttp: number;
  jaegerGrpc: number;
  jaegerHealth: number;
  jaegerMetrics: number;
  prometheus: number;
}

export interface StackOptions {
  /** The run directory (state, logs, data). */
  dir: string;
  /** Fixed ports; the others are picked free. */
  ports?: Partial<StackPorts>;
  /** Alert rule files for Prometheus instead of the shipped deploy/prometheus/alerts.yml. */
  ruleFiles?: string[];
  /** Prometheus' scrape and evaluation interval instead of the shipped one (tests: 1s). */
  prometheusInterval?: string;
  /** Extra environment for the collector: its `${env:…}` settings (sampling, content opt-in). */
  collectorEnv?: Record<string, string>;
  log?: Log;
}

export interface ProcessInfo {
  pid: number;
  binary: string;
  release: string;
  log: string;
  env: Record<string, string>;
  args: string[];
}

export interface StackState {
  dir: string;
  host: string;
  ports: StackPorts;
  processes: Record<ProgramName, ProcessInfo>;
  urls: {
    otlpHttp: string;
    otlpGrpc: string;
    jaeger: string;
    prometheus: string;
    collectorHealth: string;
    collectorMetrics: string;
  };
}

const HOST = '127.0.0.1';
const STATE_FILE = 'state.json';

/** A port free on the loopback interface a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolvePromise(port));
    });
  });
}

async function pickPorts(fixed: Partial<StackPorts> = {}): Promise<StackPorts> {
  const names: (keyof StackPorts)[] = [
    'otlpGrpc', 'otlpHttp', 'collectorHealth', 'collectorPrometheus', 'collectorMetrics',
    'jaegerOtlpGrpc', 'jaegerHttp', 'jaegerGrpc', 'jaegerHealth', 'jaegerMetrics', 'prometheus',
  ];
  const ports = {} as StackPorts;
  const taken = new Set<number>();
  for (const name of names) {
    let port = fixed[name];
    while (port === undefined || taken.has(port)) port = await freePort();
    taken.add(port);
    ports[name] = port;
  }
  return ports;
}

function urlsOf(ports: StackPorts): StackState['urls'] {
  return {
    otlpHttp: `http://${HOST}:${ports.otlpHttp}`,
    otlpGrpc: `${HOST}:${ports.otlpGrpc}`,
    jaeger: `http://${HOST}:${ports.jaegerHttp}`,
    prometheus: `http://${HOST}:${ports.prometheus}`,
    collectorHealth: `http://${HOST}:${ports.collectorHealth}/`,
    collectorMetrics: `http://${HOST}:${ports.collectorPrometheus}/metrics`,
  };
}

/** The collector's `${env:…}` settings for these ports (otel-collector.yaml names them). */
export function collectorEnv(ports: StackPorts, extra: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_COLLECTOR_HOST: HOST,
    OTEL_COLLECTOR_PORT_GRPC: String(ports.otlpGrpc),
    OTEL_COLLECTOR_PORT_HTTP: String(ports.otlpHttp),
    OTEL_COLLECTOR_PORT_HEALTH: String(ports.collectorHealth),
    OTEL_COLLECTOR_PORT_PROMETHEUS: String(ports.collectorPrometheus),
    OTEL_COLLECTOR_PORT_METRICS: String(ports.collectorMetrics),
    JAEGER_OTLP_ENDPOINT: `${HOST}:${ports.jaegerOtlpGrpc}`,
    ...extra,
  };
}

/** Jaeger's `${env:…}` settings for these ports (deploy/jaeger/config.yaml names them). */
export function jaegerEnv(ports: StackPorts): Record<string, string> {
  return {
    JAEGER_LISTEN_HOST: HOST,
    JAEGER_PORT_OTLP_GRPC: String(ports.jaegerOtlpGrpc),
    JAEGER_PORT_QUERY_HTTP: String(ports.jaegerHttp),
    JAEGER_PORT_QUERY_GRPC: String(ports.jaegerGrpc),
    JAEGER_PORT_HEALTH: String(ports.jaegerHealth),
    JAEGER_PORT_METRICS: String(ports.jaegerMetrics),
    JAEGER_UI_CONFIG: join(ROOT, 'deploy', 'jaeger', 'ui-config.json'),
    PROMETHEUS_URL: `http://${HOST}:${ports.prometheus}`,
  };
}

/**
 * deploy/prometheus/prometheus.yml for local processes: the compose service names in its
 * targets become loopback ports, rule files become absolute paths. A target this function
 * does not know is an error, so a new scrape job cannot silently point nowhere.
 */
export function localPrometheusConfig(ports: StackPorts, options: { ruleFiles?: string[]; interval?: string } = {}): string {
  const shipped = join(ROOT, 'deploy', 'prometheus');
  const doc = parse(readFileSync(join(shipped, 'prometheus.yml'), 'utf8')) as {
    global?: Record<string, unknown>;
    rule_files?: string[];
    scrape_configs?: { job_name: string; static_configs?: { targets: string[] }[] }[];
  };
  const targets: Record<string, string> = {
    'collector:8889': `${HOST}:${ports.collectorPrometheus}`,
    'collector:8888': `${HOST}:${ports.collectorMetrics}`,
  };
  for (const job of doc.scrape_configs ?? []) {
    for (const sc of job.static_configs ?? []) {
      sc.targets = sc.targets.map((t) => {
        const local = targets[t];
        if (!local) throw new Error(`deploy/prometheus/prometheus.yml: scrape target ${t} (job ${job.job_name}) has no local equivalent in scripts/stack/run.ts`);
        return local;
      });
    }
  }
  doc.rule_files = options.ruleFiles ?? (doc.rule_files ?? []).map((f) => resolve(shipped, f));
  if (options.interval) doc.global = { ...doc.global, scrape_interval: options.interval, evaluation_interval: options.interval };
  return `# Generated by scripts/stack/run.ts from deploy/prometheus/prometheus.yml: targets on loopback.\n${stringify(doc)}`;
}

function startProcess(binary: string, args: string[], env: Record<string, string>, logFile: string): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(binary, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    if (child.pid === undefined) throw new Error(`cannot start ${binary}`);
    child.on('error', () => {});
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `url` until it answers 2xx; fails early when the process died, with its log. */
export async function waitHealthy(name: string, url: string, info: ProcessInfo, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive(info.pid)) throw new Error(`${name} exited while starting; the end of ${info.log}:\n${logTail(info.log)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${name} did not become healthy at ${url} within ${timeoutMs / 1000} s; the end of ${info.log}:\n${logTail(info.log)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function healthUrl(name: ProgramName, state: StackState): string {
  const p = state.ports;
  if (name === 'collector') return state.urls.collectorHealth;
  // healthcheckv2's status endpoint is 200 only once every component reports OK.
  if (name === 'jaeger') return `http://${HOST}:${p.jaegerHealth}/status`;
  return `${state.urls.prometheus}/-/ready`;
}

/** Starts one program of a stack whose ports and settings are in `state` (a restart uses the same). */
export async function startProgram(state: StackState, name: ProgramName, extraEnv: Record<string, string> = {}): Promise<void> {
  const info = state.processes[name];
  if (isAlive(info.pid)) throw new Error(`${name} is already running (pid ${info.pid})`);
  info.env = { ...info.env, ...extraEnv };
  info.pid = startProcess(info.binary, info.args, info.env, info.log);
  await saveState(state);
  await waitHealthy(name, healthUrl(name, state), info);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return; // also refuses pid 0 and negative pids
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone in between.
    }
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stopProgram(state: StackState, name: ProgramName): Promise<void> {
  await stopPid(state.processes[name].pid);
}

async function saveState(state: StackState): Promise<void> {
  await writeFile(join(state.dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

export async function readState(dir: string): Promise<StackState | undefined> {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  return JSON.parse(await readFile(file, 'utf8')) as StackState;
}

/** Builds what is missing, starts Prometheus, Jaeger and the collector, and waits until each is healthy. */
export async function startStack(options: StackOptions): Promise<StackState> {
  const log = options.log ?? (() => {});
  const dir = resolve(options.dir);
  await mkdir(join(dir, 'prometheus-data'), { recursive: true });
  const built = await ensureBuilt(log);
  const prometheus = prometheusProgram();
  const ports = await pickPorts(options.ports);

  const promConfig = join(dir, 'prometheus.yml');
  await writeFile(promConfig, localPrometheusConfig(ports, { ruleFiles: options.ruleFiles, interval: options.prometheusInterval }));

  const info = (binary: string, release: string, name: ProgramName, args: string[], env: Record<string, string>): ProcessInfo => ({
    pid: 0, binary, release, log: join(dir, `${name}.log`), args, env,
  });
  const state: StackState = {
    dir,
    host: HOST,
    ports,
    urls: urlsOf(ports),
    processes: {
      prometheus: info(prometheus.binary, prometheus.release, 'prometheus', [
        `--config.file=${promConfig}`,
        `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
        `--web.listen-address=${HOST}:${ports.prometheus}`,
        // Lets `down` and the tests reload rules without a restart.
        '--web.enable-lifecycle',
      ], {}),
      jaeger: info(built.jaeger.binary, built.jaeger.release, 'jaeger', [`--config=${join(ROOT, 'deploy', 'jaeger', 'config.yaml')}`], jaegerEnv(ports)),
      collector: info(built.collector.binary, built.collector.release, 'collector', [`--config=${join(ROOT, 'otel-collector.yaml')}`], collectorEnv(ports, options.collectorEnv)),
    },
  };
  await saveState(state);
  try {
    for (const name of PROGRAMS) {
      log(`starting ${name} ${state.processes[name].release}`);
      await startProgram(state, name);
    }
  } catch (err) {
    await stopStack(state);
    throw err;
  }
  return state;
}

/** Stops every program of the stack, the collector first so it can flush to Jaeger. */
export async function stopStack(state: StackState): Promise<void> {
  for (const name of [...PROGRAMS].reverse()) await stopProgram(state, name);
}
