/*
 * `memento traces list | show ID | stats`: per-turn views of the local trace file (the
 * default: it works with no collector) or, with --jaeger URL, of Jaeger's api_v3.
 * Text goes to stdout, notes about the source (skipped lines, how to get traces) to stderr,
 * so `--json` output can always be piped.
 */
import { jaegerTraceLink, SETTINGS } from '../../config.ts';
import { SERVICE_NAME_CLIENT } from '../../telemetry/semconv.ts';
import { traceFileSettings } from '../../telemetry/trace-file-settings.ts';
import { stats, turnSummary } from '../../traces/analysis.ts';
import { readTraceFile } from '../../traces/file.ts';
import { shouldColor } from '../../traces/format.ts';
import { JaegerClient, JaegerError } from '../../traces/jaeger.ts';
import { groupTraces, groupTurns, type Trace, type TraceSpan } from '../../traces/model.ts';
import { renderStats, renderTurnList } from '../../traces/report.ts';
import { renderWaterfall } from '../../traces/waterfall.ts';
import { conversations, findConversation } from '../../traces/conversations.ts';
import { renderConversation, renderConversationList } from '../../traces/conversation-report.ts';
import { ATTR_GEN_AI_CONVERSATION_ID } from '../../telemetry/semconv.ts';
import { CliError, EXIT } from '../errors.ts';

export interface TracesOptions {
  file?: string;
  jaeger?: string;
  json?: boolean;
  limit?: number;
  slow?: number;
  traceId?: string;
  /** `show --conversation ID`, `conversations --conversation ID`: one conversation (a unique prefix will do). */
  conversation?: string;
}

export type TracesView = 'list' | 'show' | 'stats' | 'conversations';

/** How far back a Jaeger search looks: Jaeger needs a window, and a week covers a working session's turns. */
const JAEGER_LOOKBACK_MS = 7 * 24 * 3600 * 1000;
/** Traces asked of Jaeger when no --limit bounds the answer (stats, show by prefix). */
const JAEGER_SEARCH_DEPTH = 1000;
const DEFAULT_SLOW_MS = 2000;

type Source =
  | { kind: 'file'; path: string }
  | { kind: 'jaeger'; url: string; client: JaegerClient }
  | { kind: 'off'; setting: string };

interface Loaded {
  spans: TraceSpan[];
  skippedLines: number;
  /** For --json: where the spans came from. */
  source: Record<string, unknown>;
}

function pickSource(opts: TracesOptions): Source {
  if (opts.jaeger) {
    const url = opts.jaeger.replace(/\/+$/, '');
    if (!/^https?:\/\/[^/]/.test(url)) {
      throw new CliError(`--jaeger needs an http(s) URL such as http://localhost:16686, got "${opts.jaeger}"`, EXIT.usage);
    }
    return { kind: 'jaeger', url, client: new JaegerClient(url) };
  }
  if (opts.file) return { kind: 'file', path: opts.file };
  const settings = traceFileSettings();
  return settings ? { kind: 'file', path: settings.path } : { kind: 'off', setting: process.env[SETTINGS.traceFile.name] ?? '' };
}

function where(source: Source): string {
  if (source.kind === 'file') return source.path;
  if (source.kind === 'jaeger') return `Jaeger at ${source.url}`;
  return 'the trace file (off)';
}

/** What to do when there is nothing to show: say where we looked and how to get turns there. */
async function emptyHint(source: Source): Promise<string> {
  if (source.kind === 'off') {
    return `The trace file is off (MEMENTO_TRACE_FILE=${source.setting}). Read one with --file FILE, or Jaeger with --jaeger URL.`;
  }
  if (source.kind === 'file') {
    return (
      `No turns in ${source.path} yet. Every turn of \`memento ask\` or \`memento chat\` is recorded there, e.g.:\n` +
      `  memento ask "remember that the demo is on Friday"\n` +
      `With a collector running, --jaeger http://localhost:16686 reads turns from Jaeger instead.`
    );
  }
  let known = '';
  try {
    const services = await source.client.services();
    if (!services.includes(SERVICE_NAME_CLIENT)) {
      known = services.length
        ? ` It has never seen ${SERVICE_NAME_CLIENT} (it knows: ${services.join(', ')}).`
        : ' It has no traces at all yet.';
    }
  } catch {
    // The hint is a courtesy; the empty answer already said what matters.
  }
  return (
    `No turns from ${SERVICE_NAME_CLIENT} in Jaeger at ${source.url} in the last ${JAEGER_LOOKBACK_MS / 86_400_000} days.${known}\n` +
    `Turns reach Jaeger through the collector: OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 memento ask "…"`
  );
}

function asCliError(err: unknown): never {
  if (err instanceof CliError) throw err;
  if (err instanceof JaegerError) throw new CliError(err.message, EXIT.failed);
  throw new CliError((err as Error).message ?? String(err), EXIT.failed);
}

