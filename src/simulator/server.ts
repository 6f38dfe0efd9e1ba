/*
 * The simulator's HTTP side on bare `node:http`: it runs inside every `memento chat` that
 * has no Azure settings and under benchmarks at zero latency, so it must start in a few
 * milliseconds and add nothing per request but the work itself.
 *
 * A request goes: route → api-version → key → body → deployment → injected fault and
 * latency → rules → JSON body or SSE stream. The order is the service's: a bad key is
 * refused before the deployment is looked up, and throttling only meets valid requests.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { log } from '../log.ts';
import { delayFor, FaultPlan, faultName, wait } from './faults.ts';
import {
  answerFor,
  completionBody,
  errors,
  parseChatRequest,
  ruleMessages,
  SIMULATOR_MODEL,
  streamChunks,
  toolChoice,
  toolSpecs,
  type ChatRequest,
  type WireError,
} from './protocol.ts';
import { FLAG_DEFAULTS, SETTINGS, setting } from '../config.ts';
import { respond } from './rules.ts';
import type { RunningSimulator, SimulatorOptions, SimulatorStats } from './types.ts';

export { simulatorOptionsFromEnv } from './env.ts';
export type { RunningSimulator, SimulatorOptions, SimulatorStats } from './types.ts';

const MAX_BODY_BYTES = 8 * 1024 * 1024;
const AZURE_PATH = /^\/openai\/deployments\/([^/]+)\/chat\/completions\/?$/;
const V1_PATHS = new Set(['/v1/chat/completions', '/openai/v1/chat/completions']);
const API_VERSION = /^\d{4}-\d{2}-\d{2}(?:-preview)?$/;
// Informational quota for the x-ratelimit-* headers; the simulator never enforces it.
const QUOTA = { requests: 1_000, tokens: 1_000_000, windowMs: 60_000 };

/** The key a request carries: Azure's `api-key` header, or an OpenAI-style bearer token. */
function presentedKey(req: IncomingMessage): string | undefined {
  const header = req.headers['api-key'];
  if (typeof header === 'string' && header) return header;
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(.+)$/i.exec(auth) : null;
  return m?.[1];
}

