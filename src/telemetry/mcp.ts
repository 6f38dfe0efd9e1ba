/*
 * MCP spans per the OpenTelemetry MCP semantic conventions (semconv v1.41, docs/gen-ai/mcp.md),
 * made by decorating an MCP SDK Transport rather than patching the SDK: every JSON-RPC
 * message passes through `send` and `onmessage`, on every transport (Streamable HTTP, SSE,
 * stdio), so one small class serves client and server alike.
 *
 * Client side: each outgoing request gets a CLIENT span `{mcp.method.name} {target}` whose
 * context is injected into `params._meta` (MCP SEP-414) and is active while the inner
 * transport sends, so the HTTP POST that carries it (./http-client.ts) is its child and
 * carries the same context in its `traceparent` header.
 *
 * Server side: each incoming request gets a SERVER span whose parent is the context in
 * `params._meta`; the HTTP server span that delivered it, if any, becomes a link (the MCP
 * and HTTP contexts are independent: one HTTP request may carry several MCP messages).
 * The request handler then runs inside the server span, so storage work and logs join it.
 *
 * Both sides end the span when the response with the same id passes the other way, and
 * record the duration histogram of their side.
 *
 * Telemetry must never cost a message: every hook runs guarded (`guarded` below, contrib's
 * `safeExecuteInTheMiddle` idea), so a throw while building attributes, starting or ending a
 * span or recording a metric goes to `diag` and the message is forwarded untraced.
 */
import {
  context,
  createContextKey,
  diag,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, type JSONRPCMessage, type MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { captureContent } from './otel-env.ts';
import { instruments } from './instruments.ts';
import { extractTraceContext, injectTraceContext } from './mcp-context.ts';
import { activeConversation } from './conversation.ts';
import { activePeer } from './peer.ts';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_CLIENT_PORT,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_JSONRPC_REQUEST_ID,
  ATTR_MCP_METHOD_NAME,
  ATTR_MCP_PROTOCOL_VERSION,
  ATTR_MCP_SESSION_ID,
  ATTR_MEMENTO_MCP_SERVER_SPAN,
  ATTR_MEMENTO_RESULT_SIZE,
  ATTR_NETWORK_PROTOCOL_NAME,
  ATTR_NETWORK_TRANSPORT,
  ATTR_RPC_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ERROR_TYPE_VALUE_TOOL_ERROR,
  GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
  SERVER_SPAN_META_KEY,
} from './semconv.ts';
import { VERSION } from '../version.ts';

/**
 * The model's id for the tool call being executed (`call_…`). The agent sets it on the
 * context around `callTool`; the client span records it as `gen_ai.tool.call.id`.
 */
export const TOOL_CALL_ID_KEY = createContextKey('memento.gen_ai.tool.call.id');

export type McpTransportKind = 'http' | 'sse' | 'stdio';

export interface McpTelemetryInfo {
  transport: McpTransportKind;
  /** The server's URL (client side): server.address / server.port. */
  url?: URL;
}

interface Pending {
  span: Span;
  started: number;
  method: string;
  tool: string | undefined;
}

type Message = JSONRPCMessage & {
  id?: string | number;
  method?: string;
  params?: { name?: unknown; arguments?: unknown; _meta?: Record<string, unknown>; protocolVersion?: unknown; requestId?: unknown; reason?: unknown };
  result?: { isError?: unknown; content?: unknown; protocolVersion?: unknown; _meta?: Record<string, unknown> };
  error?: { code: number; message: string };
};

// One tracer per module: before the SDK registers this is the API's proxy, which finds the
// SDK's tracer on first use.
let cachedTracer: Tracer | undefined;
const tracer = (): Tracer => (cachedTracer ??= trace.getTracer('memento-mcp', VERSION));

/** The tool (or prompt) a request is about: the low-cardinality target of its span name. */
function targetOf(msg: Message): string | undefined {
  if ((msg.method === 'tools/call' || msg.method === 'prompts/get') && typeof msg.params?.name === 'string') {
    return msg.params.name;
  }
  return undefined;
}

function firstText(result: Message['result']): string {
  const content = result?.content;
  if (!Array.isArray(content)) return '';
  const block = content.find((c) => c && typeof c === 'object' && (c as { type?: unknown }).type === 'text');
  return block ? String((block as { text?: unknown }).text ?? '') : '';
}

/**
 * The size of a result: the UTF-8 bytes of its text blocks, i.e. what a model reads of it.
 * Counted from the strings as they are; serializing the whole result again to measure it
 * cost as much as the transport's own serialization (issue 15).
 */
