/*
 * Turns built from real SDK spans with chosen times, written to a trace file by the real
 * TraceFileExporter: the exact bytes `memento ask` leaves behind, with numbers a test can
 * work out by hand. The MCP server's spans come from a second provider with its own
 * resource, as they do from the server process.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemorySpanExporter,
  RandomIdGenerator,
  SimpleSpanProcessor,
  TracerProvider,
  type IdGenerator,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import {
  AGENT_NAME,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_MEMENTO_MCP_SERVER_SPAN,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_MCP_METHOD_NAME,
  ATTR_MEMENTO_PHASE,
  ATTR_MEMENTO_TURN_NUMBER,
  ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN,
  ATTR_MEMENTO_USER_ID,
  ATTR_SERVICE_NAME,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
  GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
  SERVICE_NAME_CLIENT,
  SERVICE_NAME_SERVER,
} from '../../src/telemetry/semconv.ts';
import { TraceFileExporter } from '../../src/telemetry/trace-file.ts';
import { spansFromReadableSpans, type TraceSpan } from '../../src/traces/model.ts';

/** 2023-11-14T22:13:20Z: a fixed epoch so times in assertions are plain numbers. */
export const T0 = 1_700_000_000_000;

export interface ChatSpec {
  phase: 'intent' | 'summarize';
  /** Start, ms after the turn's start. */
  at: number;
  ms: number;
  input?: number;
  output?: number;
  /** HTTP status of each attempt; the attempts share the chat span's time equally. */
  http?: number[];
  errorType?: string;
}

export interface ToolSpec {
  tool: string;
  at: number;
  ms: number;
  /** The MCP server's span, times on the server's own clock, ms after the turn's start. */
  server?: { at: number; ms: number };
  errorType?: string;
  /** An MCP request other than tools/call (initialize, tools/list). */
  method?: string;
  /** gen_ai.tool.call.id: the model's id for the call. */
  callId?: string;
  /** memento.mcp.server_span: the server span the server named in its result's _meta. */
  reportedServerSpan?: string;
}

export interface TurnSpec {
  /** 32 hex digits; random when absent. */
  traceId?: string;
  /** Epoch ms. */
  startMs: number;
  ms: number;
  user?: string;
  turn?: number;
  chats?: ChatSpec[];
  tools?: ToolSpec[];
  errorType?: string;
  /** gen_ai.conversation.id, on the root, the chat and the tools/call spans as the client sets it. */
  conversationId?: string;
  /** Time to the first answer token, ms after the turn's start (memento.turn.time_to_answer_start). */
  firstTokenMs?: number;
}

export interface BuiltTurn {
  traceId: string;
  client: ReadableSpan[];
  server: ReadableSpan[];
}

/** Random ids, except the next trace id when a test chose it. */
class ChosenIds implements IdGenerator {
  next: string | undefined;
  private readonly random = new RandomIdGenerator();

  generateTraceId(): string {
    const id = this.next ?? this.random.generateTraceId();
    this.next = undefined;
    return id;
  }

  generateSpanId(): string {
    return this.random.generateSpanId();
  }
}

function provider(service: string, ids: ChosenIds) {
  const exporter = new InMemorySpanExporter();
  const tp = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: service }),
    idGenerator: ids,
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  return { tracer: tp.getTracer('memento-test'), exporter, tp };
}

const under = (span: Span) => trace.setSpan(ROOT_CONTEXT, span);