/** A malformed %-escape names no deployment that exists; it must not become a 500. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function sameKey(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The body, or undefined once it passed the size limit (the caller answers 413). */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString('utf8');
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const host = options.host ?? FLAG_DEFAULTS.host;
  const random = options.random ?? Math.random;
  const clock = options.now ?? (() => new Date());
  // The defaults of the settings table (config.ts), which `--help` shows: read with no variables set.
  const retryAfterMs = options.retryAfterMs ?? setting(SETTINGS.simRetryAfterMs, {});
  const latencyMs = options.latencyMs ?? setting(SETTINGS.simLatencyMs, {});
  const jitterMs = options.jitterMs ?? setting(SETTINGS.simJitterMs, {});
  const deployments = options.deployments ? new Set(options.deployments) : undefined;
  const plan = new FaultPlan({ sequence: options.faults ?? [], failRate: options.failRate ?? setting(SETTINGS.simFailRate, {}), random });
  const stats: SimulatorStats = { requests: 0, completions: 0, streamed: 0, toolCalls: 0, promptTokens: 0, completionTokens: 0, faults: {}, statuses: {} };
  const quota = { windowStart: Date.now(), requests: 0, tokens: 0 };
  // Aborted on close(), so held requests and pending latency end with the server.
  const closing = new AbortController();

  function commonHeaders(res: ServerResponse, deployment?: string): void {
    const requestId = randomUUID();
    res.setHeader('x-request-id', requestId);
    res.setHeader('apim-request-id', requestId);
    res.setHeader('x-ms-region', 'Local (memento simulator)');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('x-memento-simulator', SIMULATOR_MODEL);
    if (deployment) res.setHeader('x-ms-deployment-name', deployment);
    const now = Date.now();
    if (now - quota.windowStart >= QUOTA.windowMs) Object.assign(quota, { windowStart: now, requests: 0, tokens: 0 });
    res.setHeader('x-ratelimit-limit-requests', String(QUOTA.requests));
    res.setHeader('x-ratelimit-limit-tokens', String(QUOTA.tokens));
    res.setHeader('x-ratelimit-remaining-requests', String(Math.max(0, QUOTA.requests - quota.requests)));
    res.setHeader('x-ratelimit-remaining-tokens', String(Math.max(0, QUOTA.tokens - quota.tokens)));
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
    if (res.destroyed) return;
    const json = JSON.stringify(body);
    res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  }

  const sendError = (res: ServerResponse, e: WireError) => send(res, e.status, e.body, e.headers);

  function stream(res: ServerResponse, chunks: object[]): void {
    stats.statuses[200] = (stats.statuses[200] ?? 0) + 1;
    if (res.destroyed) return;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    // One write: at zero latency the chunks cost no extra syscalls, and the client still parses event by event.
    let out = '';
    for (const c of chunks) out += `data: ${JSON.stringify(c)}\n\n`;
    res.end(`${out}data: [DONE]\n\n`);
  }

  async function complete(req: IncomingMessage, res: ServerResponse, url: URL, signal: AbortSignal): Promise<void> {
    const azure = AZURE_PATH.exec(url.pathname);
    const pathDeployment = azure ? safeDecode(azure[1]!) : undefined;
    commonHeaders(res, pathDeployment);
    if (!azure && !V1_PATHS.has(url.pathname)) {
      if (url.pathname === '/health' && req.method === 'GET') return send(res, 200, { status: 'ok', model: SIMULATOR_MODEL });
      return sendError(res, errors.resourceNotFound());
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return sendError(res, errors.methodNotAllowed());
    }
    const apiVersion = url.searchParams.get('api-version');
    if (azure && !apiVersion) return sendError(res, errors.missingApiVersion());
    // The v1 API takes no version, but accepts "preview"/"latest" and dated ones.
    if (apiVersion && !API_VERSION.test(apiVersion) && !(url.pathname.startsWith('/openai/v1/') && /^(?:preview|latest|v1)$/.test(apiVersion))) {
      return sendError(res, errors.unsupportedApiVersion());
    }

    const key = presentedKey(req);
    if (!key || (options.apiKey !== undefined && !sameKey(key, options.apiKey))) return sendError(res, errors.unauthorized());

    const raw = await readBody(req);
    if (raw === undefined) return sendError(res, errors.tooLarge(MAX_BODY_BYTES));
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return sendError(res, errors.invalidRequest('We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly.)'));
    }
    const parsed = parseChatRequest(body);
    if ('error' in parsed) return sendError(res, parsed.error);
    const request: ChatRequest = parsed.request;
    const deployment = pathDeployment ?? request.model;
    if (!deployment) return sendError(res, errors.invalidRequest("'model' is a required property", 'model'));
    if (deployments && !deployments.has(deployment)) return sendError(res, errors.deploymentNotFound());
    if (!pathDeployment) res.setHeader('x-ms-deployment-name', deployment);

    const fault = plan.next();
    if (fault !== 'ok') stats.faults[faultName(fault)] = (stats.faults[faultName(fault)] ?? 0) + 1;
    if (!(await wait(delayFor(latencyMs, jitterMs, random), signal))) return;
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault === 'timeout' && !(await wait(options.timeoutMs ?? Infinity, signal))) return;
    if (typeof fault === 'object') {
      return sendError(res, fault.status === 429 ? errors.rateLimited(apiVersion ?? 'v1', retryAfterMs) : errors.serverError(fault.status));
    }

    const reply = respond(ruleMessages(request), toolSpecs(request), {
      now: clock(),
      parallel: request.parallel_tool_calls ?? true,
      toolChoice: toolChoice(request),
    });
    const answer = answerFor(request, reply, clock());
    stats.completions++;
    stats.toolCalls += answer.toolCalls.length;
    stats.promptTokens += answer.usage.prompt_tokens;
    stats.completionTokens += answer.usage.completion_tokens;
    quota.requests++;
    quota.tokens += answer.usage.total_tokens;
    if (request.stream) {
      stats.streamed++;
      return stream(res, streamChunks(answer, request.stream_options?.include_usage === true));
    }
    return send(res, 200, completionBody(answer));
  }

  const server = createServer((req, res) => {
    stats.requests++;
    const started = performance.now();
    const gone = new AbortController();
    // 'close' before the answer finished means the client hung up (or close() dropped it).
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
      if (log.enabled('debug')) {
        log.debug('simulator request', { method: req.method, path: req.url?.split('?')[0], status: res.statusCode, ms: Math.round(performance.now() - started) });
      }
    });
    const signal = AbortSignal.any([gone.signal, closing.signal]);
    const url = new URL(req.url ?? '/', 'http://simulator');
    complete(req, res, url, signal).catch((err: unknown) => {
      log.error('simulator request failed', { error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) sendError(res, errors.internal());
      else res.destroy();
    });
  });
  // Longer than a slow tool call, so a turn's summarizing call reuses the intent call's connection.
  server.keepAliveTimeout = 120_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    host,
    port,
    stats,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
