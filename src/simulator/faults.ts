/*
 * Injected trouble: which requests fail and how, and how long answers take. A `--faults`
 * sequence makes the first requests fail in a known order (what tests and demos need); a
 * fail rate makes failures random (what load runs need); latency and jitter make time.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * What happens to one request: answered normally, an HTTP error status, held without an
 * answer ("timeout"), or the connection dropped ("reset").
 */
export type Fault = 'ok' | 'timeout' | 'reset' | { status: number };

/** How `--faults` and MEMENTO_SIMULATOR_FAULTS are written: "429,500,ok,timeout", "429*2,ok", "reset". */
export function parseFaults(spec: string): Fault[] {
  const out: Fault[] = [];
  for (const raw of spec.split(',')) {
    const item = raw.trim().toLowerCase();
    if (!item) continue;
    const m = /^(ok|timeout|reset|\d{3})(?:\s*[*x]\s*(\d{1,4}))?$/.exec(item);
    const status = m && /^\d{3}$/.test(m[1]!) ? Number(m[1]) : undefined;
    if (!m || (status !== undefined && (status < 400 || status > 599))) {
      throw new Error(`unknown fault "${raw.trim()}": use ok, timeout, reset or an HTTP status from 400 to 599, optionally *N to repeat (e.g. 429*2,ok,500)`);
    }
    const fault: Fault = status !== undefined ? { status } : (m[1] as 'ok' | 'timeout' | 'reset');
    for (let i = 0; i < Number(m[2] ?? 1); i++) out.push(fault);
  }
  return out;
}

export function faultName(fault: Fault): string {
  return typeof fault === 'string' ? fault : String(fault.status);
}

export interface FaultSettings {
  /** Applied to the first requests, one each, in order. */
  sequence: readonly Fault[];
  /** After the sequence: the share of requests that fail, half as 429, half as 500. */
  failRate: number;
  random: () => number;
}

export class FaultPlan {
  private readonly settings: FaultSettings;
  private position = 0;

  constructor(settings: FaultSettings) {
    this.settings = settings;
  }

  /** The fault for the next request. */
  next(): Fault {
    const { sequence, failRate, random } = this.settings;
    if (this.position < sequence.length) return sequence[this.position++]!;
    if (failRate > 0 && random() < failRate) return { status: random() < 0.5 ? 429 : 500 };
    return 'ok';
  }
}

/** Latency plus up to `jitterMs` at random; 0 costs nothing, so benchmarks at zero latency pay no timer. */
export function delayFor(latencyMs: number, jitterMs: number, random: () => number): number {
  return latencyMs + (jitterMs > 0 ? Math.round(random() * jitterMs) : 0);
}

/**
 * Waits without blocking the event loop; resolves false if `signal` aborts first (the client
 * went away, or the simulator closed). `Infinity` waits for that abort alone.
 */
export async function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  if (ms === Infinity) {
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(false), { once: true }));
  }
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
