/*
 * The chat-completions wire format as Azure OpenAI speaks it: what a request may hold, and
 * the bodies, stream chunks and errors the service sends back — with Azure's own additions
 * (`prompt_filter_results`, `content_filter_results`, a first stream chunk with no choices,
 * `{error: {code, message}}` bodies), because clients that only ever met api.openai.com
 * trip over exactly those.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { PlannedCall, Reply, RuleMessage, ToolChoice } from './rules.ts';
import type { JsonSchema, ToolSpec } from './tools.ts';

/** The `model` of every answer: it says what produced it, whatever deployment was asked for. */
export const SIMULATOR_MODEL = 'memento-simulator';
const SYSTEM_FINGERPRINT = 'fp_memento_simulator';

const ContentPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const ToolCall = z.looseObject({
  id: z.string(),
  type: z.string().optional(),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});
const Message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(ContentPart), z.null()]).optional(),
  tool_calls: z.array(ToolCall).nullable().optional(),
  tool_call_id: z.string().optional(),
});
const Tool = z.looseObject({
  type: z.string(),
  function: z
    .looseObject({
      name: z.string().min(1),
      description: z.string().optional(),
      parameters: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});
const ChatRequest = z.looseObject({
  model: z.string().optional(),
  messages: z.array(Message).min(1),
  tools: z.array(Tool).nullable().optional(),
  tool_choice: z
    .union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.string(), function: z.looseObject({ name: z.string() }) })])
    .nullable()
    .optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullable().optional() }).nullable().optional(),
});
export type ChatRequest = z.infer<typeof ChatRequest>;

/** An error as Azure sends it: a status and `{error: {code, message, …}}`. */
export interface WireError {
  status: number;
  body: { error: { code: string | null; message: string; type?: string; param?: string | null } };
  headers?: Record<string, string>;
}

const wireError = (status: number, code: string | null, message: string, extra: Partial<WireError['body']['error']> = {}): WireError => ({
  status,
  body: { error: { code, message, ...extra } },
});

const INJECTED = ' (memento simulator: injected fault)';

export const errors = {
  invalidRequest: (message: string, param: string | null = null) =>
    wireError(400, null, message, { type: 'invalid_request_error', param }),
  missingApiVersion: () =>
    wireError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.'),
  unsupportedApiVersion: () => wireError(400, 'BadRequest', 'API version not supported'),
  unauthorized: () =>
    wireError(
      401,
      '401',
      'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
    ),
  deploymentNotFound: () =>
    wireError(
      404,
      'DeploymentNotFound',
      'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
    ),
  resourceNotFound: () => wireError(404, '404', 'Resource not found'),
  methodNotAllowed: () => wireError(405, '405', 'Method not allowed'),
  tooLarge: (limit: number) => wireError(413, 'RequestTooLarge', `The request body is larger than ${limit} bytes.`),
  rateLimited: (apiVersion: string, retryAfterMs: number): WireError => {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return {
      ...wireError(
        429,
        '429',
        `Requests to the ChatCompletions_Create Operation under Azure OpenAI API version ${apiVersion} have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after ${seconds} second${seconds === 1 ? '' : 's'}. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.${INJECTED}`,
      ),
      headers: { 'retry-after': String(seconds), 'retry-after-ms': String(Math.max(0, Math.round(retryAfterMs))) },
    };
  },
  internal: () => wireError(500, 'InternalServerError', 'The simulator failed to process the request; its log says why.', { type: 'server_error' }),
  serverError: (status: number) =>
    status === 500
      ? wireError(500, 'InternalServerError', `The server had an error while processing your request. Sorry about that!${INJECTED}`, { type: 'server_error' })
      : status === 503
        ? wireError(503, 'ServiceUnavailable', `The service is temporarily unable to process your request. Please try again later.${INJECTED}`, { type: 'server_error' })
        : wireError(status, String(status), `Injected HTTP ${status}.${INJECTED}`, { type: status >= 500 ? 'server_error' : 'invalid_request_error' }),
};