/** One turn as the client and the MCP server would record it. */
export async function buildTurn(spec: TurnSpec): Promise<BuiltTurn> {
  const ids = new ChosenIds();
  ids.next = spec.traceId;
  const client = provider(SERVICE_NAME_CLIENT, ids);
  const server = provider(SERVICE_NAME_SERVER, new ChosenIds());
  const t = (offset: number) => spec.startMs + offset;
  const conversation = spec.conversationId ? { [ATTR_GEN_AI_CONVERSATION_ID]: spec.conversationId } : {};

  const root = client.tracer.startSpan(`invoke_agent ${AGENT_NAME}`, {
    kind: SpanKind.INTERNAL,
    startTime: t(0),
    attributes: {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
      [ATTR_GEN_AI_AGENT_NAME]: AGENT_NAME,
      ...(spec.user ? { [ATTR_MEMENTO_USER_ID]: spec.user } : {}),
      ...(spec.turn !== undefined ? { [ATTR_MEMENTO_TURN_NUMBER]: spec.turn } : {}),
      ...conversation,
      ...(spec.firstTokenMs !== undefined ? { [ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN]: spec.firstTokenMs / 1000 } : {}),
    },
  });
  for (const chat of spec.chats ?? []) {
    const span = client.tracer.startSpan(
      'chat gpt-4o-mini',
      {
        kind: SpanKind.CLIENT,
        startTime: t(chat.at),
        attributes: {
          [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_CHAT,
          [ATTR_GEN_AI_REQUEST_MODEL]: 'gpt-4o-mini',
          [ATTR_MEMENTO_PHASE]: chat.phase,
          ...conversation,
          ...(chat.input !== undefined ? { [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: chat.input } : {}),
          ...(chat.output !== undefined ? { [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: chat.output } : {}),
        },
      },
      under(root),
    );
    const attempts = chat.http ?? [200];
    attempts.forEach((status, i) => {
      const each = chat.ms / attempts.length;
      const http = client.tracer.startSpan(
        'POST',
        { kind: SpanKind.CLIENT, startTime: t(chat.at + i * each), attributes: { 'http.response.status_code': status } },
        under(span),
      );
      if (status >= 400) {
        http.setAttribute(ATTR_ERROR_TYPE, String(status));
        http.setStatus({ code: SpanStatusCode.ERROR });
      }
      http.end(t(chat.at + (i + 1) * each));
    });
    if (chat.errorType) {
      span.setAttribute(ATTR_ERROR_TYPE, chat.errorType);
      span.setStatus({ code: SpanStatusCode.ERROR, message: chat.errorType });
    }
    span.end(t(chat.at + chat.ms));
  }
  for (const tool of spec.tools ?? []) {
    const method = tool.method ?? 'tools/call';
    const attributes = {
      [ATTR_MCP_METHOD_NAME]: method,
      ...(method === 'tools/call'
        ? { [ATTR_GEN_AI_TOOL_NAME]: tool.tool, [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL }
        : {}),
    };
    const name = method === 'tools/call' ? `${method} ${tool.tool}` : method;
    const span = client.tracer.startSpan(
      name,
      {
        kind: SpanKind.CLIENT,
        startTime: t(tool.at),
        attributes: {
          ...attributes,
          ...(method === 'tools/call' ? conversation : {}),
          ...(tool.callId ? { [ATTR_GEN_AI_TOOL_CALL_ID]: tool.callId } : {}),
          ...(tool.reportedServerSpan ? { [ATTR_MEMENTO_MCP_SERVER_SPAN]: tool.reportedServerSpan } : {}),
        },
      },
      under(root),
    );
    if (tool.server) {
      const s = server.tracer.startSpan(name, { kind: SpanKind.SERVER, startTime: t(tool.server.at), attributes }, under(span));
      if (tool.errorType) s.setAttribute(ATTR_ERROR_TYPE, tool.errorType);
      s.end(t(tool.server.at + tool.server.ms));
    }
    if (tool.errorType) {
      span.setAttribute(ATTR_ERROR_TYPE, tool.errorType);
      span.setStatus({ code: SpanStatusCode.ERROR, message: tool.errorType });
    }
    span.end(t(tool.at + tool.ms));
  }
  if (spec.errorType) {
    root.setAttribute(ATTR_ERROR_TYPE, spec.errorType);
    root.setStatus({ code: SpanStatusCode.ERROR, message: spec.errorType });
  }
  root.end(t(spec.ms));

  await Promise.all([client.tp.forceFlush(), server.tp.forceFlush()]);
  return {
    traceId: root.spanContext().traceId,
    client: client.exporter.getFinishedSpans(),
    server: server.exporter.getFinishedSpans(),
  };
}

/** One turn's spans, client and server, as the trace views see them. */
export async function spansOf(spec: TurnSpec): Promise<TraceSpan[]> {
  const turn = await buildTurn(spec);
  return spansFromReadableSpans([...turn.client, ...turn.server]);
}

/**
 * Appends batches to `path` through the real TraceFileExporter, one line each; the client's
 * and the server's spans of a turn go in separate batches, as the two processes write them.
 */
export async function writeTraceFile(
  path: string,
  turns: readonly BuiltTurn[],
  maxBytes = 64 * 1024 * 1024,
): Promise<void> {
  const exporter = new TraceFileExporter({ path, maxBytes });
  for (const turn of turns) {
    for (const batch of [turn.client, turn.server]) {
      if (batch.length === 0) continue;
      await new Promise<void>((resolve, reject) =>
        exporter.export(batch, (r) => (r.error ? reject(r.error) : resolve())),
      );
    }
  }
  await exporter.shutdown();
}

/** The OTLP/JSON line the exporter writes for these spans, as an object. */
export function otlpBody(spans: readonly ReadableSpan[]): { resourceSpans: unknown[] } {
  const bytes = JsonTraceSerializer.serializeRequest([...spans]);
  if (!bytes) throw new Error('could not encode spans');
  return JSON.parse(Buffer.from(bytes).toString('utf8'));
}

/** A hex id that starts with `prefix`, padded to `length` digits with `fill`. */
export const hexId = (prefix: string, fill = '0', length = 32) => prefix.padEnd(length, fill);
