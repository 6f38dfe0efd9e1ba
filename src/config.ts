/*
 * Every setting Memento reads, in one typed table: name, parser, default, help. The readers
 * (`setting(SETTINGS.x)`), the CLI flags' help and defaults (cli.ts) and `memento --help`'s
 * variable list are all derived from it, so a default is written once. Memento's own variables
 * are parsed here; the standard OTEL_* ones are read through @opentelemetry/core's env helpers
 * (telemetry/otel-env.ts), so they mean exactly what they mean to the SDK.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

type Env = NodeJS.ProcessEnv;

/** A setting is missing or malformed: one line naming the variable, nothing was sent anywhere. */
export class ConfigError extends Error {
  readonly errorType = 'config';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Turns the raw (trimmed, non-empty) text of `name` into a value, or throws a ConfigError. */
export type Parser<T> = (raw: string, name: string) => T;

export interface Setting<T> {
  readonly name: string;
  readonly parse: Parser<T>;
  /** The value when the variable is unset or blank; a function when it depends on other variables. */
  readonly default: T | ((env: Env) => T);
  /** How `--help` shows the default, when `String(default)` would not say it. */
  readonly shown?: string;
  readonly help: string;
}

/** An OTEL_* variable: read by @opentelemetry/core's helper for its kind (telemetry/otel-env.ts). */
export interface OtelSetting<K extends OtelKind = OtelKind, D extends OtelValue[K] | undefined = OtelValue[K] | undefined> {
  readonly name: string;
  readonly otel: K;
  readonly default: D;
  readonly shown?: string;
  readonly help: string;
}
export type OtelKind = 'boolean' | 'number' | 'string' | 'list';
export interface OtelValue {
  boolean: boolean;
  number: number;
  string: string;
  list: string[];
}

// --- parsers ---------------------------------------------------------------------------------

const text: Parser<string> = (raw) => raw;

const TRUE = ['true', 'on', 'yes', '1'];
const FALSE = ['false', 'off', 'no', '0'];

/** The one way Memento reads true/false: true|on|yes|1 and false|off|no|0, any case. */
export const boolean: Parser<boolean> = (raw, name) => {
  const v = raw.toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  throw new ConfigError(`${name} must be true or false (on/off, yes/no, 1/0), got "${raw}".`);
};

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (raw, name) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name} must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}, got "${raw}".`);
    }
    return n;
  };
}

function fraction(raw: string, name: string): number {
  const p = Number(raw);
  if (!Number.isFinite(p) || p < 0 || p > 1) throw new ConfigError(`${name} must be a number from 0 to 1, got "${raw}".`);
  return p;
}

function url(raw: string, name: string): string {
  if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}".`);
  }
  return raw;
}

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw, name) => {
    const v = raw.toLowerCase();
    if ((values as readonly string[]).includes(v)) return v as T;
    throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}".`);
  };
}

const list: Parser<string[]> = (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean);

/** A file path, or a false word (`off`) for none. */
const pathOrOff: Parser<string | undefined> = (raw) => (FALSE.includes(raw.toLowerCase()) ? undefined : resolve(raw));

function redisUrl(raw: string, name: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a URL: expected redis://host:6379.`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConfigError(`${name} must be a redis:// or rediss:// URL, got ${parsed.protocol}//…`);
  }
  return raw;
}

function isoTime(raw: string, name: string): Date {
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) throw new ConfigError(`${name} must be an ISO date-time, got "${raw}".`);
  return at;
}

const ms = integer(0, 3_600_000);

// --- defaults that depend on the environment -------------------------------------------------