/** The request body checked against the chat-completions schema, or the 400 Azure would answer. */
export function parseChatRequest(body: unknown): { request: ChatRequest } | { error: WireError } {
  const parsed = ChatRequest.safeParse(body);
  if (parsed.success) return { request: parsed.data };
  const issue = parsed.error.issues[0]!;
  const param = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
  const message =
    issue.code === 'invalid_type' && issue.input === undefined
      ? `'${param}' is a required property`
      : `Invalid value for '${param || 'body'}': ${issue.message}`;
  return { error: errors.invalidRequest(message, param || null) };
}

function text(content: ChatRequest['messages'][number]['content']): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((p) => p.text ?? '').join('');
}

export function ruleMessages(request: ChatRequest): RuleMessage[] {
  return request.messages.map((m) => {
    const out: RuleMessage = { role: m.role, content: text(m.content) };
    if (m.tool_calls?.length) out.toolCalls = m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
    if (m.tool_call_id !== undefined) out.toolCallId = m.tool_call_id;
    return out;
  });
}

export function toolSpecs(request: ChatRequest): ToolSpec[] {
  return (request.tools ?? []).flatMap((t) =>
    t.type === 'function' && t.function
      ? [{ name: t.function.name, description: t.function.description, parameters: t.function.parameters as JsonSchema | undefined }]
      : [],
  );
}

export function toolChoice(request: ChatRequest): ToolChoice {
  const c = request.tool_choice;
  if (!c) return 'auto';
  return typeof c === 'string' ? c : { name: c.function.name };
}

// Ids shaped like the service's: "chatcmpl-" + 29 characters, "call_" + 24.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function randomId(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}
export const completionId = () => `chatcmpl-${randomId(29)}`;
export const callId = () => `call_${randomId(24)}`;

/** Roughly four characters a token, as OpenAI's rule of thumb has it: deterministic and cheap. */
export function estimateTokens(textLength: number): number {
  return Math.ceil(textLength / 4);
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { audio_tokens: number; cached_tokens: number };
  completion_tokens_details: {
    accepted_prediction_tokens: number;
    audio_tokens: number;
    reasoning_tokens: number;
    rejected_prediction_tokens: number;
  };
}

