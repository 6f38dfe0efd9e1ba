/*
 * The model: Azure OpenAI through the openai package's AzureOpenAI class, any
 * OpenAI-compatible endpoint through OpenAI (which covers Azure's v1 API, OpenAI, Ollama and
 * vLLM), or the built-in simulator (started by the session, client/session.ts), spoken to
 * with AzureOpenAI exactly as the real service would be.
 *
 * `chat` makes one call and returns the whole answer; streamed content is handed to
 * `onText` as it arrives, and tool calls are reassembled from their deltas (Azure splits the
 * JSON arguments across chunks and opens the stream with an empty-choices chunk that only
 * carries prompt_filter_results).
 */
import { APIUserAbortError, AzureOpenAI, OpenAI } from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { DEFAULT_BOUNDS, type ModelSettings } from '../config.ts';
import { GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_OPENAI, GEN_AI_PROVIDER_NAME_VALUE_OPENAI } from '../telemetry/semconv.ts';
import type { ModelTarget } from '../telemetry/genai.ts';
import type { FetchLike } from './http.ts';
import { ConfigError, endpointOf, ModelResponseError } from './errors.ts';
import { guardModelFetch, tooLarge } from './model-guard.ts';

export interface ModelOptions {
  fetch: FetchLike;
  /** Per attempt, from the request to the answer's last byte; the openai package retries timeouts, 429 and 5xx with backoff. */
  timeoutMs: number;
  /** Longest silence between chunks of an answer (MEMENTO_MODEL_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  /** Largest answer, text and tool-call arguments together (MEMENTO_MODEL_MAX_ANSWER_BYTES). */
  maxAnswerBytes?: number;
  maxRetries: number;
  /** Stream answers (the default); off asks for whole responses. */
  stream: boolean;
}

export interface ToolCall {
  id: string;
  name: string;
  /** The model's JSON text, unparsed: it may be invalid. */
  arguments: string;
}

export interface ChatAnswer {
  id?: string;
  model?: string;
  content: string;
  toolCalls: ToolCall[];
  finishReason: string;
  inputTokens?: number;
  outputTokens?: number;
  /** Of the input tokens, those Azure served from its prompt cache (prompt_tokens_details.cached_tokens). */
  cacheReadTokens?: number;
  /** Of the output tokens, those a reasoning model spent thinking (completion_tokens_details.reasoning_tokens). */
  reasoningTokens?: number;
  /** Whether the answer came as a stream of chunks. */
  streamed: boolean;
  /** Streamed only: ms from issuing the request to the first chunk of the response. */
  firstChunkMs?: number;
  /** Streamed only: ms between consecutive output chunks, after the first one. */
  chunkGapsMs?: number[];
}

export interface ChatCall {
  messages: ChatCompletionMessageParam[];
  tools: ChatCompletionTool[];
  signal?: AbortSignal;
  onText?: (delta: string) => void;
}

export class Model {
  readonly target: ModelTarget;
  readonly settings: ModelSettings;
  private readonly client: OpenAI;
  private readonly options: ModelOptions;
  private readonly maxAnswerBytes: number;

  private constructor(settings: ModelSettings, client: OpenAI, target: ModelTarget, options: ModelOptions) {
    this.settings = settings;
    this.client = client;
    this.target = target;
    this.options = options;
    this.maxAnswerBytes = options.maxAnswerBytes ?? DEFAULT_BOUNDS.maxAnswerBytes;
  }