/** `$XDG_STATE_HOME/memento`, i.e. `~/.local/state/memento`: the trace file and the REPL history. */
export function stateDir(env: Env = process.env): string {
  return join(env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state'), 'memento');
}

/** $USER, else `default`, as documented (not the account name: in a container that is root). */
function systemUser(env: Env): string {
  return env.USER?.trim() || 'default';
}

/**
 * `$XDG_DATA_HOME/memento`, else `~/.local/share/memento`: the same store whichever folder
 * the chat or `memento serve` is started from.
 */
export function defaultDataDir(env: Env = process.env): string {
  const xdg = env.XDG_DATA_HOME?.trim();
  // The XDG spec: a relative XDG_DATA_HOME is invalid and ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'memento');
}

/** A GA api-version of the Azure OpenAI data plane that supports tools and streaming usage. */
export const DEFAULT_API_VERSION = '2024-10-21';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

const def = <T>(s: Setting<T>): Setting<T> => s;
const otel = <K extends OtelKind, D extends OtelValue[K] | undefined>(s: OtelSetting<K, D>): OtelSetting<K, D> => s;

// --- the table -------------------------------------------------------------------------------

export const SETTINGS = {
  azureEndpoint: def({ name: 'AZURE_OPENAI_ENDPOINT', parse: url, default: undefined, shown: 'unset → simulator', help: 'Azure OpenAI resource, https://NAME.openai.azure.com' }),
  azureApiKey: def({ name: 'AZURE_OPENAI_API_KEY', parse: text, default: undefined, help: 'Azure OpenAI key (never logged or traced)' }),
  apiVersion: def({ name: 'OPENAI_API_VERSION', parse: text, default: DEFAULT_API_VERSION, help: 'Azure OpenAI api-version' }),
  deployment: def({ name: 'AZURE_OPENAI_DEPLOYMENT', parse: text, default: 'gpt-4o-mini', help: 'deployment (model) name' }),
  openaiBaseUrl: def({ name: 'OPENAI_BASE_URL', parse: url, default: undefined, help: 'any OpenAI-compatible endpoint instead of Azure (OpenAI, Ollama, vLLM, Azure v1)' }),
  openaiApiKey: def({ name: 'OPENAI_API_KEY', parse: text, default: undefined, help: 'key for OPENAI_BASE_URL' }),
  mcpUrl: def({ name: 'MEMENTO_MCP_URL', parse: url, default: undefined, shown: 'unset → own server', help: 'MCP server: …/mcp (Streamable HTTP) or …/sse (legacy SSE)' }),
  mcpToken: def({ name: 'MEMENTO_MCP_TOKEN', parse: text, default: undefined, help: 'bearer token (client sends it; server requires it)' }),
  user: def({ name: 'MEMENTO_USER', parse: text, default: systemUser, shown: '$USER or default', help: 'current user' }),
  dataDir: def({ name: 'MEMENTO_DATA_DIR', parse: (raw) => resolve(raw), default: defaultDataDir, shown: '$XDG_DATA_HOME/memento or ~/.local/share/memento', help: 'server storage root' }),
  storeUrl: def({ name: 'MEMENTO_STORE_URL', parse: text, default: undefined, shown: 'unset → data directory', help: 'server storage in PostgreSQL (postgres://…), shared by replicas' }),
  jaegerUrl: def({ name: 'MEMENTO_JAEGER_URL', parse: (raw, name) => url(raw, name).replace(/\/+$/, ''), default: 'http://localhost:16686', help: 'Jaeger UI for deep links and `traces --jaeger`' }),
  traceFile: def({ name: 'MEMENTO_TRACE_FILE', parse: pathOrOff, default: (env) => join(stateDir(env), 'traces.jsonl'), shown: '~/.local/state/memento/traces.jsonl', help: 'local trace file (`off` disables)' }),
  traceFileMaxBytes: def({ name: 'MEMENTO_TRACE_FILE_MAX_BYTES', parse: integer(4096), default: 8 * 1024 * 1024, help: 'size at which the trace file rotates to <file>.1' }),
  modelTimeoutMs: def({ name: 'MEMENTO_MODEL_TIMEOUT_MS', parse: integer(1), default: 60_000, help: "per model call attempt, from the request to the answer's last byte" }),
  modelIdleTimeoutMs: def({ name: 'MEMENTO_MODEL_IDLE_TIMEOUT_MS', parse: integer(1), default: 30_000, help: 'longest silence between chunks of a model answer' }),
  modelMaxAnswerBytes: def({ name: 'MEMENTO_MODEL_MAX_ANSWER_BYTES', parse: integer(1024), default: 32 * 1024 * 1024, help: 'largest model answer (text and tool-call arguments together)' }),
  maxToolCalls: def({ name: 'MEMENTO_MAX_TOOL_CALLS', parse: integer(1), default: 16, help: 'tool calls run per model message; the rest go back to the model as tool errors' }),
  maxToolArgumentBytes: def({ name: 'MEMENTO_MAX_TOOL_ARGUMENT_BYTES', parse: integer(2), default: 8 * 1024 * 1024, help: "largest arguments of one tool call (under the server's request limit)" }),
  maxToolArgumentDepth: def({ name: 'MEMENTO_MAX_TOOL_ARGUMENT_DEPTH', parse: integer(1), default: 64, help: "deepest nesting of one tool call's arguments" }),
  modelMaxRetries: def({ name: 'MEMENTO_MODEL_MAX_RETRIES', parse: integer(0), default: 3, help: 'retries of a model call on 429, 5xx and timeouts (with backoff)' }),
  mcpTimeoutMs: def({ name: 'MEMENTO_MCP_TIMEOUT_MS', parse: integer(1), default: 30_000, help: 'per MCP request' }),
  stream: def({ name: 'MEMENTO_STREAM', parse: boolean, default: true, shown: 'on', help: '`off` asks the model for whole answers instead of a token stream' }),
  historyFile: def({ name: 'MEMENTO_HISTORY_FILE', parse: (raw) => resolve(raw), default: (env) => join(stateDir(env), 'chat_history'), shown: '~/.local/state/memento/chat_history', help: "the REPL's line history" }),
  telemetryShutdownMs: def({ name: 'MEMENTO_TELEMETRY_SHUTDOWN_MS', parse: integer(0), default: 2500, help: 'how long exit waits for a slow collector (none listening: no wait)' }),
  history: def({ name: 'MEMENTO_HISTORY', parse: boolean, default: true, shown: 'on', help: '`off` keeps conversation history in memory only (lost when the process ends)' }),
  historyDir: def({ name: 'MEMENTO_HISTORY_DIR', parse: (raw) => resolve(raw), default: (env) => join(stateDir(env), 'history'), shown: '~/.local/state/memento/history', help: "where each user's conversation is kept, a 0600 file per user" }),
  historyUrl: def({ name: 'MEMENTO_HISTORY_URL', parse: redisUrl, default: undefined, shown: 'unset → a file per user', help: 'shared conversation history: redis://host:6379 (every client pointed there shares it)' }),
  prometheusUrl: def({ name: 'MEMENTO_PROMETHEUS_URL', parse: (raw, name) => url(raw, name).replace(/\/+$/, ''), default: undefined, shown: 'unset → skipped', help: 'Prometheus for `memento doctor` to find the span metrics in' }),
  logLevel: def({ name: 'MEMENTO_LOG_LEVEL', parse: oneOf(LOG_LEVELS), default: 'info' as LogLevel, help: 'debug | info | warn | error | silent (logs go to stderr)' }),

  // The built-in simulator: how a user or a test shapes the one chat/ask start in-process.
  // `memento simulator` reads them too; its flags win.
  simLatencyMs: def({ name: 'MEMENTO_SIMULATOR_LATENCY_MS', parse: ms, default: 0, help: 'simulator: added to every answer (ms)' }),
  simJitterMs: def({ name: 'MEMENTO_SIMULATOR_JITTER_MS', parse: ms, default: 0, help: 'simulator: random extra latency, up to this much (ms)' }),
  simFailRate: def({ name: 'MEMENTO_SIMULATOR_FAIL_RATE', parse: fraction, default: 0, help: 'simulator: share of requests (0-1) answered 429 or 500 at random' }),
  simFaults: def({ name: 'MEMENTO_SIMULATOR_FAULTS', parse: text, default: undefined, help: 'simulator: what happens to the first requests, in order: e.g. 429,500,ok,timeout,reset (429*2 repeats)' }),
  simTimeoutMs: def({ name: 'MEMENTO_SIMULATOR_TIMEOUT_MS', parse: ms, default: undefined, shown: 'until the client gives up', help: 'simulator: how long a "timeout" fault holds a request' }),
  simRetryAfterMs: def({ name: 'MEMENTO_SIMULATOR_RETRY_AFTER_MS', parse: ms, default: 1000, help: 'simulator: the wait a 429 asks for (retry-after-ms; retry-after in seconds)' }),
  simApiKey: def({ name: 'MEMENTO_SIMULATOR_API_KEY', parse: text, default: undefined, shown: 'any key', help: 'simulator: accept only this key, else 401' }),
  simDeployments: def({ name: 'MEMENTO_SIMULATOR_DEPLOYMENTS', parse: list, default: undefined, shown: 'any', help: 'simulator: comma-separated deployments that exist, others 404' }),
  simNow: def({ name: 'MEMENTO_SIMULATOR_NOW', parse: isoTime, default: undefined, shown: 'the clock', help: 'simulator: ISO time the rules take as now, for "yesterday"' }),
} as const;

/** The standard OTEL_* variables Memento reads or relies on (the SDK and exporters read the rest). */
export const OTEL_SETTINGS = {
  endpoint: otel({ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', otel: 'string', default: 'http://localhost:4318', help: 'OTLP/HTTP collector (read by the exporters)' }),
  tracesEndpoint: otel({ name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', otel: 'string', default: undefined, shown: 'unset → <endpoint>/v1/traces', help: 'where spans go, when not to the endpoint above' }),
  metricsEndpoint: otel({ name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', otel: 'string', default: undefined, shown: 'unset → <endpoint>/v1/metrics', help: 'where metrics go, when not to the endpoint above' }),
  sdkDisabled: otel({ name: 'OTEL_SDK_DISABLED', otel: 'boolean', default: false, help: '`true` turns tracing and metrics off' }),
  captureContent: otel({ name: 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT', otel: 'boolean', default: false, help: '`true` records prompts, answers and tool arguments on spans' }),
  serviceName: otel({ name: 'OTEL_SERVICE_NAME', otel: 'string', default: undefined, shown: 'memento-client / memento-mcp-server', help: 'service name of this process' }),
  logLevel: otel({ name: 'OTEL_LOG_LEVEL', otel: 'string', default: undefined, shown: 'error', help: "the SDK's own diagnostics on stderr" }),
  tracesExporter: otel({ name: 'OTEL_TRACES_EXPORTER', otel: 'list', default: ['otlp'], shown: 'otlp', help: '`none` sends no spans over OTLP (the trace file still gets them)' }),
  metricsExporter: otel({ name: 'OTEL_METRICS_EXPORTER', otel: 'list', default: ['otlp'], shown: 'otlp', help: '`none` sends no metrics' }),
  metricInterval: otel({ name: 'OTEL_METRIC_EXPORT_INTERVAL', otel: 'number', default: 60_000, help: 'ms between metric exports' }),
  metricTimeout: otel({ name: 'OTEL_METRIC_EXPORT_TIMEOUT', otel: 'number', default: 30_000, help: 'ms a metric export may take' }),
  semconvOptIn: otel({ name: 'OTEL_SEMCONV_STABILITY_OPT_IN', otel: 'list', default: [], shown: 'unset → v1.41 names', help: '`gen_ai_latest_experimental` emits the newest GenAI names (semantic-conventions-genai)' }),
  bspDelay: otel({ name: 'OTEL_BSP_SCHEDULE_DELAY', otel: 'number', default: 1000, help: 'ms between span batches' }),
  // Larger than the SDK's 2048: the processor drops spans silently when it overflows, and a
  // burst of parallel turns must not lose any.
  bspQueue: otel({ name: 'OTEL_BSP_MAX_QUEUE_SIZE', otel: 'number', default: 16_384, help: 'spans queued for export before any are dropped' }),
  bspBatch: otel({ name: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', otel: 'number', default: 512, help: 'spans per export' }),
  bspTimeout: otel({ name: 'OTEL_BSP_EXPORT_TIMEOUT', otel: 'number', default: 10_000, help: 'ms a span export may take' }),
} as const;

/** Values of flags that have no variable, shared by cli.ts and the code that runs without it. */
export const FLAG_DEFAULTS = {
  host: '127.0.0.1',
  servePort: 8000,
  sessionTimeoutS: 1800,
  maxSessions: 1000,
  maxContentBytes: 4 * 1024 * 1024,
  simulatorPort: 8011,
  tracesLimit: 20,
  slowMs: 2000,
} as const;

/** The value of `s` in `env`: parsed when set, its default when unset or blank. Throws a ConfigError. */
export function setting<T>(s: Setting<T>, env: Env = process.env): T {
  const raw = env[s.name]?.trim();
  if (raw) return s.parse(raw, s.name);
  return typeof s.default === 'function' ? (s.default as (env: Env) => T)(env) : s.default;
}

/** How `--help` shows a setting's default. */
export function shownDefault(s: Setting<unknown> | OtelSetting): string {
  if (s.shown !== undefined) return s.shown;
  if (s.default === undefined) return 'unset';
  if (typeof s.default === 'function') return '';
  return Array.isArray(s.default) ? s.default.join(',') : String(s.default);
}

/** `[NAME or default]`: the tail of a flag's help when a variable backs the flag. */
export function backedBy(s: Setting<unknown>): string {
  const shown = shownDefault(s);
  return shown === 'unset' ? `[${s.name}]` : `[${s.name} or ${shown}]`;
}

/** Every variable, in the order `memento --help` lists them. */
export function environment(): { name: string; help: string; shown: string }[] {
  return [...Object.values(SETTINGS), ...Object.values(OTEL_SETTINGS)].map((s) => ({
    name: s.name,
    help: s.help,
    shown: shownDefault(s),
  }));
}

// --- what the client and server read ---------------------------------------------------------

/**
 * What one model answer may cost the client (a hostile endpoint), from the table above. The
 * argument bound sits under the server's own request limit (2 × its 4 MiB content limit +
 * 1 MiB), so what the client sends fits; the answer bound is above it, so an oversized
 * argument is refused as a tool error the model reads rather than ending the turn.
 */
export const DEFAULT_BOUNDS = {
  modelIdleTimeoutMs: setting(SETTINGS.modelIdleTimeoutMs, {}),
  maxAnswerBytes: setting(SETTINGS.modelMaxAnswerBytes, {}),
  maxToolCalls: setting(SETTINGS.maxToolCalls, {}),
  maxArgumentBytes: setting(SETTINGS.maxToolArgumentBytes, {}),
  maxArgumentDepth: setting(SETTINGS.maxToolArgumentDepth, {}),
} as const;

export type Provider = 'azure' | 'openai' | 'simulator';

export interface ModelSettings {
  provider: Provider;
  /** Deployment (Azure) or model name. */
  deployment: string;
  /** Azure resource endpoint, or the OpenAI-compatible base URL. Unset for the simulator. */
  endpoint?: string;
  apiKey?: string;
  apiVersion?: string;
}

export function modelSettings(env: Env = process.env): ModelSettings {
  const deployment = setting(SETTINGS.deployment, env);
  const azureEndpoint = setting(SETTINGS.azureEndpoint, env);
  if (azureEndpoint) {
    return {
      provider: 'azure',
      deployment,
      endpoint: azureEndpoint,
      apiKey: setting(SETTINGS.azureApiKey, env),
      apiVersion: setting(SETTINGS.apiVersion, env),
    };
  }
  const baseURL = setting(SETTINGS.openaiBaseUrl, env);
  if (baseURL) return { provider: 'openai', deployment, endpoint: baseURL, apiKey: setting(SETTINGS.openaiApiKey, env) };
  return { provider: 'simulator', deployment, apiVersion: setting(SETTINGS.apiVersion, env) };
}

export interface McpSettings {
  /** Unset: the client starts its own server (`memento serve --stdio`). */
  url?: string;
  token?: string;
}

export function mcpSettings(env: Env = process.env): McpSettings {
  return { url: setting(SETTINGS.mcpUrl, env), token: setting(SETTINGS.mcpToken, env) };
}

export function defaultUser(env: Env = process.env): string {
  return setting(SETTINGS.user, env);
}

export function dataDir(env: Env = process.env): string {
  return setting(SETTINGS.dataDir, env);
}

/** MEMENTO_STORE_URL: the PostgreSQL store, or undefined for the data directory. */
export function storeUrl(env: Env = process.env): string | undefined {
  return setting(SETTINGS.storeUrl, env);
}

export function jaegerUrl(env: Env = process.env): string {
  return setting(SETTINGS.jaegerUrl, env);
}

/** `$MEMENTO_JAEGER_URL/trace/<traceId>`: the deep link printed after every turn. */
export function jaegerTraceLink(traceId: string, env: Env = process.env): string {
  return `${jaegerUrl(env)}/trace/${traceId}`;
}
