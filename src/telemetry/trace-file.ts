/*
 * The local trace file: Memento's traces without a collector. Each export batch is one line
 * of OTLP/JSON (the body an OTLP/HTTP exporter would POST, byte for byte what the SDK's own
 * serializer writes: otlp-json.ts), appended to MEMENTO_TRACE_FILE. When the file passes its
 * cap it becomes `<file>.1` (replacing the previous one) and a new file starts, so the disk
 * holds at most twice the cap and `memento traces` always has the latest turns.
 *
 * The client and the MCP server it starts both append to the same file; each batch is a
 * single write to a file opened with O_APPEND, so lines from the two processes never
 * interleave.
 */
import { appendFile, chmod, mkdir, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { diag } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { encodeTraceRequestJson } from './otlp-json.ts';

export { traceFileSettings, type TraceFileSettings } from './trace-file-settings.ts';
import type { TraceFileSettings } from './trace-file-settings.ts';

export class TraceFileExporter implements SpanExporter {
  private readonly settings: TraceFileSettings;
  private ready: Promise<unknown> | undefined;
  private pending: Promise<void> = Promise.resolve();
  private shut = false;
  private tightened = false;

  constructor(settings: TraceFileSettings) {
    this.settings = settings;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.shut) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('trace file exporter is shut down') });
      return;
    }
    // JsonTraceSerializer's bytes, written directly (otlp-json.ts).
    const line = Buffer.from(`${encodeTraceRequestJson(spans)}\n`);
    this.pending = this.pending
      .then(() => this.append(line))
      .then(
        () => resultCallback({ code: ExportResultCode.SUCCESS }),
        (error: Error) => {
          diag.error(`trace file ${this.settings.path}: ${error.message}`);
          resultCallback({ code: ExportResultCode.FAILED, error });
        },
      );
  }

  private async append(line: Buffer): Promise<void> {
    // Private whatever the umask (0700 directory, 0600 file): spans name users and, with the
    // content opt-in, carry prompts and memories. A file made before this rule is tightened
    // on its first append, and the file a rotation starts is made 0600 too.
    this.ready ??= mkdir(dirname(this.settings.path), { recursive: true, mode: 0o700 });
    await this.ready;
    await appendFile(this.settings.path, line, { mode: 0o600 });
    if (!this.tightened) {
      this.tightened = true;
      await chmod(this.settings.path, 0o600).catch(() => {});
    }
    const { size } = await stat(this.settings.path);
    if (size > this.settings.maxBytes) {
      // Another process may have rotated it first; then there is nothing left to do.
      await rename(this.settings.path, `${this.settings.path}.1`).catch(() => {});
      this.tightened = false;
    }
  }

  async forceFlush(): Promise<void> {
    await this.pending;
  }

  async shutdown(): Promise<void> {
    this.shut = true;
    await this.pending;
  }
}
