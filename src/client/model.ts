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
import { AzureOpenAI, OpenAI } from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import type { ModelSettings } from '../config.ts';
import { GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_OPENAI, GEN_AI_PROVIDER_NAME_VALUE_OPENAI } from '../telemetry/semconv.ts';
import type { ModelTarget } from '../telemetry/genai.ts';
import type { FetchLike } from './http.ts';
import { ConfigError } from './errors.ts';

export interface ModelOptions {
  fetch: FetchLike;
  /** Per attempt; the openai package retries timeouts, 429 and 5xx with backoff. */
  timeoutMs: number;
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

  private constructor(settings: ModelSettings, client: OpenAI, target: ModelTarget, options: ModelOptions) {
    this.settings = settings;
    this.client = client;
    this.target = target;
    this.options = options;
  }

  static async connect(settings: ModelSettings, options: ModelOptions): Promise<Model> {
    const common = { fetch: options.fetch, timeout: options.timeoutMs, maxRetries: options.maxRetries };
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
    if (!this.options.stream) {
      const completion = await this.client.chat.completions.create({ ...body, stream: false }, { signal: call.signal });
      return fromCompletion(completion, call.onText);
    }
    const stream = await this.client.chat.completions.create(
      { ...body, stream: true, stream_options: { include_usage: true } },
      { signal: call.signal },
    );
    return fromStream(stream, call.onText);
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

function fromCompletion(completion: ChatCompletion, onText?: (delta: string) => void): ChatAnswer {
  const choice = completion.choices[0];
  const content = choice?.message.content ?? '';
  if (content) onText?.(content);
  const toolCalls: ToolCall[] = [];
  for (const tc of choice?.message.tool_calls ?? []) {
    if (tc.type === 'function') toolCalls.push({ id: tc.id, name: tc.function.name, arguments: tc.function.arguments });
  }
  return {
    id: completion.id,
    model: completion.model,
    content,
    toolCalls,
    finishReason: choice?.finish_reason ?? 'stop',
    inputTokens: completion.usage?.prompt_tokens,
    outputTokens: completion.usage?.completion_tokens,
  };
}

async function fromStream(stream: AsyncIterable<ChatCompletionChunk>, onText?: (delta: string) => void): Promise<ChatAnswer> {
  const answer: ChatAnswer = { content: '', toolCalls: [], finishReason: 'stop' };
  const calls = new Map<number, ToolCall>();
  for await (const chunk of stream) {
    if (chunk.id) answer.id ??= chunk.id;
    if (chunk.model) answer.model ??= chunk.model;
    if (chunk.usage) {
      answer.inputTokens = chunk.usage.prompt_tokens;
      answer.outputTokens = chunk.usage.completion_tokens;
    }
    for (const choice of chunk.choices ?? []) {
      const delta = choice.delta;
      if (delta?.content) {
        answer.content += delta.content;
        onText?.(delta.content);
      }
      for (const tc of delta?.tool_calls ?? []) {
        let call = calls.get(tc.index);
        if (!call) {
          call = { id: '', name: '', arguments: '' };
          calls.set(tc.index, call);
        }
        if (tc.id) call.id = tc.id;
        if (tc.function?.name) call.name += tc.function.name;
        if (tc.function?.arguments) call.arguments += tc.function.arguments;
      }
      if (choice.finish_reason) answer.finishReason = choice.finish_reason;
    }
  }
  answer.toolCalls = [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c);
  return answer;
}