/** Tokens in: every message's text plus a few tokens of framing each, and the tool definitions. */
export function usageFor(request: ChatRequest, completionChars: number): Usage {
  let chars = 0;
  for (const m of request.messages) {
    chars += text(m.content).length;
    for (const c of m.tool_calls ?? []) chars += c.function.name.length + c.function.arguments.length;
  }
  const prompt = estimateTokens(chars) + 3 * request.messages.length + (request.tools?.length ? estimateTokens(JSON.stringify(request.tools).length) : 0) + 3;
  const completion = Math.max(1, estimateTokens(completionChars));
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { audio_tokens: 0, cached_tokens: 0 },
    completion_tokens_details: { accepted_prediction_tokens: 0, audio_tokens: 0, reasoning_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

const SAFE = { filtered: false, severity: 'safe' } as const;
const UNDETECTED = { filtered: false, detected: false } as const;
/** Azure's verdict on the prompt: nothing filtered. */
export const PROMPT_FILTER_RESULTS = [
  { prompt_index: 0, content_filter_results: { hate: SAFE, jailbreak: UNDETECTED, self_harm: SAFE, sexual: SAFE, violence: SAFE } },
];
/** Azure's verdict on generated text (tool calls get an empty object, as the service sends). */
const CONTENT_FILTER_RESULTS = {
  hate: SAFE,
  protected_material_code: UNDETECTED,
  protected_material_text: UNDETECTED,
  self_harm: SAFE,
  sexual: SAFE,
  violence: SAFE,
};

export interface WireToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A reply with ids and serialized arguments: what both the body and the stream are made of. */
export interface Answer {
  id: string;
  created: number;
  content: string | null;
  toolCalls: WireToolCall[];
  finishReason: 'stop' | 'tool_calls';
  usage: Usage;
}

export function answerFor(request: ChatRequest, reply: Reply, now: Date): Answer {
  const toolCalls = reply.kind === 'tool_calls' ? reply.calls.map((c: PlannedCall) => ({ id: callId(), type: 'function' as const, function: { name: c.name, arguments: JSON.stringify(c.arguments) } })) : [];
  const content = reply.kind === 'text' ? reply.text : null;
  const outChars = (content?.length ?? 0) + toolCalls.reduce((n, c) => n + c.function.name.length + c.function.arguments.length, 0);
  return {
    id: completionId(),
    created: Math.floor(now.getTime() / 1000),
    content,
    toolCalls,
    finishReason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
    usage: usageFor(request, outChars),
  };
}

/** The non-streaming body, keys in the order Azure writes them. */
export function completionBody(answer: Answer) {
  const message: Record<string, unknown> = { annotations: [], content: answer.content, refusal: null, role: 'assistant' };
  if (answer.toolCalls.length > 0) message.tool_calls = answer.toolCalls;
  return {
    choices: [
      {
        content_filter_results: answer.content !== null ? CONTENT_FILTER_RESULTS : {},
        finish_reason: answer.finishReason,
        index: 0,
        logprobs: null,
        message,
      },
    ],
    created: answer.created,
    id: answer.id,
    model: SIMULATOR_MODEL,
    object: 'chat.completion',
    prompt_filter_results: PROMPT_FILTER_RESULTS,
    system_fingerprint: SYSTEM_FINGERPRINT,
    usage: answer.usage,
  };
}

/** Text cut where a tokenizer would roughly cut it: a word and the space after it. */
function textPieces(content: string): string[] {
  return content.match(/\s*\S+\s*/g) ?? [content];
}

/** JSON arguments cut into fragments, always at least two (clients must reassemble them). */
export function argumentPieces(args: string, size = 12): string[] {
  const step = Math.max(1, Math.min(size, Math.ceil(args.length / 2)));
  const pieces: string[] = [];
  for (let i = 0; i < args.length; i += step) pieces.push(args.slice(i, i + step));
  return pieces.length > 0 ? pieces : [''];
}

/**
 * The stream as Azure sends it: a first chunk with no choices and the prompt's filter
 * results; the role; content word by word (each with its filter results) or each tool call
 * (id and name first, then its arguments in fragments); a chunk with the finish reason; the
 * usage chunk when asked for. The caller adds `data: [DONE]`.
 */
export function streamChunks(answer: Answer, includeUsage: boolean): object[] {
  const base = { created: answer.created, id: answer.id, model: SIMULATOR_MODEL, object: 'chat.completion.chunk', system_fingerprint: SYSTEM_FINGERPRINT };
  const usage = includeUsage ? { usage: null } : {};
  const choice = (delta: object, filter: object = {}, finish: string | null = null) => ({
    choices: [{ content_filter_results: filter, delta, finish_reason: finish, index: 0, logprobs: null }],
    ...base,
    ...usage,
  });
  const chunks: object[] = [
    { choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: PROMPT_FILTER_RESULTS },
  ];
  if (answer.toolCalls.length === 0) {
    chunks.push(choice({ content: '', refusal: null, role: 'assistant' }));
    for (const piece of textPieces(answer.content ?? '')) chunks.push(choice({ content: piece }, CONTENT_FILTER_RESULTS));
  } else {
    answer.toolCalls.forEach((call, index) => {
      const head = { index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } };
      chunks.push(choice(index === 0 ? { content: null, refusal: null, role: 'assistant', tool_calls: [head] } : { tool_calls: [head] }));
      for (const piece of argumentPieces(call.function.arguments)) {
        chunks.push(choice({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    });
  }
  chunks.push(choice({}, {}, answer.finishReason));
  if (includeUsage) chunks.push({ choices: [], ...base, usage: answer.usage });
  return chunks;
}
