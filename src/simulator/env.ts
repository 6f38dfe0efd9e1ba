/*
 * The simulator's environment knobs. They matter most for the embedded simulator, which
 * `memento chat`/`ask` start in-process with no command line of its own: these variables
 * are how a user or a test shapes it. `memento simulator` reads them too; its flags win.
 */
import { parseFaults } from './faults.ts';
import type { SimulatorOptions } from './types.ts';

export interface SimulatorEnvSetting {
  name: string;
  meaning: string;
}

export const SIMULATOR_ENVIRONMENT: readonly SimulatorEnvSetting[] = [
  { name: 'MEMENTO_SIMULATOR_LATENCY_MS', meaning: 'added to every answer (ms)' },
  { name: 'MEMENTO_SIMULATOR_JITTER_MS', meaning: 'random extra latency, up to this much (ms)' },
  { name: 'MEMENTO_SIMULATOR_FAIL_RATE', meaning: 'share of requests (0-1) answered 429 or 500 at random' },
  { name: 'MEMENTO_SIMULATOR_FAULTS', meaning: 'what happens to the first requests, in order: e.g. 429,500,ok,timeout,reset (429*2 repeats)' },
  { name: 'MEMENTO_SIMULATOR_TIMEOUT_MS', meaning: 'how long a "timeout" fault holds a request (unset: until the client gives up)' },
  { name: 'MEMENTO_SIMULATOR_RETRY_AFTER_MS', meaning: 'the wait a 429 asks for (retry-after-ms; retry-after in seconds) [1000]' },
  { name: 'MEMENTO_SIMULATOR_API_KEY', meaning: 'accept only this key (unset: any key)' },
  { name: 'MEMENTO_SIMULATOR_DEPLOYMENTS', meaning: 'comma-separated deployments that exist (unset: any)' },
  { name: 'MEMENTO_SIMULATOR_NOW', meaning: 'ISO time the rules take as now, for "yesterday" (unset: the clock)' },
];

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

function wholeMs(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 3_600_000) throw new Error(`${name} must be a whole number of milliseconds from 0 to 3600000, got "${raw}".`);
  return n;
}

/** Simulator options from MEMENTO_SIMULATOR_* variables; unset ones are left out. Throws on a malformed value. */
export function simulatorOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SimulatorOptions {
  const options: SimulatorOptions = {};
  const latency = wholeMs(env, 'MEMENTO_SIMULATOR_LATENCY_MS');
  if (latency !== undefined) options.latencyMs = latency;
  const jitter = wholeMs(env, 'MEMENTO_SIMULATOR_JITTER_MS');
  if (jitter !== undefined) options.jitterMs = jitter;
  const timeout = wholeMs(env, 'MEMENTO_SIMULATOR_TIMEOUT_MS');
  if (timeout !== undefined) options.timeoutMs = timeout;
  const retryAfter = wholeMs(env, 'MEMENTO_SIMULATOR_RETRY_AFTER_MS');
  if (retryAfter !== undefined) options.retryAfterMs = retryAfter;

  const rate = nonEmpty(env.MEMENTO_SIMULATOR_FAIL_RATE);
  if (rate !== undefined) {
    const p = Number(rate);
    if (!Number.isFinite(p) || p < 0 || p > 1) throw new Error(`MEMENTO_SIMULATOR_FAIL_RATE must be a number from 0 to 1, got "${rate}".`);
    options.failRate = p;
  }
  const faults = nonEmpty(env.MEMENTO_SIMULATOR_FAULTS);
  if (faults !== undefined) {
    try {
      options.faults = parseFaults(faults);
    } catch (err) {
      throw new Error(`MEMENTO_SIMULATOR_FAULTS: ${(err as Error).message}`);
    }
  }
  const key = nonEmpty(env.MEMENTO_SIMULATOR_API_KEY);
  if (key !== undefined) options.apiKey = key;
  const deployments = nonEmpty(env.MEMENTO_SIMULATOR_DEPLOYMENTS);
  if (deployments !== undefined) options.deployments = deployments.split(',').map((d) => d.trim()).filter(Boolean);
  const now = nonEmpty(env.MEMENTO_SIMULATOR_NOW);
  if (now !== undefined) {
    const at = new Date(now);
    if (Number.isNaN(at.getTime())) throw new Error(`MEMENTO_SIMULATOR_NOW must be an ISO date-time, got "${now}".`);
    options.now = () => at;
  }
  return options;
}
