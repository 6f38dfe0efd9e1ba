/*
 * One assertion per span kind, stating everything a span of that kind must carry (after
 * OpenTelemetry contrib's test/utils/assertSpan.ts): name, kind, status and the WHOLE
 * attribute map, so an attribute added, renamed or leaked anywhere fails a test. The caller
 * passes what varies from call to call; everything else is fixed here.
 */
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { expect } from 'vitest';

/** Status: OK-by-default (UNSET) unless an error type is expected, then ERROR. */
function assertStatus(span: ReadableSpan, errorType: string | undefined): void {
  expect(span.status.code, `${span.name}: status`).toBe(errorType ? SpanStatusCode.ERROR : SpanStatusCode.UNSET);
}

const error = (errorType: string | undefined): Attributes => (errorType ? { 'error.type': errorType } : {});

export interface ModelExpectation {
  model: string;
  /** e.g. 'azure.ai.openai' */
  provider: string;
  port: number;
  address?: string;
}

/** `invoke_agent memento`: the root of a turn. */
export function assertInvokeAgentSpan(
  span: ReadableSpan,
  expected: {
    user: string;
    turnNumber: number;
    counts: { chatCalls: number; toolCalls: number; toolRounds: number };
    model?: ModelExpectation;
    errorType?: string;
  },
): void {
  expect(span.name).toBe('invoke_agent memento');
  expect(span.kind).toBe(SpanKind.INTERNAL);
  expect(span.parentSpanContext, 'a turn is the root of its trace').toBeUndefined();
  assertStatus(span, expected.errorType);
  expect(span.attributes).toEqual({
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.agent.name': 'memento',
    'gen_ai.conversation.id': expect.stringMatching(/^[0-9a-f-]{36}$/),
    'memento.turn.number': expected.turnNumber,
    'memento.user.id': expected.user,
    'memento.turn.chat_calls': expected.counts.chatCalls,
    'memento.turn.tool_calls': expected.counts.toolCalls,
    'memento.turn.tool_rounds': expected.counts.toolRounds,
    // The first token of the answer shown: a turn that failed before answering has none.
    ...(expected.errorType ? {} : { 'memento.turn.time_to_answer_start': expect.any(Number) }),
    ...(expected.model ? { 'gen_ai.provider.name': expected.model.provider, 'gen_ai.request.model': expected.model.model } : {}),
    ...error(expected.errorType),
  });
}

/** `chat {model}`: one call to the model. A failed call has no response attributes. */
export function assertChatSpan(
  span: ReadableSpan,
  expected: ModelExpectation & {
    phase: 'intent' | 'summarize';
    finishReasons?: string[];
    responseModel?: string;
    errorType?: string;
    /** Whether the call asked for a stream (MEMENTO_STREAM); default true. */
    stream?: boolean;
    /** With content capture on: the exact attributes it adds. */
    content?: Attributes;
  },
): void {
  expect(span.name).toBe(`chat ${expected.model}`);
  expect(span.kind).toBe(SpanKind.CLIENT);
  assertStatus(span, expected.errorType);
  const response = expected.errorType
    ? {}
    : {
        'gen_ai.response.finish_reasons': expected.finishReasons,
        'gen_ai.response.id': expect.stringMatching(/^chatcmpl-/),
        'gen_ai.response.model': expected.responseModel,
        'gen_ai.usage.input_tokens': expect.any(Number),
        'gen_ai.usage.output_tokens': expect.any(Number),
        // Azure's usage details (the simulator sends them as Azure does).
        'gen_ai.usage.cache_read.input_tokens': expect.any(Number),
        'gen_ai.usage.reasoning.output_tokens': expect.any(Number),
        ...(expected.stream === false ? {} : { 'gen_ai.response.time_to_first_chunk': expect.any(Number) }),
      };
  expect(span.attributes).toEqual({
    'gen_ai.operation.name': 'chat',
    'gen_ai.conversation.id': expect.stringMatching(/^[0-9a-f-]{36}$/),
    'gen_ai.request.stream': expected.stream ?? true,
    'gen_ai.provider.name': expected.provider,
    'gen_ai.request.model': expected.model,
    'server.address': expected.address ?? '127.0.0.1',
    'server.port': expected.port,
    'memento.phase': expected.phase,
    ...response,
    ...error(expected.errorType),
    ...expected.content,
  });
}

/** `tools/call {tool}` on either side, over Streamable HTTP. */
export function assertToolCallSpan(
  span: ReadableSpan,
  expected: {
    side: 'client' | 'server';
    tool: string;
    /** The server's port: the client names it, the server does not. */
    port?: number;
    /** The model's id for the call (client side only). */
    callId?: string;
    errorType?: string;
    /** With content capture on: the exact attributes it adds. */
    content?: Attributes;
  },
): void {
  expect(span.name).toBe(`tools/call ${expected.tool}`);
  expect(span.kind).toBe(expected.side === 'client' ? SpanKind.CLIENT : SpanKind.SERVER);
  assertStatus(span, expected.errorType);
  expect(span.attributes).toEqual({
    'mcp.method.name': 'tools/call',
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': expected.tool,
    'jsonrpc.request.id': expect.any(String),
    'mcp.session.id': expect.any(String),
    'mcp.protocol.version': expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
    'network.transport': 'tcp',
    'network.protocol.name': 'http',
    'memento.tool.result.size': expect.any(Number),
    ...(expected.side === 'client'
      ? {
          'server.address': '127.0.0.1',
          'server.port': expected.port,
          'gen_ai.tool.call.id': expected.callId,
          // An execute_tool span carries the conversation; the server names its own span in _meta.
          'gen_ai.conversation.id': expect.stringMatching(/^[0-9a-f-]{36}$/),
          'memento.mcp.server_span': expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/),
        }
      : { 'client.address': '127.0.0.1', 'client.port': expect.any(Number) }),
    ...error(expected.errorType),
    ...expected.content,
  });
}

/** `memento.storage.{operation}`: ids, counts and sizes only, never content. */
export function assertStorageSpan(span: ReadableSpan, operation: string, attributes: Attributes): void {
  expect(span.name).toBe(`memento.storage.${operation}`);
  expect(span.kind).toBe(SpanKind.INTERNAL);
  assertStatus(span, undefined);
  expect(span.attributes).toEqual({ 'memento.storage.operation': operation, ...attributes });
}