function textSize(result: Message['result']): number {
  const content = result?.content;
  if (!Array.isArray(content)) return 0;
  let bytes = 0;
  for (const block of content) {
    const text = (block as { text?: unknown } | null)?.text;
    if (typeof text === 'string') bytes += Buffer.byteLength(text);
  }
  return bytes;
}

/** Runs a telemetry step; a throw goes to `diag` and yields undefined, never into the protocol. */
function guarded<T>(step: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    diag.warn(`memento MCP telemetry: ${step} failed; the message goes on untraced`, err);
    return undefined;
  }
}

class InstrumentedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  private readonly pending = new Map<string | number, Pending>();
  private readonly baseAttributes: Attributes;
  private protocolVersion: string | undefined;
  private readonly capture = captureContent();
  readonly inner: Transport;
  private readonly side: 'client' | 'server';

  constructor(inner: Transport, side: 'client' | 'server', info: McpTelemetryInfo) {
    this.inner = inner;
    this.side = side;
    const network: Attributes =
      info.transport === 'stdio'
        ? { [ATTR_NETWORK_TRANSPORT]: 'pipe' }
        : { [ATTR_NETWORK_TRANSPORT]: 'tcp', [ATTR_NETWORK_PROTOCOL_NAME]: 'http' };
    if (side === 'client' && info.url) {
      network[ATTR_SERVER_ADDRESS] = info.url.hostname.replace(/^\[|\]$/g, '');
      network[ATTR_SERVER_PORT] = Number(info.url.port) || (info.url.protocol === 'https:' ? 443 : 80);
    }
    this.baseAttributes = network;

    inner.onmessage = (message, extra) => this.receive(message as Message, extra);
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => {
      guarded('ending open spans', () => this.endAll('connection_closed'));
      this.onclose?.();
    };
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  setProtocolVersion = (version: string): void => {
    this.protocolVersion = version;
    this.inner.setProtocolVersion?.(version);
  };

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const msg = message as Message;
    if (this.side === 'client' && msg.method !== undefined && msg.id !== undefined) {
      return this.sendRequest(msg, options);
    }
    if (this.side === 'client' && msg.method === 'notifications/cancelled') {
      guarded('recording a cancellation', () => this.cancelled(msg));
    }
    if (this.side === 'server' && msg.method === undefined && msg.id !== undefined) {
      let reported: JSONRPCMessage = message;
      guarded('naming the server span', () => (reported = this.reportServerSpan(msg)));
      guarded('ending a server span', () => this.answered(msg));
      return this.inner.send(reported, options);
    }
    return this.inner.send(message, options);
  }

  /** The attributes both sides know when a request starts. */
  private requestAttributes(msg: Message, tool: string | undefined): Attributes {
    const attributes: Attributes = {
      ...this.baseAttributes,
      [ATTR_MCP_METHOD_NAME]: msg.method,
      [ATTR_JSONRPC_REQUEST_ID]: String(msg.id),
    };
    if (tool !== undefined) attributes[ATTR_GEN_AI_TOOL_NAME] = tool;
    if (msg.method === 'tools/call') {
      attributes[ATTR_GEN_AI_OPERATION_NAME] = GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL;
      if (this.capture) attributes[ATTR_GEN_AI_TOOL_CALL_ARGUMENTS] = JSON.stringify(msg.params?.arguments ?? {});
    }
    if (this.sessionId) attributes[ATTR_MCP_SESSION_ID] = this.sessionId;
    if (this.protocolVersion) attributes[ATTR_MCP_PROTOCOL_VERSION] = this.protocolVersion;
    return attributes;
  }

  private sendRequest(msg: Message, options?: TransportSendOptions): Promise<void> {
    const traced = guarded('starting a client span', () => this.startClientSpan(msg));
    if (!traced) return this.inner.send(msg, options);
    const { id, spanContext, outgoing } = traced;
    return context.with(spanContext, () => this.inner.send(outgoing, options)).catch((error: Error) => {
      guarded('ending a client span', () =>
        this.finish(id, { errorType: error.name === 'AbortError' ? undefined : errorTypeOf(error), message: error.message }),
      );
      throw error;
    });
  }

  /** The CLIENT span of an outgoing request, and the request carrying its context in `_meta`. */
  private startClientSpan(msg: Message): { id: string | number; spanContext: Context; outgoing: JSONRPCMessage } {
    const tool = targetOf(msg);
    const attributes = this.requestAttributes(msg, tool);
    const callId = msg.method === 'tools/call' ? context.active().getValue(TOOL_CALL_ID_KEY) : undefined;
    if (typeof callId === 'string') attributes[ATTR_GEN_AI_TOOL_CALL_ID] = callId;
    // A tools/call span is an execute_tool span, which may carry the conversation.
    const conversationId = msg.method === 'tools/call' ? activeConversation() : undefined;
    if (conversationId) attributes[ATTR_GEN_AI_CONVERSATION_ID] = conversationId;

    const span = tracer().startSpan(tool ? `${msg.method} ${tool}` : String(msg.method), {
      kind: SpanKind.CLIENT,
      attributes,
    });
    const spanContext = trace.setSpan(context.active(), span);
    // SEP-414: the context of this span, so the server's span becomes its child.
    const meta = { ...(msg.params?._meta ?? {}) };
    injectTraceContext(meta, spanContext);
    const outgoing = { ...msg, params: { ...(msg.params ?? {}), _meta: meta } } as JSONRPCMessage;
    const id = msg.id as string | number;
    this.pending.set(id, { span, started: performance.now(), method: String(msg.method), tool });
    return { id, spanContext, outgoing };
  }

  private cancelled(msg: Message): void {
    const id = msg.params?.requestId;
    if (typeof id !== 'string' && typeof id !== 'number') return;
    const reason = String(msg.params?.reason ?? '');
    // The SDK cancels on its own request timeout and when the caller aborts; only the first
    // is a failure ("an abort is not an error"). The notification carries only String(reason):
    // for a timeout that is its McpError, whose text starts with the RequestTimeout code.
    const timedOut = reason.includes(`MCP error ${ErrorCode.RequestTimeout}:`);
    this.finish(id, timedOut ? { errorType: 'timeout', message: reason } : {});
  }

  private receive(msg: Message, extra?: MessageExtraInfo): void {
    if (this.side === 'client') {
      if (msg.method === undefined && msg.id !== undefined) guarded('ending a client span', () => this.answered(msg));
      this.onmessage?.(msg, extra);
      return;
    }
    if (msg.method !== undefined && msg.id !== undefined) {
      const spanContext = guarded('starting a server span', () => this.startServerSpan(msg));
      if (spanContext) context.with(spanContext, () => this.onmessage?.(msg, extra));
      else this.onmessage?.(msg, extra);
      return;
    }
    this.onmessage?.(msg, extra);
  }

  private startServerSpan(msg: Message): Context {
    const parent = extractTraceContext(msg.params?._meta);
    // The ambient context here is the HTTP server span of the request that carried the
    // message (telemetry/http-server.ts), if any: recorded as a link, never as the parent.
    const ambient = trace.getSpanContext(context.active());
    const links: Link[] = ambient && trace.isSpanContextValid(ambient) ? [{ context: ambient }] : [];
    const tool = targetOf(msg);
    if (msg.method === 'initialize' && typeof msg.params?.protocolVersion === 'string') {
      this.protocolVersion ??= msg.params.protocolVersion;
    }
    const attributes = this.requestAttributes(msg, tool);
    const peer = activePeer();
    if (peer) {
      attributes[ATTR_CLIENT_ADDRESS] = peer.address;
      if (peer.port !== undefined) attributes[ATTR_CLIENT_PORT] = peer.port;
    }
    const span = tracer().startSpan(
      tool ? `${msg.method} ${tool}` : String(msg.method),
      { kind: SpanKind.SERVER, attributes, links },
      parent,
    );
    this.pending.set(msg.id as string | number, { span, started: performance.now(), method: String(msg.method), tool });
    return trace.setSpan(parent, span);
  }

  /**
   * Server side: names the span that handled the request in the result's `_meta`, so the
   * client can check that the call joined its trace without waiting for either export.
   */
  private reportServerSpan(msg: Message): JSONRPCMessage {
    const entry = this.pending.get(msg.id as string | number);
    const ctx = entry?.span.spanContext();
    if (!ctx || !trace.isSpanContextValid(ctx) || !msg.result || typeof msg.result !== 'object') return msg;
    const traceparent = `00-${ctx.traceId}-${ctx.spanId}-0${ctx.traceFlags & 1}`;
    return { ...msg, result: { ...msg.result, _meta: { ...(msg.result._meta ?? {}), [SERVER_SPAN_META_KEY]: traceparent } } } as JSONRPCMessage;
  }

  /** Client side: the response to one of our requests arrived. Server side: we answer one. */
  private answered(msg: Message): void {
    if (typeof msg.result?.protocolVersion === 'string') this.protocolVersion = msg.result.protocolVersion;
    const entry = this.pending.get(msg.id as string | number);
    if (!entry) return;
    const reported = this.side === 'client' ? msg.result?._meta?.[SERVER_SPAN_META_KEY] : undefined;
    if (typeof reported === 'string' && TRACEPARENT.test(reported)) entry.span.setAttribute(ATTR_MEMENTO_MCP_SERVER_SPAN, reported);
    // Only for tool results, only when recorded.
    const measure = entry.method === 'tools/call' && entry.span.isRecording();
    this.finish(msg.id as string | number, outcomeOf(msg, this.capture, measure, this.side));
  }

  private finish(id: string | number, outcome: Outcome): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    const { span } = entry;
    try {
      // Known only after initialize, which the first request's span predates.
      if (this.sessionId) span.setAttribute(ATTR_MCP_SESSION_ID, this.sessionId);
      if (this.protocolVersion) span.setAttribute(ATTR_MCP_PROTOCOL_VERSION, this.protocolVersion);
      if (outcome.attributes) span.setAttributes(outcome.attributes);
      if (outcome.errorType) {
        span.setAttribute(ATTR_ERROR_TYPE, outcome.errorType);
        span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.message });
      }
      const metricAttributes: Attributes = {
        [ATTR_MCP_METHOD_NAME]: entry.method,
        [ATTR_NETWORK_TRANSPORT]: this.baseAttributes[ATTR_NETWORK_TRANSPORT],
      };
      if (entry.tool !== undefined) {
        metricAttributes[ATTR_GEN_AI_TOOL_NAME] = entry.tool;
        metricAttributes[ATTR_GEN_AI_OPERATION_NAME] = GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL;
      }
      if (this.protocolVersion) metricAttributes[ATTR_MCP_PROTOCOL_VERSION] = this.protocolVersion;
      if (outcome.errorType) metricAttributes[ATTR_ERROR_TYPE] = outcome.errorType;
      if (outcome.attributes?.[ATTR_RPC_RESPONSE_STATUS_CODE] !== undefined) {
        metricAttributes[ATTR_RPC_RESPONSE_STATUS_CODE] = outcome.attributes[ATTR_RPC_RESPONSE_STATUS_CODE];
      }
      const seconds = (performance.now() - entry.started) / 1000;
      const histogram =
        this.side === 'client' ? instruments().mcpClientOperationDuration : instruments().mcpServerOperationDuration;
      histogram.record(seconds, metricAttributes);
    } finally {
      guarded('ending a span', () => span.end());
    }
  }

  private endAll(errorType: string): void {
    for (const id of [...this.pending.keys()]) this.finish(id, { errorType, message: 'MCP connection closed' });
  }
}

