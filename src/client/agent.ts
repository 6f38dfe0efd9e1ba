/*
 * One turn: the intent call to the model, every tool call it asks for (in parallel when it
 * asks for several at once, for as many rounds as it asks, up to a limit), and the
 * summarizing call that answers the tool results. Each phase is its own step and its own
 * span; the turn's root span holds them all, so every turn is exactly one trace.
 *
 * Bad output from the model (invalid JSON arguments, a tool that does not exist) goes back
 * to the model as a tool error; it never ends the turn.
 */
import { context, trace } from '@opentelemetry/api';
import type {
  ChatCompletionMessageParam,
  ChatCompletionTool,
  ChatCompletionToolMessageParam,
} from 'openai/resources/chat/completions';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ChatSpan, TurnSpan, type ChatContent, type ChatMessagePart } from '../telemetry/genai.ts';
import { TOOL_CALL_ID_KEY } from '../telemetry/mcp.ts';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_MEMENTO_TURN_OUTCOME,
  MEMENTO_PHASE_VALUE_INTENT,
  MEMENTO_PHASE_VALUE_SUMMARIZE,
  MEMENTO_TURN_OUTCOME_VALUE_CANCELLED,
} from '../telemetry/semconv.ts';
import { modelError, TurnCancelled, TurnError } from './errors.ts';
import { History } from './history.ts';
import type { McpConnection } from './mcp.ts';
import type { ChatAnswer, Model, ToolCall } from './model.ts';
import { splitTime, type Interval, type TimeSplit } from './timing.ts';
import { DEFAULT_BOUNDS } from '../config.ts';
import { telemetry } from '../telemetry/handle.ts';
import type { SelfCheck } from '../telemetry/self-check.ts';
import { selfCheckOf } from './turn-check.ts';
import { spansFromReadableSpans, turnSplit, type TraceSpan } from '../traces/index.ts';

/** Tool rounds after which the model must answer with what it has. */
export const MAX_TOOL_ROUNDS = 5;

export type TurnStatus =
  | { kind: 'connecting' }
  | { kind: 'thinking'; phase: string }
  | { kind: 'tools'; names: string[] }
  | { kind: 'answering' };

export interface TurnOptions {
  user: string;
  signal?: AbortSignal;
  /** Streamed answer text, as it arrives. */
  onText?: (delta: string) => void;
  onStatus?: (status: TurnStatus) => void;
}

export interface ToolOutcome {
  name: string;
  callId: string;
  ok: boolean;
  /** Why the call failed: tool_error, invalid_arguments, unknown_tool, or an MCP error type. */
  errorType?: string;
}

export interface TurnResult {
  ok: boolean;
  answer: string;
  /** Undefined when tracing is off. */
  traceId: string | undefined;
  /** The root span's duration (what the user waited), from the same spans as `phases`. */
  durationMs: number;
  /**
   * Where the time went, worked out once from the turn's spans by the same function
   * (turnSplit) that `memento traces` and the waterfall use, so every view agrees.
   */
  phases: TimeSplit;
  chatCalls: number;
  toolCalls: number;
  toolRounds: number;
  tools: ToolOutcome[];
  /** Ms from the start of the turn to the first token of the answer shown; undefined when none was. */
  firstTokenMs?: number;
  /** What the turn's own trace is missing, and why (undefined when tracing is off). */
  selfCheck?: SelfCheck;
  error?: { type: string; message: string };
  cancelled?: boolean;
}

function systemPrompt(now: Date): string {
  return [
    'You are Memento, an assistant that stores and recalls the user\'s memories (notes, meeting summaries, recipes).',
    'Use the tools to store, list, search, read and delete memories; never invent memories the tools did not return.',
    `Today is ${now.toISOString().slice(0, 10)} (UTC). Answer briefly and plainly.`,
  ].join(' ');
}

/** What the model may ask of the tools in one message (settings in config.ts). */
export interface ToolBounds {
  /** Tool calls run per model message (MEMENTO_MAX_TOOL_CALLS); the rest are answered as tool errors. */
  maxToolCalls: number;
  /** Largest arguments of one call, in bytes of JSON (MEMENTO_MAX_TOOL_ARGUMENT_BYTES). */
  maxArgumentBytes: number;
  /** Deepest nesting of one call's arguments (MEMENTO_MAX_TOOL_ARGUMENT_DEPTH). */
  maxArgumentDepth: number;
}

export interface AgentDeps {
  model: Model;
  mcp: McpConnection;
  history?: History;
  /** Retries configured on the model client, for error messages. */
  maxRetries: number;
  bounds?: ToolBounds;
}