/** Spans of the recent turns: the whole file, or Jaeger's newest `depth` client traces. */
async function loadRecent(source: Source, depth: number): Promise<Loaded> {
  try {
    if (source.kind === 'off') return { spans: [], skippedLines: 0, source: { kind: 'off' } };
    if (source.kind === 'file') {
      const file = await readTraceFile(source.path);
      return { spans: file.spans, skippedLines: file.skippedLines, source: { kind: 'file', path: source.path, files: file.files } };
    }
    const now = Date.now();
    const spans = await source.client.findTraces({
      service: SERVICE_NAME_CLIENT,
      startMin: new Date(now - JAEGER_LOOKBACK_MS),
      // A little ahead: the client's clock may run ahead of this machine's.
      startMax: new Date(now + 60_000),
      limit: depth,
    });
    return { spans, skippedLines: 0, source: { kind: 'jaeger', url: source.url } };
  } catch (err) {
    asCliError(err);
  }
}

function noteSkipped(loaded: Loaded, source: Source): void {
  if (loaded.skippedLines > 0) {
    process.stderr.write(
      `memento: skipped ${loaded.skippedLines} line${loaded.skippedLines === 1 ? '' : 's'} of ${where(source)} ` +
        `that ${loaded.skippedLines === 1 ? 'is' : 'are'} not OTLP/JSON (a torn write, or not a trace file)\n`,
    );
  }
}

const printJson = (value: unknown) => process.stdout.write(JSON.stringify(value, null, 2) + '\n');
const terminalWidth = () => (process.stdout.isTTY ? process.stdout.columns : undefined);

async function list(source: Source, opts: TracesOptions): Promise<number> {
  const limit = opts.limit ?? 20;
  const loaded = await loadRecent(source, limit);
  noteSkipped(loaded, source);
  const turns = groupTurns(loaded.spans);
  const shown = turns.slice(0, limit).map((t) => turnSummary(t.spans));
  return printListing(source, opts, loaded, turns.length, shown, 'turn', renderTurnList);
}

/**
 * The newest `shown` of `total` things (turns or conversations) as `--json`, or as a table with
 * a line under it saying how many and from where; a hint on stderr when there are none.
 */
async function printListing<T>(
  source: Source,
  opts: TracesOptions,
  loaded: Loaded,
  total: number,
  shown: T[],
  noun: 'turn' | 'conversation',
  render: (items: T[], options: { color: boolean; width: number | undefined }) => string,
): Promise<number> {
  if (opts.json) {
    printJson({ source: loaded.source, skippedLines: loaded.skippedLines, total, [`${noun}s`]: shown });
  } else if (shown.length) {
    process.stdout.write(render(shown, { color: shouldColor(), width: terminalWidth() }));
    const more = total > shown.length ? ` (newest ${shown.length} of ${total}; --limit N for more)` : '';
    process.stdout.write(`${shown.length} ${noun}${shown.length === 1 ? '' : 's'} from ${where(source)}${more}\n`);
  }
  if (!shown.length) process.stderr.write(`${await emptyHint(source)}\n`);
  return EXIT.ok;
}

async function statsView(source: Source, opts: TracesOptions): Promise<number> {
  const loaded = await loadRecent(source, opts.limit ?? JAEGER_SEARCH_DEPTH);
  noteSkipped(loaded, source);
  const turns = groupTurns(loaded.spans);
  const considered = opts.limit ? turns.slice(0, opts.limit) : turns;
  const result = stats(considered, { slowMs: opts.slow ?? DEFAULT_SLOW_MS });
  if (opts.json) {
    printJson({ source: loaded.source, skippedLines: loaded.skippedLines, ...result });
  } else if (considered.length) {
    process.stdout.write(renderStats(result, { color: shouldColor(), width: terminalWidth() }));
  }
  if (!considered.length) process.stderr.write(`${await emptyHint(source)}\n`);
  return EXIT.ok;
}

const HEX_PREFIX = /^[0-9a-f]{1,32}$/;

/** The one trace whose id starts with `prefix`, from the whole file or Jaeger. */
async function findTrace(source: Source, prefix: string): Promise<{ trace: Trace; loaded: Loaded }> {
  let loaded: Loaded;
  const byId = source.kind === 'jaeger' && prefix.length === 32;
  if (byId) {
    try {
      loaded = { spans: await source.client.getTrace(prefix), skippedLines: 0, source: { kind: 'jaeger', url: source.url } };
    } catch (err) {
      asCliError(err);
    }
  } else {
    loaded = await loadRecent(source, JAEGER_SEARCH_DEPTH);
  }
  noteSkipped(loaded, source);
  const traces = groupTraces(loaded.spans);
  // Asked by full id, Jaeger's empty answer is about that trace, not about Jaeger being empty.
  if (traces.length === 0 && !byId) throw new CliError(await emptyHint(source), EXIT.failed);
  const matches = traces.filter((t) => t.traceId.startsWith(prefix));
  if (matches.length === 0) throw new CliError(`no trace ${prefix} in ${where(source)}`, EXIT.failed);
  if (matches.length > 1) {
    const shown = matches.slice(0, 5).map((t) => `  ${t.traceId}`);
    const more = matches.length > 5 ? [`  … and ${matches.length - 5} more`] : [];
    throw new CliError(
      [`trace id ${prefix} is ambiguous in ${where(source)}: ${matches.length} traces start with it; give more digits:`, ...shown, ...more].join('\n'),
      EXIT.failed,
    );
  }
  return { trace: matches[0]!, loaded };
}