interface Outcome {
  errorType?: string;
  message?: string;
  attributes?: Attributes;
}

/**
 * JSON-RPC codes that mean the caller sent what the receiver could not serve: on a SERVER
 * span they are not errors (mcp.server span, rpc.response.status_code); on a client span
 * every code is.
 *
 * Without the content opt-in a failure's status carries a fixed description: the server's
 * own words (a refused file name, a date, an id) quote the arguments they refuse. The model
 * still reads those words in the tool result; `error.type` says which kind of failure it was.
 */
const CALLER_ERROR_CODES = new Set(['-32700', '-32600', '-32601', '-32602', '-32002']);

function outcomeOf(msg: Message, capture: boolean, measure: boolean, side: 'client' | 'server'): Outcome {
  if (msg.error) {
    const code = String(msg.error.code);
    const attributes = { [ATTR_RPC_RESPONSE_STATUS_CODE]: code };
    if (side === 'server' && CALLER_ERROR_CODES.has(code)) return { attributes };
    const message = capture ? String(msg.error.message ?? '').slice(0, 200) : `JSON-RPC error ${code}`;
    return { errorType: code, message, attributes };
  }
  const attributes: Attributes = {};
  if (measure) attributes[ATTR_MEMENTO_RESULT_SIZE] = textSize(msg.result);
  if (capture) attributes[ATTR_GEN_AI_TOOL_CALL_RESULT] = JSON.stringify(msg.result ?? null);
  if (msg.result?.isError === true) {
    const message = capture ? firstText(msg.result).slice(0, 200) : 'the tool reported an error';
    return { errorType: ERROR_TYPE_VALUE_TOOL_ERROR, message, attributes };
  }
  return { attributes };
}

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

function errorTypeOf(error: Error): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code;
  if (typeof code === 'number') return String(code);
  return error.name && error.name !== 'Error' ? error.name : '_OTHER';
}

/** Wraps a client transport so that every request it sends is an MCP CLIENT span. */
export function instrumentClientTransport<T extends Transport>(transport: T, info: McpTelemetryInfo): Transport & { inner: T } {
  return new InstrumentedTransport(transport, 'client', info) as unknown as Transport & { inner: T };
}

/** Wraps a server transport so that every request it receives is an MCP SERVER span. */
export function instrumentServerTransport<T extends Transport>(transport: T, info: McpTelemetryInfo): Transport & { inner: T } {
  return new InstrumentedTransport(transport, 'server', info) as unknown as Transport & { inner: T };
}
