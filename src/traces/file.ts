/*
 * Reads the local trace file that telemetry/trace-file.ts writes: one OTLP/JSON export batch
 * a line, the older half rotated to `<file>.1`. The file is appended to by live processes
 * and may be cut short by a crash or a full disk, so a line that is not a whole OTLP/JSON
 * request is counted and skipped, never fatal. Lines are streamed: the file may be large.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { spansFromOtlpJson, type TraceSpan } from './model.ts';

export interface TraceFileContents {
  spans: TraceSpan[];
  /** The files that existed and were read, oldest first. */
  files: string[];
  /** Non-empty lines that were not an OTLP/JSON trace request (torn writes, stray text). */
  skippedLines: number;
}

export interface ReadOptions {
  /** Only this trace's spans; lines that cannot hold it are skipped unparsed (the file may be large). */
  traceId?: string;
}

/** Streams one file's lines into `into`; false when the file does not exist. */
async function readOne(path: string, into: TraceFileContents, options: ReadOptions): Promise<boolean> {
  const input = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<boolean>((resolve, reject) => {
    input.once('open', () => resolve(true));
    input.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve(false) : reject(err)));
  });
  if (!(await opened)) return false;
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    if (options.traceId && !line.includes(options.traceId)) continue;
    let body: unknown;
    try {
      body = JSON.parse(line);
    } catch {
      into.skippedLines += 1;
      continue;
    }
    if (!Array.isArray((body as { resourceSpans?: unknown } | null)?.resourceSpans)) {
      into.skippedLines += 1;
      continue;
    }
    for (const span of spansFromOtlpJson(body)) if (!options.traceId || span.traceId === options.traceId) into.spans.push(span);
  }
  into.files.push(path);
  return true;
}

/**
 * Every span in the trace file and its rotated predecessor (`<path>.1`, read first because
 * it is older). Missing files are simply empty; unreadable ones (permissions, a directory)
 * throw with the path in the message.
 */
export async function readTraceFile(path: string, options: ReadOptions = {}): Promise<TraceFileContents> {
  const contents: TraceFileContents = { spans: [], files: [], skippedLines: 0 };
  for (const file of [`${path}.1`, path]) {
    try {
      await readOne(file, contents, options);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new Error(`cannot read the trace file ${file}: ${reason}`, { cause: err });
    }
  }
  return contents;
}
