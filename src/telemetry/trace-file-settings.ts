/*
 * Where the local trace file is (MEMENTO_TRACE_FILE, else under $XDG_STATE_HOME) and when it
 * rotates. Kept apart from the exporter (trace-file.ts, which loads the SDK's serializer) so
 * that `memento traces` can find the file without loading the SDK.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface TraceFileSettings {
  path: string;
  maxBytes: number;
}

export const DEFAULT_TRACE_FILE_MAX_BYTES = 8 * 1024 * 1024;

/** `$XDG_STATE_HOME/memento/traces.jsonl`, i.e. `~/.local/state/memento/traces.jsonl`. */
export function defaultTraceFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const stateHome = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return join(stateHome, 'memento', 'traces.jsonl');
}

/** The trace file from MEMENTO_TRACE_FILE (`off` disables it) and MEMENTO_TRACE_FILE_MAX_BYTES. */
export function traceFileSettings(env: NodeJS.ProcessEnv = process.env): TraceFileSettings | undefined {
  const raw = env.MEMENTO_TRACE_FILE?.trim();
  if (raw && ['off', 'none', 'false', '0'].includes(raw.toLowerCase())) return undefined;
  const max = Number(env.MEMENTO_TRACE_FILE_MAX_BYTES);
  return {
    path: resolve(raw || defaultTraceFilePath(env)),
    maxBytes: Number.isFinite(max) && max >= 4096 ? max : DEFAULT_TRACE_FILE_MAX_BYTES,
  };
}