/** A whole conversation id (a UUID) is searched for in Jaeger by attribute; a prefix needs the recent turns. */
const WHOLE_CONVERSATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function loadConversation(source: Source, id: string): Promise<Loaded> {
  if (source.kind !== 'jaeger' || !WHOLE_CONVERSATION_ID.test(id)) return loadRecent(source, JAEGER_SEARCH_DEPTH);
  try {
    const now = Date.now();
    const spans = await source.client.findTraces({
      service: SERVICE_NAME_CLIENT,
      startMin: new Date(now - JAEGER_LOOKBACK_MS),
      startMax: new Date(now + 60_000),
      limit: JAEGER_SEARCH_DEPTH,
      attributes: { [ATTR_GEN_AI_CONVERSATION_ID]: id },
    });
    return { spans, skippedLines: 0, source: { kind: 'jaeger', url: source.url } };
  } catch (err) {
    asCliError(err);
  }
}

async function conversationView(source: Source, opts: TracesOptions): Promise<number> {
  const id = (opts.conversation ?? '').trim();
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) {
    throw new CliError(`"${opts.conversation ?? ''}" is not a conversation id: expected letters, digits, - _ . : (up to 128)`, EXIT.usage);
  }
  const loaded = await loadConversation(source, id);
  noteSkipped(loaded, source);
  const found = findConversation(groupTurns(loaded.spans), id);
  if (found.kind === 'none') {
    throw new CliError(`no conversation ${id} in ${where(source)} (\`memento traces conversations\` lists them)`, EXIT.failed);
  }
  if (found.kind === 'ambiguous') {
    throw new CliError(
      [`conversation id ${id} is ambiguous in ${where(source)}; give more characters:`, ...found.ids.slice(0, 5).map((i) => `  ${i}`)].join('\n'),
      EXIT.failed,
    );
  }
  if (opts.json) {
    printJson({ source: loaded.source, skippedLines: loaded.skippedLines, ...found.conversation });
    return EXIT.ok;
  }
  process.stdout.write(renderConversation(found.conversation, { color: shouldColor(), width: terminalWidth() }));
  return EXIT.ok;
}

async function conversationList(source: Source, opts: TracesOptions): Promise<number> {
  if (opts.conversation) return conversationView(source, opts);
  // --limit counts conversations, not traces: Jaeger is asked for as many turns as for stats.
  const loaded = await loadRecent(source, JAEGER_SEARCH_DEPTH);
  noteSkipped(loaded, source);
  const all = conversations(groupTurns(loaded.spans));
  const shown = all.slice(0, opts.limit ?? 20);
  return printListing(source, opts, loaded, all.length, shown, 'conversation', renderConversationList);
}

async function show(source: Source, opts: TracesOptions): Promise<number> {
  if (opts.conversation !== undefined) {
    if (opts.traceId) throw new CliError('give a trace id or --conversation ID, not both', EXIT.usage);
    return conversationView(source, opts);
  }
  const prefix = (opts.traceId ?? '').trim().toLowerCase();
  if (!HEX_PREFIX.test(prefix)) {
    throw new CliError(`"${opts.traceId ?? ''}" is not a trace id: expected 1 to 32 hex digits`, EXIT.usage);
  }
  const { trace, loaded } = await findTrace(source, prefix);
  const link = source.kind === 'jaeger' ? `${source.url}/trace/${trace.traceId}` : jaegerTraceLink(trace.traceId);
  const isTurn = groupTurns(trace.spans).length > 0;
  if (opts.json) {
    printJson({
      source: loaded.source,
      traceId: trace.traceId,
      jaegerLink: link,
      turn: isTurn ? turnSummary(trace.spans) : null,
      spans: trace.spans,
    });
    return EXIT.ok;
  }
  const width = terminalWidth() ?? 80;
  process.stdout.write(renderWaterfall(trace.spans, { width, color: shouldColor() }));
  process.stdout.write(`jaeger  ${link}\n`);
  return EXIT.ok;
}

export async function traces(view: TracesView, opts: TracesOptions): Promise<number> {
  const source = pickSource(opts);
  switch (view) {
    case 'list':
      return list(source, opts);
    case 'stats':
      return statsView(source, opts);
    case 'show':
      return show(source, opts);
    case 'conversations':
      return conversationList(source, opts);
  }
}
