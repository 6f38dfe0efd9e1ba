/*
 * Every environment setting Memento reads, with its default, in one place. Flags override
 * these (cli.ts); `memento --help` prints this table.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** A GA api-version of the Azure OpenAI data plane that supports tools and streaming usage. */
export const DEFAULT_API_VERSION = '2024-10-21';

export interface EnvSetting {
  name: string;
  default: string;
  meaning: string;
}

export const ENVIRONMENT: readonly EnvSetting[] = [
  { name: 'AZURE_OPENAI_ENDPOINT', default: 'unset → simulator', meaning: 'Azure OpenAI resource, https://NAME.openai.azure.com' },
  { name: 'AZURE_OPENAI_API_KEY', default: 'unset', meaning: 'Azure OpenAI key (never logged or traced)' },
  { name: 'OPENAI_API_VERSION', default: DEFAULT_API_VERSION, meaning: 'Azure OpenAI api-version' },
  { name: 'AZURE_OPENAI_DEPLOYMENT', default: 'gpt-4o-mini', meaning: 'deployment (model) name' },
  { name: 'OPENAI_BASE_URL', default: 'unset', meaning: 'any OpenAI-compatible endpoint instead of Azure (OpenAI, Ollama, vLLM, Azure v1)' },
  { name: 'OPENAI_API_KEY', default: 'unset', meaning: 'key for OPENAI_BASE_URL' },
  { name: 'MEMENTO_MCP_URL', default: 'unset → own server', meaning: 'MCP server: …/mcp (Streamable HTTP) or …/sse (legacy SSE)' },
  { name: 'MEMENTO_MCP_TOKEN', default: 'unset', meaning: 'bearer token (client sends it; server requires it)' },
  { name: 'MEMENTO_USER', default: '$USER or default', meaning: 'current user' },
  { name: 'MEMENTO_DATA_DIR', default: '$XDG_DATA_HOME/memento or ~/.local/share/memento', meaning: 'server storage root' },
  { name: 'MEMENTO_JAEGER_URL', default: 'http://localhost:16686', meaning: 'Jaeger UI for deep links and `traces --jaeger`' },
  { name: 'MEMENTO_TRACE_FILE', default: '~/.local/state/memento/traces.jsonl', meaning: 'local trace file (`off` disables)' },
  { name: 'MEMENTO_TRACE_FILE_MAX_BYTES', default: '8388608', meaning: 'size at which the trace file rotates to <file>.1' },
  { name: 'MEMENTO_MODEL_TIMEOUT_MS', default: '60000', meaning: 'per model call attempt' },
  { name: 'MEMENTO_MODEL_MAX_RETRIES', default: '3', meaning: 'retries of a model call on 429, 5xx and timeouts (with backoff)' },
  { name: 'MEMENTO_MCP_TIMEOUT_MS', default: '30000', meaning: 'per MCP request' },
  { name: 'MEMENTO_STREAM', default: 'on', meaning: '`off` asks the model for whole answers instead of a token stream' },
  { name: 'MEMENTO_HISTORY_FILE', default: '~/.local/state/memento/chat_history', meaning: 'the REPL\'s line history' },
  { name: 'MEMENTO_SIMULATOR_*', default: 'unset', meaning: 'shape the built-in simulator: see `memento simulator --help`' },
  { name: 'MEMENTO_LOG_LEVEL', default: 'info', meaning: 'debug | info | warn | error | silent (logs go to stderr)' },
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', default: 'http://localhost:4318', meaning: 'OTLP/HTTP collector' },
  { name: 'OTEL_SDK_DISABLED', default: 'false', meaning: '`true` turns tracing and metrics off' },
  { name: 'MEMENTO_TELEMETRY_SHUTDOWN_MS', default: '2500', meaning: 'how long exit waits for a slow collector (none listening: no wait)' },
  { name: 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT', default: 'false', meaning: '`true` records prompts, answers and tool arguments on spans' },
];

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

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

export function modelSettings(env: NodeJS.ProcessEnv = process.env): ModelSettings {
  const deployment = nonEmpty(env.AZURE_OPENAI_DEPLOYMENT) ?? 'gpt-4o-mini';
  const azureEndpoint = nonEmpty(env.AZURE_OPENAI_ENDPOINT);
  if (azureEndpoint) {
    return {
      provider: 'azure',
      deployment,
      endpoint: azureEndpoint,
      apiKey: nonEmpty(env.AZURE_OPENAI_API_KEY),
      apiVersion: nonEmpty(env.OPENAI_API_VERSION) ?? DEFAULT_API_VERSION,
    };
  }
  const baseURL = nonEmpty(env.OPENAI_BASE_URL);
  if (baseURL) {
    return { provider: 'openai', deployment, endpoint: baseURL, apiKey: nonEmpty(env.OPENAI_API_KEY) };
  }
  return { provider: 'simulator', deployment, apiVersion: nonEmpty(env.OPENAI_API_VERSION) ?? DEFAULT_API_VERSION };
}

export interface McpSettings {
  /** Unset: the client starts its own server (`memento serve --stdio`). */
  url?: string;
  token?: string;
}

export function mcpSettings(env: NodeJS.ProcessEnv = process.env): McpSettings {
  return { url: nonEmpty(env.MEMENTO_MCP_URL), token: nonEmpty(env.MEMENTO_MCP_TOKEN) };
}

/** MEMENTO_USER, else $USER, else `default` (as documented: not the account name of a container's root). */
export function defaultUser(env: NodeJS.ProcessEnv = process.env): string {
  return nonEmpty(env.MEMENTO_USER) ?? nonEmpty(env.USER) ?? 'default';
}

/**
 * `$XDG_DATA_HOME/memento`, else `~/.local/share/memento`: the same store whichever folder
 * the chat or `memento serve` is started from.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = nonEmpty(env.XDG_DATA_HOME);
  // The XDG spec: a relative XDG_DATA_HOME is invalid and ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(nonEmpty(env.HOME) ?? homedir(), '.local', 'share');
  return join(base, 'memento');
}

/** The server's storage root: MEMENTO_DATA_DIR, else the user's data directory. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(nonEmpty(env.MEMENTO_DATA_DIR) ?? defaultDataDir(env));
}

export function jaegerUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (nonEmpty(env.MEMENTO_JAEGER_URL) ?? 'http://localhost:16686').replace(/\/+$/, '');
}

/** `$MEMENTO_JAEGER_URL/trace/<traceId>`: the deep link printed after every turn. */
export function jaegerTraceLink(traceId: string, env: NodeJS.ProcessEnv = process.env): string {
  return `${jaegerUrl(env)}/trace/${traceId}`;
}

export function captureContent(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT ?? '').trim().toLowerCase() === 'true';
}
