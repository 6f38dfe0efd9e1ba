/*
 * The simulator's public shapes: how to start it and what a running one offers.
 */
import type { Fault } from './faults.ts';

export interface SimulatorOptions {
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** Added before every chat-completion answer, errors included. Default 0. */
  latencyMs?: number;
  /** Random extra latency, up to this much. Default 0. */
  jitterMs?: number;
  /** After `faults`, the share of requests (0–1) answered 429 or 500 at random. Default 0. */
  failRate?: number;
  /** What happens to the first requests, in order: ok, an HTTP status, timeout, reset. */
  faults?: readonly Fault[];
  /** How long a "timeout" fault holds the request before answering; unset: until the client gives up. */
  timeoutMs?: number;
  /** The wait a 429 asks for (`retry-after-ms`, and `retry-after` in whole seconds). Default 1000. */
  retryAfterMs?: number;
  /** When set, only this key is accepted (Azure `api-key` header or `Authorization: Bearer`); otherwise any. */
  apiKey?: string;
  /** When set, only these deployments (or /v1 models) exist; others get 404 DeploymentNotFound. */
  deployments?: readonly string[];
  /** The clock the rules read ("yesterday"); default the real one. */
  now?: () => Date;
  /** Randomness for jitter and the fail rate; default Math.random. */
  random?: () => number;
}

/** Counters since start; a live object, read it at any time. */
export interface SimulatorStats {
  /** Every HTTP request received. */
  requests: number;
  /** Chat completions answered normally (streamed or not). */
  completions: number;
  /** Of those, how many were streamed. */
  streamed: number;
  /** Tool calls handed out. */
  toolCalls: number;
  promptTokens: number;
  completionTokens: number;
  /** Injected faults by kind ("429", "500", "timeout", "reset"). */
  faults: Record<string, number>;
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
}

export interface RunningSimulator {
  /** Base URL, e.g. http://127.0.0.1:43121: the Azure endpoint (`AZURE_OPENAI_ENDPOINT`), and `${url}/v1` for OpenAI clients. */
  url: string;
  host: string;
  port: number;
  stats: Readonly<SimulatorStats>;
  /** Stops listening, drops open connections (held "timeout" requests too) and resolves when closed. */
  close(): Promise<void>;
}
