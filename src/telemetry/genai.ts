/*
 * GenAI spans for the turn (semconv v1.41 gen-ai-agent-spans.md and gen-ai-spans.md): the
 * root `invoke_agent memento` span of a turn and one `chat {model}` CLIENT span per call to
 * the model. The HTTP requests the openai package makes inside a chat span (one per attempt,
 * retries included) become its children through src/telemetry/http-client.ts.
 *
 * Prompts, answers and tool arguments are recorded only when
 * OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true; otherwise spans carry ids, counts
 * and sizes. Nothing here ever throws into the turn.
 */
import {
  context,
  diag,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { captureContent, semconvSet } from './otel-env.ts';
import { instruments } from './instruments.ts';
import { activeConversation, withConversation } from './conversation.ts';
import {
  AGENT_NAME,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  ATTR_GEN_AI_TOKEN_TYPE,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_GEN_AI_TOKEN_MODALITY,
  GEN_AI_TOKEN_MODALITY_VALUE_TEXT,
  ATTR_MEMENTO_CHAT_CALLS,
  ATTR_MEMENTO_PHASE,
  ATTR_MEMENTO_TOOL_CALLS,
  ATTR_MEMENTO_TOOL_ROUNDS,
  ATTR_MEMENTO_TURN_NUMBER,
  ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN,
  ATTR_MEMENTO_USER_ID,
  ATTR_GEN_AI_REQUEST_STREAM,
  ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
  GEN_AI_TOKEN_TYPE_VALUE_INPUT,
  GEN_AI_TOKEN_TYPE_VALUE_OUTPUT,
} from './semconv.ts';
import { VERSION } from '../version.ts';

// One tracer per module: before the SDK registers this is the API's proxy, which finds the
// SDK's tracer on first use.
let cachedTracer: Tracer | undefined;
const tracer = (): Tracer => (cachedTracer ??= trace.getTracer('memento-agent', VERSION));

/** Where the model lives: what every chat span and metric says about the provider. */
export interface ModelTarget {
  provider: string;
  model: string;
  address: string;
  port: number;
}

export interface TurnInfo {
  conversationId: string;
  turnNumber: number;
  userId: string;
}

export interface TurnCounts {
  chatCalls: number;
  toolCalls: number;
  toolRounds: number;
  /** Ms from the turn's start to the first token of the answer shown, when there was one. */
  firstTokenMs?: number;
}

/** The root span of one turn; every other span of the turn is under it. */
export class TurnSpan {
  readonly span: Span;
  readonly context: Context;
  private readonly started = performance.now();

  constructor(info: TurnInfo) {
    // A turn is always a new trace, whatever happens to be active around it.
    this.span = tracer().startSpan(
      `${GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT} ${AGENT_NAME}`,
      {
        kind: SpanKind.INTERNAL,
        root: true,
        attributes: {
          [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
          [ATTR_GEN_AI_AGENT_NAME]: AGENT_NAME,
          [ATTR_GEN_AI_CONVERSATION_ID]: info.conversationId,
          [ATTR_MEMENTO_TURN_NUMBER]: info.turnNumber,
          [ATTR_MEMENTO_USER_ID]: info.userId,
        },
      },
      context.active(),
    );
    this.context = withConversation(trace.setSpan(context.active(), this.span), info.conversationId);
  }

  /** The trace id when tracing is on; undefined when it is off (OTEL_SDK_DISABLED). */
  get traceId(): string | undefined {
    const ctx = this.span.spanContext();
    return trace.isSpanContextValid(ctx) ? ctx.traceId : undefined;
  }

  end(counts: TurnCounts, failure?: { errorType: string; message: string }, model?: ModelTarget): void {
    try {
      this.span.setAttributes({
        [ATTR_MEMENTO_CHAT_CALLS]: counts.chatCalls,
        [ATTR_MEMENTO_TOOL_CALLS]: counts.toolCalls,
        [ATTR_MEMENTO_TOOL_ROUNDS]: counts.toolRounds,
      });
      if (counts.firstTokenMs !== undefined) this.span.setAttribute(ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN, counts.firstTokenMs / 1000);
      const metricAttributes: Attributes = { [ATTR_GEN_AI_AGENT_NAME]: AGENT_NAME };
      if (model) {
        this.span.setAttribute(ATTR_GEN_AI_PROVIDER_NAME, model.provider);
        this.span.setAttribute(ATTR_GEN_AI_REQUEST_MODEL, model.model);
        metricAttributes[ATTR_GEN_AI_REQUEST_MODEL] = model.model;
      }
      if (failure) {
        this.span.setAttribute(ATTR_ERROR_TYPE, failure.errorType);
        this.span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
        metricAttributes[ATTR_ERROR_TYPE] = failure.errorType;
      }
      instruments().turnDuration.record((performance.now() - this.started) / 1000, metricAttributes);
    } catch (err) {
      diag.error('turn span', err);
    } finally {
      this.span.end();
    }
  }
}

export interface ChatMessagePart {
  type: string;
  [key: string]: unknown;
}

/** The messages of a call, in the semconv JSON shape, built only when content is captured. */
export interface ChatContent {
  system?: string;
  input: { role: string; parts: ChatMessagePart[] }[];
}

export interface ChatOutcome {
  responseId?: string;
  responseModel?: string;
  finishReasons: string[];
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  reasoningTokens?: number;
  output?: { role: string; parts: ChatMessagePart[]; finish_reason?: string }[];
  /** Streamed calls: ms to the first chunk, and between output chunks after it. */
  firstChunkMs?: number;
  chunkGapsMs?: readonly number[];
}

/** One `chat {model}` span; `run` executes the call with the span active. */
export class ChatSpan {
  readonly span: Span;
  private readonly started = performance.now();
  /** What the span and every metric of this call say about the model endpoint. */
  private readonly targetAttributes: Attributes;
  private readonly ctx: Context;
  private readonly capture = captureContent();
  private readonly latest = semconvSet() === 'latest';

  constructor(target: ModelTarget, phase: string, content?: () => ChatContent, stream?: boolean) {
    this.targetAttributes = {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_CHAT,
      [ATTR_GEN_AI_PROVIDER_NAME]: target.provider,
      [ATTR_GEN_AI_REQUEST_MODEL]: target.model,
      [ATTR_SERVER_ADDRESS]: target.address,
      [ATTR_SERVER_PORT]: target.port,
    };
    const attributes: Attributes = { ...this.targetAttributes, [ATTR_MEMENTO_PHASE]: phase };
    if (stream !== undefined) attributes[ATTR_GEN_AI_REQUEST_STREAM] = stream;
    const conversationId = activeConversation();
    if (conversationId) attributes[ATTR_GEN_AI_CONVERSATION_ID] = conversationId;
    if (this.capture && content) {
      try {
        const c = content();
        if (c.system !== undefined) attributes[ATTR_GEN_AI_SYSTEM_INSTRUCTIONS] = JSON.stringify([{ type: 'text', content: c.system }]);
        attributes[ATTR_GEN_AI_INPUT_MESSAGES] = JSON.stringify(c.input);
      } catch (err) {
        diag.error('chat span content', err);
      }
    }
    this.span = tracer().startSpan(`${GEN_AI_OPERATION_NAME_VALUE_CHAT} ${target.model}`, { kind: SpanKind.CLIENT, attributes });
    this.ctx = trace.setSpan(context.active(), this.span);
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return context.with(this.ctx, fn);
  }

  end(outcome: ChatOutcome): void {
    const span = this.span;
    try {
      const a: Attributes = { [ATTR_GEN_AI_RESPONSE_FINISH_REASONS]: outcome.finishReasons };
      if (outcome.responseId) a[ATTR_GEN_AI_RESPONSE_ID] = outcome.responseId;
      if (outcome.responseModel) a[ATTR_GEN_AI_RESPONSE_MODEL] = outcome.responseModel;
      if (outcome.inputTokens !== undefined) a[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = outcome.inputTokens;
      if (outcome.outputTokens !== undefined) a[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = outcome.outputTokens;
      if (outcome.cacheReadTokens !== undefined) a[ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = outcome.cacheReadTokens;
      if (outcome.reasoningTokens !== undefined) a[ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = outcome.reasoningTokens;
      if (outcome.firstChunkMs !== undefined) a[ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = outcome.firstChunkMs / 1000;
      if (this.capture && outcome.output) a[ATTR_GEN_AI_OUTPUT_MESSAGES] = JSON.stringify(outcome.output);
      span.setAttributes(a);
      this.record(undefined, outcome);
    } catch (err) {
      diag.error('chat span', err);
    } finally {
      span.end();
    }
  }

  fail(errorType: string, message: string, error?: unknown): void {
    const span = this.span;
    try {
      if (error instanceof Error) span.recordException(error);
      span.setAttribute(ATTR_ERROR_TYPE, errorType);
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      this.record(errorType);
    } catch (err) {
      diag.error('chat span', err);
    } finally {
      span.end();
    }
  }

  /** Ends the span of a call the user cancelled: an abort is not an error. */
  cancel(): void {
    this.span.end();
  }

  private record(errorType: string | undefined, outcome?: ChatOutcome): void {
    const base: Attributes = { ...this.targetAttributes };
    if (outcome?.responseModel) base[ATTR_GEN_AI_RESPONSE_MODEL] = outcome.responseModel;
    const m = instruments();
    m.genAiOperationDuration.record(
      (performance.now() - this.started) / 1000,
      errorType ? { ...base, [ATTR_ERROR_TYPE]: errorType } : base,
    );
    if (this.latest) {
      // token-metrics.yaml: counters, recorded for every call, 0 when no usage came back.
      const modality = { ...base, [ATTR_GEN_AI_TOKEN_MODALITY]: GEN_AI_TOKEN_MODALITY_VALUE_TEXT };
      m.genAiInputTokens.add(outcome?.inputTokens ?? 0, modality);
      m.genAiOutputTokens.add(outcome?.outputTokens ?? 0, modality);
      m.genAiCacheReadTokens.add(outcome?.cacheReadTokens ?? 0, modality);
      m.genAiReasoningTokens.add(outcome?.reasoningTokens ?? 0, modality);
    } else {
      if (outcome?.inputTokens !== undefined) {
        m.genAiTokenUsage.record(outcome.inputTokens, { ...base, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE_VALUE_INPUT });
      }
      if (outcome?.outputTokens !== undefined) {
        m.genAiTokenUsage.record(outcome.outputTokens, { ...base, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE_VALUE_OUTPUT });
      }
    }
    // Streaming calls only (gen-ai metrics: "SHOULD NOT be reported otherwise").
    if (outcome?.firstChunkMs !== undefined) m.genAiTimeToFirstChunk.record(outcome.firstChunkMs / 1000, base);
    if (outcome?.chunkGapsMs) m.genAiTimePerOutputChunk.recordEach(outcome.chunkGapsMs, base, 1000);
  }
}
