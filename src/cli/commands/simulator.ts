import { SETTINGS } from '../../config.ts';
import { CliError, EXIT } from '../errors.ts';
import { log, registerSecret } from '../../log.ts';
import { parseFaults } from '../../simulator/faults.ts';
import { simulatorOptionsFromEnv, startSimulator, type SimulatorOptions as StartOptions } from '../../simulator/server.ts';

export interface SimulatorOptions {
  host: string;
  port: number;
  latency?: number;
  jitter?: number;
  failRate?: number;
  /** "429,500,ok,timeout" as typed; parsed here so a mistake is reported like any other. */
  faults?: string;
  timeoutMs?: number;
  retryAfterMs?: number;
  apiKey?: string;
  deployment?: string[];
}

/** Flags override MEMENTO_SIMULATOR_* variables; both override the built-in defaults. */
function startOptions(opts: SimulatorOptions): StartOptions {
  let fromEnv: StartOptions;
  try {
    fromEnv = simulatorOptionsFromEnv(process.env);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage);
  }
  const flags: StartOptions = { host: opts.host, port: opts.port };
  if (opts.latency !== undefined) flags.latencyMs = opts.latency;
  if (opts.jitter !== undefined) flags.jitterMs = opts.jitter;
  if (opts.failRate !== undefined) flags.failRate = opts.failRate;
  if (opts.timeoutMs !== undefined) flags.timeoutMs = opts.timeoutMs;
  if (opts.retryAfterMs !== undefined) flags.retryAfterMs = opts.retryAfterMs;
  if (opts.apiKey !== undefined) flags.apiKey = opts.apiKey;
  if (opts.deployment?.length) flags.deployments = opts.deployment;
  if (opts.faults !== undefined) {
    try {
      flags.faults = parseFaults(opts.faults);
    } catch (err) {
      throw new CliError(`--faults: ${(err as Error).message}`, EXIT.usage);
    }
  }
  return { ...fromEnv, ...flags };
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Runs the simulator until SIGINT or SIGTERM, then closes it. */
export async function simulator(opts: SimulatorOptions): Promise<number> {
  const options = startOptions(opts);
  registerSecret(options.apiKey);
  const stopped = untilSignal();
  let sim;
  try {
    sim = await startSimulator(options);
  } catch (err) {
    throw new CliError(`cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`, EXIT.failed);
  }
  log.info(`memento simulator (a rule-based stand-in for Azure OpenAI, not a model) listening on ${sim.url}`, {
    latency_ms: options.latencyMs || undefined,
    jitter_ms: options.jitterMs || undefined,
    fail_rate: options.failRate || undefined,
    faults: options.faults?.length ? opts.faults ?? process.env[SETTINGS.simFaults.name] : undefined,
    timeout_ms: options.timeoutMs,
    key_required: options.apiKey !== undefined || undefined,
    deployments: options.deployments?.join(','),
    now: options.now?.().toISOString(),
  });
  const key = options.apiKey === undefined ? 'any key' : 'the key given';
  log.info(`use it with AZURE_OPENAI_ENDPOINT=${sim.url} or OPENAI_BASE_URL=${sim.url}/v1 (${key})`);
  const signal = await stopped;
  await sim.close();
  log.info('memento simulator stopped', { signal, requests: sim.stats.requests, completions: sim.stats.completions });
  return EXIT.ok;
}