export class Agent {
  readonly history: History;
  private readonly model: Model;
  private readonly mcp: McpConnection;
  private readonly maxRetries: number;
  private readonly bounds: ToolBounds;

  constructor(deps: AgentDeps) {
    this.model = deps.model;
    this.mcp = deps.mcp;
    this.history = deps.history ?? new History();
    this.maxRetries = deps.maxRetries;
    this.bounds = deps.bounds ?? DEFAULT_BOUNDS;
  }

  async runTurn(text: string, options: TurnOptions): Promise<TurnResult> {
    const { user } = options;
    await this.history.sync(user);
    const conversation = this.history.of(user);
    conversation.turns += 1;
    const turn = new TurnSpan({ conversationId: conversation.id, turnNumber: conversation.turns, userId: user });
    const started = performance.now();
    const intervals: Interval[] = [];
    const counts: { chatCalls: number; toolCalls: number; toolRounds: number; firstTokenMs?: number } = { chatCalls: 0, toolCalls: 0, toolRounds: 0 };
    const tools: ToolOutcome[] = [];
    // What a person waits for is the first token of the answer, not the end of the turn.
    const onText = (delta: string) => {
      counts.firstTokenMs ??= performance.now() - started;
      options.onText?.(delta);
    };
    // Called after the root span has ended, so the recorder holds the whole client side.
    // The split is taken now, while the recorder still has the spans: a caller may shut
    // telemetry down (and the recorder with it) before it prints the split.
    const result = (partial: Partial<TurnResult>): TurnResult => {
      const end = performance.now();
      // The turn's spans, converted once for both the split and the self-check.
      const spans = recordedSpans(turn.traceId);
      const measured = spans ? turnSplit(spans) : undefined;
      const phases = measured ?? splitTime(started, end, intervals);
      const out: TurnResult = {
        ok: false,
        answer: '',
        traceId: turn.traceId,
        durationMs: measured?.totalMs ?? end - started,
        phases: { azureMs: phases.azureMs, mcpMs: phases.mcpMs, clientMs: phases.clientMs },
        ...counts,
        tools,
        ...partial,
      };
      let checked: { value: SelfCheck | undefined } | undefined;
      Object.defineProperty(out, 'selfCheck', { enumerable: true, get: () => (checked ??= { value: selfCheckOf(out, spans) }).value });
      return out;
    };

    try {
      const answer = await context.with(turn.context, () =>
        this.loop(text, { ...options, onText }, conversation.exchanges, intervals, counts, tools),
      );
      this.history.add(user, { user: text, assistant: answer });
      turn.end(counts, undefined, this.model.target);
      return result({ ok: true, answer });
    } catch (err) {
      const failure = err instanceof TurnError || err instanceof TurnCancelled ? err : modelError(err, this.model.settings, this.maxRetries);
      if (failure instanceof TurnCancelled) {
        // An abort is not an error: the turn's span says it was cancelled and stays unset.
        turn.span.addEvent('cancelled');
        turn.span.setAttribute(ATTR_MEMENTO_TURN_OUTCOME, MEMENTO_TURN_OUTCOME_VALUE_CANCELLED);
        turn.end(counts, undefined, this.model.target);
        return result({ cancelled: true, error: { type: 'cancelled', message: 'cancelled' } });
      }
      const error = { type: failure.errorType, message: failure.message };
      turn.end(counts, { errorType: error.type, message: error.message }, this.model.target);
      return result({ error });
    }
  }

