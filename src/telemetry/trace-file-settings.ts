/*
 * Where the local trace file is (MEMENTO_TRACE_FILE, else under $XDG_STATE_HOME) and when it
 * rotates. Kept apart from the exporter (trace-file.ts, which loads the SDK's serializer) so
 * that `memento traces` can find the file without loading the SDK.
 */
import { SETTINGS, setting } from '../config.ts';

export interface TraceFileSettings {
  path: string;
  maxBytes: number;
}

/** The trace file from MEMENTO_TRACE_FILE (`off` disables it) and MEMENTO_TRACE_FILE_MAX_BYTES. */
export function traceFileSettings(env: NodeJS.ProcessEnv = process.env): TraceFileSettings | undefined {
  const path = setting(SETTINGS.traceFile, env);
  return path === undefined ? undefined : { path, maxBytes: setting(SETTINGS.traceFileMaxBytes, env) };
}