  static async connect(settings: ModelSettings, options: ModelOptions): Promise<Model> {
    const hint = settings.provider === 'openai' ? 'check OPENAI_BASE_URL' : settings.provider === 'azure' ? 'check AZURE_OPENAI_ENDPOINT' : 'check the simulator settings';
    const fetch = guardModelFetch(options.fetch, {
      timeoutMs: options.timeoutMs,
      idleMs: Math.min(options.idleTimeoutMs ?? DEFAULT_BOUNDS.modelIdleTimeoutMs, options.timeoutMs),
      maxAnswerBytes: options.maxAnswerBytes ?? DEFAULT_BOUNDS.maxAnswerBytes,
      stream: options.stream,
      hint,
    });
    // logLevel off: the package would otherwise print its own lines (raw, unredacted) on
    // stderr; every failure reaches the person as one line through modelError instead.
    const common = { fetch, timeout: options.timeoutMs, maxRetries: options.maxRetries, logLevel: 'off' as const };
    if (settings.provider === 'openai') {
      if (!settings.endpoint) throw new ConfigError('OPENAI_BASE_URL is empty.');
      const client = new OpenAI({ ...common, baseURL: settings.endpoint, apiKey: settings.apiKey ?? 'unused' });
      return new Model(settings, client, target(GEN_AI_PROVIDER_NAME_VALUE_OPENAI, settings.deployment, settings.endpoint), options);
    }
    // The simulator's endpoint and key are filled in by the session that started it.
    const { endpoint, apiKey } = settings;
    if (!endpoint) throw new ConfigError('AZURE_OPENAI_ENDPOINT is empty.');
    if (!apiKey) {
      throw new ConfigError('AZURE_OPENAI_API_KEY is not set: Azure OpenAI needs the key of the resource at AZURE_OPENAI_ENDPOINT.');
    }
    const trimmed = endpoint.replace(/\/+$/, '');
    const client = new AzureOpenAI({
      ...common,
      // baseURL rather than endpoint: the package would otherwise also read OPENAI_BASE_URL
      // from the environment and refuse the pair.
      baseURL: trimmed.endsWith('/openai') ? trimmed : `${trimmed}/openai`,
      apiKey,
      apiVersion: settings.apiVersion,
      deployment: settings.deployment,
    });
    return new Model(settings, client, target(GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_OPENAI, settings.deployment, endpoint), options);
  }

  async chat(call: ChatCall): Promise<ChatAnswer> {
    const body = {
      model: this.settings.deployment,
      messages: call.messages,
      ...(call.tools.length ? { tools: call.tools, tool_choice: 'auto' as const, parallel_tool_calls: true } : {}),
    };
    const where = this.settings.endpoint ? endpointOf(this.settings.endpoint) : 'the built-in simulator';
    if (!this.options.stream) {
      const completion = await this.client.chat.completions.create({ ...body, stream: false }, { signal: call.signal });
      const answer = fromCompletion(completion, where, call.onText);
      if (Buffer.byteLength(answer.content) + argumentBytes(answer.toolCalls) > this.maxAnswerBytes) throw tooLarge(this.maxAnswerBytes);
      return answer;
    }
    // Measured from here, retries included: what the caller waits for (semconv's
    // time_to_first_chunk, "from when the client issues the generation request").
    const issued = performance.now();
    const stream = await this.client.chat.completions.create(
      { ...body, stream: true, stream_options: { include_usage: true } },
      { signal: call.signal },
    );
    return fromStream(stream, where, this.maxAnswerBytes, call.signal, call.onText, issued);
  }

  /** Whether calls ask for a token stream (MEMENTO_STREAM). */
  get streaming(): boolean {
    return this.options.stream;
  }

}

function target(provider: string, model: string, url: string): ModelTarget {
  const u = new URL(url);
  return {
    provider,
    model,
    address: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80),
  };
}

function argumentBytes(calls: ToolCall[]): number {
  let n = 0;
  for (const c of calls) n += Buffer.byteLength(c.arguments) + Buffer.byteLength(c.name);
  return n;
}

function emptyAnswer(where: string): ModelResponseError {
  return new ModelResponseError(`the model endpoint at ${where} sent no answer (no choices); check that it is an OpenAI-compatible chat completions endpoint.`, 'empty_response');
}

function fromCompletion(completion: ChatCompletion, where: string, onText?: (delta: string) => void): ChatAnswer {
  // The guard lets only objects with a choices array through; an empty array is no answer.
  if (!Array.isArray(completion?.choices) || completion.choices.length === 0) throw emptyAnswer(where);
  const choice = completion.choices[0];
  const content = typeof choice?.message?.content === 'string' ? choice.message.content : '';
  if (content) onText?.(content);
  const toolCalls: ToolCall[] = [];
  for (const tc of choice?.message?.tool_calls ?? []) {
    if (tc?.type === 'function' && tc.function) {
      toolCalls.push({ id: String(tc.id ?? ''), name: String(tc.function.name ?? ''), arguments: typeof tc.function.arguments === 'string' ? tc.function.arguments : '' });
    }
  }
  return {
    id: completion.id,
    model: completion.model,
    content,
    toolCalls,
    finishReason: choice?.finish_reason ?? 'stop',
    inputTokens: completion.usage?.prompt_tokens,
    outputTokens: completion.usage?.completion_tokens,
    ...usageDetails(completion.usage),
    streamed: false,
  };
}

/** The details Azure (and OpenAI) add to usage, when present: absent is not zero. */
function usageDetails(usage: ChatCompletion['usage'] | null | undefined): Pick<ChatAnswer, 'cacheReadTokens' | 'reasoningTokens'> {
  const cached = usage?.prompt_tokens_details?.cached_tokens;
  const reasoning = usage?.completion_tokens_details?.reasoning_tokens;
  return {
    ...(typeof cached === 'number' ? { cacheReadTokens: cached } : {}),
    ...(typeof reasoning === 'number' ? { reasoningTokens: reasoning } : {}),
  };
}

