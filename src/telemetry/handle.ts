/*
 * The running telemetry as the application sees it: flush, shutdown and the recorder of the
 * client's last turns. `setup.ts` (loaded only by the preload, for commands that make spans)
 * fills it in; everything else reads it here, so nothing outside setup.ts imports the SDK and
 * `memento --help` or `memento traces` never load it. With no SDK started, a disabled
 * stand-in answers.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/** The processes that make spans. The simulator makes none: see README, Decisions. */
export type Role = 'client' | 'server';

/** The finished spans of the client's recent turns. */
export interface SpanRecorder {
  /** The finished spans of one trace, in the order they ended. */
  spans(traceId: string): readonly ReadableSpan[];
  /** The finished spans of every trace still kept, oldest trace first. */
  all(): readonly ReadableSpan[];
}

export interface Telemetry {
  readonly enabled: boolean;
  readonly role: Role;
  /** Finished spans of the client's recent turns (client role only). */
  readonly recorder: SpanRecorder | undefined;
  /** Whether spans go to a collector that was there at the last look (false with OTLP export off). */
  collectorReachable(): boolean;
  /** The one-line note that no collector listens, the first time it is asked after that was found; else undefined. */
  takeNotice(): string | undefined;
  forceFlush(): Promise<void>;
  /** Flushes and stops; never waits longer than `deadlineMs`, even with the collector down. */
  shutdown(deadlineMs?: number): Promise<void>;
}

export function disabledTelemetry(role: Role): Telemetry {
  return {
    enabled: false,
    role,
    recorder: undefined,
    collectorReachable: () => false,
    takeNotice: () => undefined,
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

let current: Telemetry | undefined;

/** The running telemetry, or a disabled stand-in when none was started. */
export function telemetry(): Telemetry {
  return current ?? disabledTelemetry('client');
}

/** Called once by setup.ts when the SDK has started (or decided not to). */
export function installTelemetry(t: Telemetry): void {
  current = t;
}

/** Whether telemetry was started (or turned off on purpose) in this process. */
export function telemetryInstalled(): boolean {
  return current !== undefined;
}
