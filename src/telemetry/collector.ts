/*
 * The collector's reachability, and OTLP exporters that respect it. With no collector (the
 * README's default) the OTLP exporter would retry every batch for its whole timeout, hold up
 * exit by the shutdown deadline, and then report each failure as a JSON stack trace over
 * whatever the terminal shows. Instead:
 *
 * - a TCP connect to the endpoint at start-up (cheap: a refused connection answers at once)
 *   tells whether anything listens there;
 * - while nothing does, each export probes again first and, still refused, gives up at once
 *   (the spans are in the local trace file); the first export after a collector appears
 *   goes through, so the traces follow it from then on;
 * - the process says so once, on one quiet line, through `onDown`;
 * - a collector that accepts connections but is slow is left to the exporter's timeout and
 *   the shutdown deadline, as before.
 */
import { connect } from 'node:net';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTEL_SETTINGS } from '../config.ts';
import { otelSetting } from './otel-env.ts';

/** An export skipped because nothing listens at the endpoint: expected, so never reported. */
export class CollectorDownError extends Error {
  constructor(endpoint: string) {
    super(`no collector at ${endpoint}`);
    this.name = 'CollectorDownError';
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET']);

/** Whether an export failed because the endpoint could not be reached (not because it was slow). */
export function isUnreachable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (Array.isArray((e as { errors?: unknown }).errors) && (e as AggregateError).errors.some(isUnreachable)) return true;
  }
  return false;
}

export class Collector {
  readonly endpoint: string;
  private readonly host: string;
  private readonly port: number;
  private down = false;
  private warned = false;
  private readonly onDown: (endpoint: string) => void;

  constructor(endpoint: string, onDown: (endpoint: string) => void) {
    this.endpoint = endpoint;
    const url = new URL(endpoint);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    this.onDown = onDown;
  }

  /** False once a probe or an export found nothing listening, until one succeeds again. */
  get reachable(): boolean {
    return !this.down;
  }

  /** Connects and hangs up; marks the collector down when nothing listens. */
  probe(timeoutMs = 2000): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect({ host: this.host, port: this.port });
      let settled = false;
      const done = (ok: boolean, err?: unknown) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        clearTimeout(timer);
        if (ok) this.down = false;
        else if (isUnreachable(err)) this.markDown();
        // A probe that only timed out says "slow", not "absent": leave it to the exporter.
        resolve(ok || !this.down);
      };
      // A refused connection is reported in the poll phase; a process busy loading modules can
      // let the timer fire first, so the timeout yields once (setImmediate) before it decides.
      const timer = setTimeout(() => setImmediate(() => done(false)), timeoutMs);
      timer.unref();
      socket.unref();
      socket.once('connect', () => done(true));
      socket.once('error', (err) => done(false, err));
    });
  }

  markDown(): void {
    this.down = true;
    if (!this.warned) {
      this.warned = true;
      this.onDown(this.endpoint);
    }
  }
}

/** Any OTLP exporter (spans or metrics): the parts this module touches. */
interface Exporter<T> {
  export(items: T, resultCallback: (result: ExportResult) => void): void;
  forceFlush?(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * `exporter`, but skipping exports (at once, quietly) while the collector is down, and not
 * waiting at shutdown for exports that are only retrying a refused connection.
 */
export function guarded<T, E extends Exporter<T>>(exporter: E, collector: Collector): E {
  const attempt = (items: T, resultCallback: (result: ExportResult) => void) =>
    exporter.export(items, (result) => {
      if (result.code !== ExportResultCode.SUCCESS && isUnreachable(result.error)) collector.markDown();
      resultCallback(result);
    });
  const skip = (resultCallback: (result: ExportResult) => void) =>
    resultCallback({ code: ExportResultCode.FAILED, error: new CollectorDownError(collector.endpoint) });
  return new Proxy(exporter, {
    get(target, prop, receiver) {
      if (prop === 'export') {
        return (items: T, resultCallback: (result: ExportResult) => void) => {
          if (collector.reachable) return attempt(items, resultCallback);
          void collector.probe().then((up) => (up ? attempt(items, resultCallback) : skip(resultCallback)));
        };
      }
      if (prop === 'shutdown' || prop === 'forceFlush') {
        const method = Reflect.get(target, prop, receiver) as (() => Promise<void>) | undefined;
        return () => {
          const pending = method?.call(target) ?? Promise.resolve();
          // With nothing listening, whatever is still queued can only fail: do not wait for it.
          return collector.reachable ? pending : (void pending.catch(() => {}), Promise.resolve());
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The OTLP/HTTP endpoint a signal is sent to, from the standard variables (for probing and messages). */
export function otlpEndpoint(signal: 'TRACES' | 'METRICS'): string {
  const specific = otelSetting(signal === 'TRACES' ? OTEL_SETTINGS.tracesEndpoint : OTEL_SETTINGS.metricsEndpoint);
  return (specific ?? otelSetting(OTEL_SETTINGS.endpoint)).trim();
}
