/*
 * What a turn looks like in the terminal: a spinner on stderr while Memento waits (only on a
 * terminal: scripts get clean output), the answer streamed to stdout as it arrives, and a
 * footer with the trace id, the Jaeger link and where the time went.
 */
import pc from 'picocolors';
import yoctoSpinner, { type Spinner } from 'yocto-spinner';
import { jaegerTraceLink, type Provider } from '../config.ts';
import type { TurnResult, TurnStatus } from '../client/agent.ts';
import { telemetry } from '../telemetry/handle.ts';
import { traceFileSettings } from '../telemetry/trace-file-settings.ts';
import type { Exchange } from '../client/http.ts';
import { redact } from '../log.ts';
import { forTerminal } from '../terminal.ts';

export function seconds(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function bytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} kB` : `${n} B`;
}

function statusText(status: TurnStatus): string {
  switch (status.kind) {
    case 'connecting':
      return 'connecting to the MCP server…';
    case 'thinking':
      return 'asking the model…';
    case 'tools':
      return `running ${status.names.join(', ')}…`;
    case 'answering':
      return 'writing the answer…';
  }
}

/** Redacted, then made safe for a terminal: what every person-facing line goes through. */
export function forPerson(text: string): string {
  return forTerminal(redact(text));
}

/**
 * Streamed text for a person, a piece at a time. A secret (or a URL with credentials) may
 * arrive split across pieces, so the current word is held back until whitespace ends it
 * (or it grows past `maxWord`), and only whole words are redacted and written.
 */
export class PersonStream {
  private held = '';
  private readonly write: (text: string) => void;
  private readonly maxWord: number;

  constructor(write: (text: string) => void, maxWord = 4096) {
    this.write = write;
    this.maxWord = maxWord;
  }

  push(piece: string): void {
    const text = this.held + piece;
    let cut = Math.max(text.lastIndexOf(' '), text.lastIndexOf('\n'), text.lastIndexOf('\t')) + 1;
    if (text.length - cut > this.maxWord) cut = text.length;
    this.held = text.slice(cut);
    if (cut > 0) this.write(forPerson(text.slice(0, cut)));
  }

  /** Writes whatever is held (the end of the answer). */
  flush(): void {
    if (this.held) this.write(forPerson(this.held));
    this.held = '';
  }
}

/** Renders one turn as it happens. */
export class TurnView {
  private spinner: Spinner | undefined;
  private streamed = false;
  private readonly out: NodeJS.WriteStream;
  private readonly answer: PersonStream;
  private readonly interactive: boolean;

  constructor(out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr) {
    this.out = out;
    this.answer = new PersonStream((text) => this.out.write(text));
    this.interactive = Boolean(err.isTTY) && !('CI' in process.env);
    if (this.interactive) {
      this.spinner = yoctoSpinner({ text: 'thinking…', stream: err, handleSignals: false }).start();
    }
  }

  status = (status: TurnStatus): void => {
    if (this.spinner && !this.streamed) this.spinner.text = statusText(status);
  };

  text = (delta: string): void => {
    if (!this.streamed) {
      this.spinner?.stop();
      this.spinner = undefined;
      this.streamed = true;
    }
    this.answer.push(delta);
  };

  /** Stops the spinner; ends the streamed answer with a newline. */
  finish(result: TurnResult): void {
    this.spinner?.stop();
    this.spinner = undefined;
    if (this.streamed) {
      this.answer.flush();
      this.out.write('\n');
    } else if (result.ok && result.answer) {
      this.out.write(`${forPerson(result.answer)}\n`);
    }
  }

  /** Pauses the spinner so another line (a --traffic line) can be printed cleanly. */
  around(write: () => void): void {
    if (this.spinner) {
      this.spinner.clear();
      write();
      this.spinner.start();
    } else {
      write();
    }
  }
}

/** What the footer calls the model's share of the time: the service that was actually used. */
export const MODEL_LABEL: Record<Provider, string> = { azure: 'Azure', openai: 'model', simulator: 'simulator' };

/**
 * Where to read a turn's trace: Jaeger's page when a collector takes the spans, else the
 * command that draws it from the local trace file, else nowhere.
 */
export function traceLocation(traceId: string): string | undefined {
  if (telemetry().collectorReachable()) return jaegerTraceLink(traceId);
  if (traceFileSettings()) return `memento traces show ${traceId.slice(0, 8)}`;
  return undefined;
}

/** Joins `parts` with `separator`, starting a new line where the next part would pass `width`. */
function wrap(parts: string[], separator: string, width: number): string[] {
  const lines: string[] = [];
  for (const part of parts) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + separator.length + part.length <= width) lines[lines.length - 1] = last + separator + part;
    else lines.push(part);
  }
  return lines;
}

/**
 * The lines printed after a turn: the trace id and where to read it, then the split of its
 * time, each within `width` columns (80 unless the terminal is narrower).
 */
export function footer(result: TurnResult, provider: Provider, width = Math.min(80, process.stdout.columns || 80)): string {
  const lines: string[] = [];
  if (result.traceId) lines.push(...wrap([`trace ${result.traceId}`, traceLocation(result.traceId) ?? ''].filter(Boolean), '  ', width));
  const p = result.phases;
  const calls = `${result.chatCalls} model call${result.chatCalls === 1 ? '' : 's'}, ${result.toolCalls} tool call${result.toolCalls === 1 ? '' : 's'}`;
  const split = [
    `${seconds(result.durationMs)}: ${MODEL_LABEL[provider]} ${seconds(p.azureMs)}`,
    `MCP ${seconds(p.mcpMs)}`,
    `client ${seconds(p.clientMs)}`,
    ...(result.firstTokenMs !== undefined ? [`first token ${seconds(result.firstTokenMs)}`] : []),
    calls,
  ];
  lines.push(...wrap(split, ' · ', width).map((l) => pc.dim(l)));
  for (const p of result.selfCheck?.problems ?? []) lines.push(pc.yellow(`⚠ trace: ${p.missing} — ${p.cause}`));
  return lines.join('\n');
}

/** One `--traffic` line per completed HTTP exchange, like watching the wire. */
export function trafficLine(e: Exchange): string {
  const service = e.service === 'AZURE_OPENAI' ? pc.magenta(e.service) : pc.cyan(e.service);
  const failed = e.status === undefined || e.status === 'error' || (typeof e.status === 'number' && e.status >= 400);
  const status = e.status === undefined ? pc.red(forPerson(e.error ?? 'failed')) : failed ? pc.red(String(e.status)) : pc.green(String(e.status));
  return `${pc.dim('⇄')} ${service} ${e.method} ${forPerson(e.target)} ${status} ${seconds(e.durationMs)} ${pc.dim(`↑${bytes(e.bytesSent)} ↓${bytes(e.bytesReceived)}`)}`;
}