  private async loop(
    text: string,
    options: TurnOptions,
    past: readonly { user: string; assistant: string }[],
    intervals: Interval[],
    counts: { chatCalls: number; toolCalls: number; toolRounds: number },
    outcomes: ToolOutcome[],
  ): Promise<string> {
    options.onStatus?.({ kind: 'connecting' });
    const mcpStarted = performance.now();
    let modelTools: ChatCompletionTool[];
    let known: Set<string>;
    try {
      modelTools = await this.mcp.modelTools();
      known = await this.mcp.toolNames();
    } finally {
      intervals.push({ kind: 'mcp', start: mcpStarted, end: performance.now() });
    }

    const system = systemPrompt(new Date());
    const messages: ChatCompletionMessageParam[] = [{ role: 'system', content: system }];
    for (const e of past) messages.push({ role: 'user', content: e.user }, { role: 'assistant', content: e.assistant });
    messages.push({ role: 'user', content: text });

    for (let round = 0; ; round++) {
      const phase = round === 0 ? MEMENTO_PHASE_VALUE_INTENT : MEMENTO_PHASE_VALUE_SUMMARIZE;
      // Past the round limit the model is asked for an answer, with no tools to call.
      const offered = round < MAX_TOOL_ROUNDS ? modelTools : [];
      options.onStatus?.(round === 0 ? { kind: 'thinking', phase } : { kind: 'answering' });
      // Counted when made, so a cancelled or failed turn counts the call that was in flight.
      counts.chatCalls += 1;
      const answer = await this.chat(phase, system, messages, offered, options, intervals);
      if (answer.toolCalls.length === 0) return answer.content;
      if (offered.length === 0) {
        // A model that still asks for tools when none are offered gets no more rounds.
        return answer.content || `I could not finish that within ${MAX_TOOL_ROUNDS} rounds of tool calls; try asking for less at once.`;
      }

      counts.toolRounds += 1;
      counts.toolCalls += answer.toolCalls.length;
      messages.push({
        role: 'assistant',
        content: answer.content || null,
        tool_calls: answer.toolCalls.map((tc) => ({
          id: tc.id,
          type: 'function' as const,
          // Arguments refused for their size are not sent back to the model with every
          // later call of the turn; the tool error says what happened to them.
          function: { name: tc.name, arguments: tc.arguments.length > this.bounds.maxArgumentBytes ? '{}' : tc.arguments },
        })),
      });
      options.onStatus?.({ kind: 'tools', names: answer.toolCalls.map((t) => t.name) });
      const toolStarted = performance.now();
      const results = await Promise.all(
        answer.toolCalls.map((tc, i) =>
          i < this.bounds.maxToolCalls ? this.executeTool(tc, known, options, outcomes) : this.refuseExtra(tc, outcomes),
        ),
      );
      intervals.push({ kind: 'mcp', start: toolStarted, end: performance.now() });
      messages.push(...results);
    }
  }

  private async chat(
    phase: string,
    system: string,
    messages: ChatCompletionMessageParam[],
    tools: ChatCompletionTool[],
    options: TurnOptions,
    intervals: Interval[],
  ): Promise<ChatAnswer> {
    const span = new ChatSpan(this.model.target, phase, () => contentOf(system, messages), this.model.streaming);
    const start = performance.now();
    try {
      const answer = await span.run(() =>
        this.model.chat({ messages, tools, signal: options.signal, onText: options.onText }),
      );
      span.end({
        responseId: answer.id,
        responseModel: answer.model,
        finishReasons: [answer.finishReason],
        inputTokens: answer.inputTokens,
        outputTokens: answer.outputTokens,
        cacheReadTokens: answer.cacheReadTokens,
        reasoningTokens: answer.reasoningTokens,
        firstChunkMs: answer.firstChunkMs,
        chunkGapsMs: answer.chunkGapsMs,
        output: [{ role: 'assistant', parts: outputParts(answer), finish_reason: answer.finishReason }],
      });
      return answer;
    } catch (err) {
      const failure = modelError(err, this.model.settings, this.maxRetries);
      if (failure instanceof TurnCancelled) span.cancel();
      else span.fail(failure.errorType, failure.message, err);
      throw failure;
    } finally {
      intervals.push({ kind: 'azure', start, end: performance.now() });
    }
  }

  /** A call past MEMENTO_MAX_TOOL_CALLS in one message: answered, never run. */
  private async refuseExtra(call: ToolCall, outcomes: ToolOutcome[]): Promise<ChatCompletionToolMessageParam> {
    outcomes.push({ name: call.name, callId: call.id, ok: false, errorType: 'too_many_tool_calls' });
    const max = this.bounds.maxToolCalls;
    return {
      role: 'tool',
      tool_call_id: call.id,
      content: `Error: only the first ${max} tool calls of a message are run (MEMENTO_MAX_TOOL_CALLS=${max}); this one was not. Ask for it again in a later message if it is still needed.`,
    };
  }