/**
 * The stream's chunks, with the openai package's own reading of them (it normalizes every
 * chunk and throws a TypeError on a choice that is not an object) turned into a clear error.
 */
async function* guardShape(stream: AsyncIterable<ChatCompletionChunk>, where: string): AsyncGenerator<ChatCompletionChunk> {
  try {
    yield* stream;
  } catch (err) {
    // undici's "terminated" is a dropped connection, explained as such by modelError.
    if (err instanceof TypeError && err.message !== 'terminated') {
      throw new ModelResponseError(
        `the model endpoint at ${where} sent a stream chunk of the wrong shape (${err.message.split('\n')[0]!.slice(0, 120)}); check that it is an OpenAI-compatible chat completions endpoint.`,
      );
    }
    throw err;
  }
}

/**
 * Reassembles a stream. The endpoint is not trusted: chunks of any shape are read
 * defensively (a field of the wrong type is ignored), and the answer may not grow past
 * `maxBytes`.
 */
async function fromStream(
  stream: AsyncIterable<ChatCompletionChunk>,
  where: string,
  maxBytes: number,
  signal: AbortSignal | undefined,
  onText?: (delta: string) => void,
  issued: number = performance.now(),
): Promise<ChatAnswer> {
  const answer: ChatAnswer = { content: '', toolCalls: [], finishReason: 'stop', streamed: true, chunkGapsMs: [] };
  const calls = new Map<number, ToolCall>();
  let lastOutput: number | undefined;
  let size = 0;
  let choices = 0;
  const grow = (text: string) => {
    size += Buffer.byteLength(text);
    if (size > maxBytes) throw tooLarge(maxBytes);
  };
  for await (const chunk of guardShape(stream, where)) {
    if (typeof chunk !== 'object' || chunk === null) continue;
    const now = performance.now();
    answer.firstChunkMs ??= now - issued;
    // Output chunks are the ones that carry generated text or tool calls; Azure's leading
    // prompt_filter_results chunk and the trailing usage chunk carry neither.
    if (Array.isArray(chunk.choices) && chunk.choices.some((c) => typeof c === 'object' && c !== null && (c.delta?.content || c.delta?.tool_calls?.length))) {
      if (lastOutput !== undefined) answer.chunkGapsMs!.push(now - lastOutput);
      lastOutput = now;
    }
    if (typeof chunk.id === 'string' && chunk.id) answer.id ??= chunk.id;
    if (typeof chunk.model === 'string' && chunk.model) answer.model ??= chunk.model;
    if (chunk.usage && typeof chunk.usage === 'object') {
      if (typeof chunk.usage.prompt_tokens === 'number') answer.inputTokens = chunk.usage.prompt_tokens;
      if (typeof chunk.usage.completion_tokens === 'number') answer.outputTokens = chunk.usage.completion_tokens;
      Object.assign(answer, usageDetails(chunk.usage));
    }
    if (!Array.isArray(chunk.choices)) continue;
    for (const choice of chunk.choices) {
      if (typeof choice !== 'object' || choice === null) continue;
      choices += 1;
      const delta = choice.delta;
      if (typeof delta?.content === 'string' && delta.content) {
        grow(delta.content);
        answer.content += delta.content;
        onText?.(delta.content);
      }
      for (const tc of Array.isArray(delta?.tool_calls) ? delta.tool_calls : []) {
        if (typeof tc !== 'object' || tc === null) continue;
        const index = Number.isSafeInteger(tc.index) ? tc.index : 0;
        let call = calls.get(index);
        if (!call) {
          call = { id: '', name: '', arguments: '' };
          calls.set(index, call);
        }
        if (typeof tc.id === 'string' && tc.id) call.id = tc.id;
        if (typeof tc.function?.name === 'string' && tc.function.name) {
          grow(tc.function.name);
          call.name += tc.function.name;
        }
        if (typeof tc.function?.arguments === 'string' && tc.function.arguments) {
          grow(tc.function.arguments);
          call.arguments += tc.function.arguments;
        }
      }
      if (typeof choice.finish_reason === 'string' && choice.finish_reason) answer.finishReason = choice.finish_reason;
    }
  }
  // The openai package ends a stream quietly when the request is aborted: a cancel, not an answer.
  if (signal?.aborted) throw new APIUserAbortError();
  if (choices === 0) throw emptyAnswer(where);
  answer.toolCalls = [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c);
  return answer;
}
