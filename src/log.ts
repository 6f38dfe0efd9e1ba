/*
 * Logs: one line each on stderr, never on stdout (answers, `--json` output and stdio MCP
 * traffic own stdout). Each line carries the active trace_id/span_id so it leads to its trace,
 * and every value is passed through `redact`, which removes registered secrets whatever
 * route they took into a message.
 */
import { trace } from '@opentelemetry/api';
import { format } from 'node:util';
import { SETTINGS, setting, type LogLevel } from './config.ts';
import { forTerminal } from './terminal.ts';

export type { LogLevel } from './config.ts';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

const secrets = new Set<string>();

/** Registers a value (API key, bearer token) that must never be printed. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) {
    secrets.add(value);
    // As it appears inside a URL, too.
    const encoded = encodeURIComponent(value);
    if (encoded !== value) secrets.add(encoded);
  }
}

/**
 * Query parameters whose values are credentials: api-key, token, key, sig, password and their
 * kin; in a URL, or at the start of a bare query string (the url.query attribute).
 */
const SECRET_PARAM = /((?:^|[?&;])[\w.~%-]*?(?:key|token|sig|signature|password|passwd|pwd|secret|credential|auth)=)[^&#\s"'<>]*/gi;
/** The words SECRET_PARAM looks for right before a `=`. */
const PARAM_WORDS = ['key', 'token', 'sig', 'signature', 'password', 'passwd', 'pwd', 'secret', 'credential', 'auth'];
const LONGEST_PARAM_WORD = Math.max(...PARAM_WORDS.map((w) => w.length));

/**
 * Whether SECRET_PARAM can match: some `=` follows one of its words. A plain scan instead of
 * the regex, whose lazy name part is tried at every position: every span of a call to Azure
 * carries `?api-version=…` in url.full and url.query, and most strings have no `=` at all.
 */
function mayHoldSecretParam(text: string): boolean {
  for (let i = text.indexOf('='); i !== -1; i = text.indexOf('=', i + 1)) {
    const before = text.slice(Math.max(0, i - LONGEST_PARAM_WORD), i).toLowerCase();
    for (const word of PARAM_WORDS) if (before.endsWith(word)) return true;
  }
  return false;
}

/** The userinfo of a URL: scheme://user:password@host. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;

/** Registers the credentials a URL carries (user:password@, secret query parameters). */
export function registerUrlSecrets(url: string | undefined): void {
  if (!url) return;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return;
  }
  registerSecret(decodeURIComponent(u.username));
  registerSecret(decodeURIComponent(u.password));
  for (const [name, value] of u.searchParams) {
    if (new RegExp(SECRET_PARAM.source, 'i').test(`${name}=x`)) registerSecret(value);
  }
}

/**
 * `text` with every registered secret, every URL userinfo and every secret-looking query
 * parameter value replaced by `[REDACTED]`: what every exit (logs, terminal, spans) passes through.
 */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  if (out.includes('@')) out = out.replace(USERINFO, '$1[REDACTED]@');
  if (mayHoldSecretParam(out)) out = out.replace(SECRET_PARAM, '$1[REDACTED]');
  return out;
}

function levelFromEnv(): LogLevel {
  try {
    return setting(SETTINGS.logLevel);
  } catch (err) {
    // Read when this module loads: a typo must cost the log level, not the command.
    process.stderr.write(`memento: ${(err as Error).message} Logging at info.\n`);
    return 'info';
  }
}

let threshold = ORDER[levelFromEnv()];
let sink: (line: string) => void = (line) => process.stderr.write(line);

export function setLogLevel(level: LogLevel): void {
  threshold = ORDER[level];
}

/** Redirects log lines (tests, or the REPL that must not tear its prompt). */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

/** Writes an already formatted line (a child process's log) through the same sink. */
export function writeLogLine(line: string): void {
  try {
    sink(forTerminal(redact(line)));
  } catch {
    // See emit().
  }
}

function quote(value: unknown): string {
  const s = typeof value === 'string' ? value : value instanceof Error ? value.message : format('%o', value);
  return /[\s="]/.test(s) || s === '' ? JSON.stringify(s) : s;
}

function emit(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (ORDER[level] < threshold) return;
  let line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}`;
  if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${quote(v)}`;
  const ctx = trace.getActiveSpan()?.spanContext();
  if (ctx && ctx.traceId !== '00000000000000000000000000000000') line += ` trace_id=${ctx.traceId} span_id=${ctx.spanId}`;
  try {
    sink(forTerminal(redact(line)) + '\n');
  } catch {
    // stderr closed (the parent went away): logging must never take the process down.
  }
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => emit('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => emit('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => emit('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => emit('error', msg, fields),
  enabled: (level: LogLevel) => ORDER[level] >= threshold,
};