  private async executeTool(
    call: ToolCall,
    known: Set<string>,
    options: TurnOptions,
    outcomes: ToolOutcome[],
  ): Promise<ChatCompletionToolMessageParam> {
    const reply = (content: string): ChatCompletionToolMessageParam => ({ role: 'tool', tool_call_id: call.id, content });
    const reject = (errorType: string, message: string) => {
      outcomes.push({ name: call.name, callId: call.id, ok: false, errorType });
      // The call never reaches the server, so there is no tools/call span: the turn's root
      // span (active everywhere in the loop) records it.
      trace.getActiveSpan()?.addEvent('tool_call_rejected', {
        [ATTR_GEN_AI_TOOL_NAME]: call.name,
        [ATTR_GEN_AI_TOOL_CALL_ID]: call.id,
        [ATTR_ERROR_TYPE]: errorType,
      });
      return reply(`Error: ${message}`);
    };
    if (!known.has(call.name)) {
      return reject('unknown_tool', `there is no tool named "${call.name}". Available tools: ${[...known].join(', ')}.`);
    }
    // Size and depth before parsing: a deeply nested value parses, but every later step that
    // walks it (validation, serialization for the MCP request) would overflow the stack.
    const bytes = Buffer.byteLength(call.arguments);
    if (bytes > this.bounds.maxArgumentBytes) {
      return reject(
        'arguments_too_large',
        `the arguments for ${call.name} are ${bytes} bytes; tools take at most ${this.bounds.maxArgumentBytes} bytes of arguments ` +
          `(MEMENTO_MAX_TOOL_ARGUMENT_BYTES). Send less at once, e.g. store it in smaller parts.`,
      );
    }
    const depth = jsonDepth(call.arguments, this.bounds.maxArgumentDepth);
    if (depth > this.bounds.maxArgumentDepth) {
      return reject(
        'arguments_too_deep',
        `the arguments for ${call.name} are nested more than ${this.bounds.maxArgumentDepth} levels deep (MEMENTO_MAX_TOOL_ARGUMENT_DEPTH). Send a flatter JSON object.`,
      );
    }
    let args: unknown;
    try {
      args = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
    } catch (err) {
      return reject('invalid_arguments', `the arguments for ${call.name} are not valid JSON (${(err as Error).message}). Send a JSON object.`);
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      return reject('invalid_arguments', `the arguments for ${call.name} must be a JSON object.`);
    }
    const result = await context.with(context.active().setValue(TOOL_CALL_ID_KEY, call.id), () =>
      this.mcp.call(call.name, args as Record<string, unknown>, options.user, options.signal),
    );
    outcomes.push({ name: call.name, callId: call.id, ok: !result.isError, ...(result.isError ? { errorType: 'tool_error' } : {}) });
    const text = resultText(result);
    return reply(result.isError ? `Error: ${text}` : text);
  }
}

/**
 * How deeply `json` nests arrays and objects, counting no further than `limit` + 1: a linear
 * scan that skips strings, so it never recurses and stops early on a hostile value.
 */
export function jsonDepth(json: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * The turn's spans as the recorder holds them the moment the turn ends (undefined when it
 * holds none): what its split, as `memento traces` and Jaeger will show it, and its
 * self-check are taken from.
 */
function recordedSpans(traceId: string | undefined): TraceSpan[] | undefined {
  const recorded = traceId ? telemetry().recorder?.spans(traceId) : undefined;
  return recorded?.length ? spansFromReadableSpans(recorded) : undefined;
}

/** The text the model reads back from a tool: its text blocks, or its structured content. */
function resultText(result: CallToolResult): string {
  const texts = (result.content ?? []).filter((c) => c.type === 'text').map((c) => (c as { text: string }).text);
  if (texts.length) return texts.join('\n');
  if (result.structuredContent) return JSON.stringify(result.structuredContent);
  return result.isError ? 'the tool failed without saying why' : 'done';
}

function outputParts(answer: ChatAnswer): ChatMessagePart[] {
  const parts: ChatMessagePart[] = [];
  if (answer.content) parts.push({ type: 'text', content: answer.content });
  for (const tc of answer.toolCalls) parts.push({ type: 'tool_call', id: tc.id, name: tc.name, arguments: tc.arguments });
  return parts;
}

/** The call's messages in the semconv gen_ai.input.messages shape (only built when captured). */
function contentOf(system: string, messages: ChatCompletionMessageParam[]): ChatContent {
  const input: ChatContent['input'] = [];
  for (const m of messages) {
    if (m.role === 'system') continue;
    if (m.role === 'tool') {
      input.push({ role: 'tool', parts: [{ type: 'tool_call_response', id: m.tool_call_id, response: m.content }] });
      continue;
    }
    const parts: ChatMessagePart[] = [];
    if (typeof m.content === 'string' && m.content) parts.push({ type: 'text', content: m.content });
    if (m.role === 'assistant') {
      for (const tc of m.tool_calls ?? []) {
        if (tc.type === 'function') parts.push({ type: 'tool_call', id: tc.id, name: tc.function.name, arguments: tc.function.arguments });
      }
    }
    input.push({ role: m.role, parts });
  }
  return { system, input };
}
