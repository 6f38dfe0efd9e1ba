/*
 * Attribute, metric and value names from the OpenTelemetry semantic conventions. Two sets,
 * chosen by the conventions' own transition switch, OTEL_SEMCONV_STABILITY_OPT_IN:
 *
 *  - default ("v1.41"): the names of semantic-conventions v1.41 (docs/gen-ai/gen-ai-spans.md,
 *    gen-ai-agent-spans.md, gen-ai-metrics.md, mcp.md) — what Jaeger's GenAI views and the
 *    dashboards in use read today — plus the attributes added since that renamed nothing
 *    (gen_ai.request.stream, gen_ai.response.time_to_first_chunk, cache_read and reasoning
 *    token counts, the time_to_first_chunk / time_per_output_chunk metrics);
 *  - `gen_ai_latest_experimental` ("latest"): open-telemetry/semantic-conventions-genai as of
 *    2026-11 (model/gen-ai/registry.yaml, token-metrics.yaml, model/mcp/*.yaml), where the
 *    GenAI and MCP conventions now live: `cache_write` for what v1.41 called
 *    `cache_creation`, and token counts as the gen_ai.client.inference.usage.* counters
 *    instead of the gen_ai.client.token.usage histogram.
 *
 * SPAN_ATTRIBUTES lists every name each set may put on a span; a test fails when a span
 * carries anything else.
 *
 * The GenAI, MCP and JSON-RPC names are still "Development" status, so
 * @opentelemetry/semantic-conventions only ships them from its unstable `incubating` entry
 * point, whose exports may change or vanish in any minor release. As the OpenTelemetry
 * contrib instrumentations do, we keep local copies of the unstable names we use; stable
 * names (error.type, server.*, network.*, service.*) are imported from the package.
 *
 * Memento's own attributes are namespaced `memento.*`.
 */
export {
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_CLIENT_ADDRESS,
  ATTR_CLIENT_PORT,
  ATTR_NETWORK_TRANSPORT,
  ATTR_NETWORK_PROTOCOL_NAME,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ERROR_TYPE_VALUE_OTHER,
} from '@opentelemetry/semantic-conventions';

// gen_ai.*
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name' as const;
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name' as const;
export const ATTR_GEN_AI_AGENT_NAME = 'gen_ai.agent.name' as const;
export const ATTR_GEN_AI_CONVERSATION_ID = 'gen_ai.conversation.id' as const;
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model' as const;
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model' as const;
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id' as const;
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons' as const;
/** Seconds from issuing a streamed request to its first chunk (semantic-conventions-genai registry). */
export const ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = 'gen_ai.response.time_to_first_chunk' as const;
export const ATTR_GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream' as const;
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens' as const;
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens' as const;
/** Input tokens served from the provider's cache (Azure: usage.prompt_tokens_details.cached_tokens). */
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens' as const;
/** Input tokens written to the provider's cache: v1.41's spelling … */
export const ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens' as const;
/** … and the newest (semantic-conventions-genai). Azure and OpenAI report no cache writes. */
export const ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = 'gen_ai.usage.cache_write.input_tokens' as const;
/** Output tokens spent reasoning (Azure: usage.completion_tokens_details.reasoning_tokens). */
export const ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens' as const;
export const ATTR_GEN_AI_TOKEN_MODALITY = 'gen_ai.token.modality' as const;
export const GEN_AI_TOKEN_MODALITY_VALUE_TEXT = 'text' as const;
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type' as const;
export const ATTR_GEN_AI_TOOL_NAME = 'gen_ai.tool.name' as const;
export const ATTR_GEN_AI_TOOL_CALL_ID = 'gen_ai.tool.call.id' as const;
export const ATTR_GEN_AI_TOOL_CALL_ARGUMENTS = 'gen_ai.tool.call.arguments' as const;
export const ATTR_GEN_AI_TOOL_CALL_RESULT = 'gen_ai.tool.call.result' as const;
export const ATTR_GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages' as const;
export const ATTR_GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages' as const;
export const ATTR_GEN_AI_SYSTEM_INSTRUCTIONS = 'gen_ai.system_instructions' as const;

export const GEN_AI_OPERATION_NAME_VALUE_CHAT = 'chat' as const;
export const GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT = 'invoke_agent' as const;
export const GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL = 'execute_tool' as const;
export const GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_OPENAI = 'azure.ai.openai' as const;
export const GEN_AI_PROVIDER_NAME_VALUE_OPENAI = 'openai' as const;
export const GEN_AI_TOKEN_TYPE_VALUE_INPUT = 'input' as const;
export const GEN_AI_TOKEN_TYPE_VALUE_OUTPUT = 'output' as const;

// mcp.*, jsonrpc.*, rpc.*
export const ATTR_MCP_METHOD_NAME = 'mcp.method.name' as const;
export const ATTR_MCP_SESSION_ID = 'mcp.session.id' as const;
export const ATTR_MCP_PROTOCOL_VERSION = 'mcp.protocol.version' as const;
export const ATTR_JSONRPC_REQUEST_ID = 'jsonrpc.request.id' as const;
export const ATTR_RPC_RESPONSE_STATUS_CODE = 'rpc.response.status_code' as const;

/** error.type on an MCP span whose CallToolResult has isError: true (mcp.md, note [1]). */
export const ERROR_TYPE_VALUE_TOOL_ERROR = 'tool_error' as const;

// Metrics (names, units and advised bucket boundaries from gen-ai-metrics.md and mcp.md).
export const METRIC_GEN_AI_CLIENT_OPERATION_DURATION = 'gen_ai.client.operation.duration' as const;
export const METRIC_GEN_AI_CLIENT_TOKEN_USAGE = 'gen_ai.client.token.usage' as const;
// The newest token metrics (token-metrics.yaml): counters per kind of token.
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS = 'gen_ai.client.inference.usage.input_tokens' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS = 'gen_ai.client.inference.usage.output_tokens' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.client.inference.usage.cache_read.input_tokens' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.client.inference.usage.reasoning.output_tokens' as const;
export const METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK = 'gen_ai.client.operation.time_to_first_chunk' as const;
export const METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK = 'gen_ai.client.operation.time_per_output_chunk' as const;
export const METRIC_MCP_CLIENT_OPERATION_DURATION = 'mcp.client.operation.duration' as const;
export const METRIC_MCP_SERVER_OPERATION_DURATION = 'mcp.server.operation.duration' as const;
export const METRIC_MEMENTO_TURN_DURATION = 'memento.turn.duration' as const;

export const BUCKETS_GEN_AI_OPERATION_DURATION_S = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
export const BUCKETS_GEN_AI_TOKEN_USAGE = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
/** Chunks arrive every few ms to a few hundred ms; the server-side time_per_output_token advice. */
export const BUCKETS_GEN_AI_TIME_PER_OUTPUT_CHUNK_S = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];
export const BUCKETS_MCP_OPERATION_DURATION_S = [
  0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300,
];

// Memento's own names.
export const ATTR_MEMENTO_PHASE = 'memento.phase' as const;
export const ATTR_MEMENTO_TURN_NUMBER = 'memento.turn.number' as const;
export const ATTR_MEMENTO_USER_ID = 'memento.user.id' as const;
export const ATTR_MEMENTO_CHAT_CALLS = 'memento.turn.chat_calls' as const;
export const ATTR_MEMENTO_TOOL_CALLS = 'memento.turn.tool_calls' as const;
export const ATTR_MEMENTO_TOOL_ROUNDS = 'memento.turn.tool_rounds' as const;
/** How a turn ended when that is neither done nor failed: `cancelled` (Ctrl-C, an interrupted `ask`). */
export const ATTR_MEMENTO_TURN_OUTCOME = 'memento.turn.outcome' as const;
export const MEMENTO_TURN_OUTCOME_VALUE_CANCELLED = 'cancelled' as const;
/**
 * Seconds from the start of the turn to the first token of the answer the user reads. Not
 * `…time_to_first_token`: the collector's redaction drops keys that end in `token`.
 */
export const ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN = 'memento.turn.time_to_answer_start' as const;
export const ATTR_MEMENTO_RESULT_SIZE = 'memento.tool.result.size' as const;
export const ATTR_MEMENTO_MEMORY_COUNT = 'memento.memory.count' as const;
export const ATTR_MEMENTO_CONTENT_SIZE = 'memento.memory.content.size' as const;
/** Opaque and time-sortable, never derived from content (unlike a memory's file name). */
export const ATTR_MEMENTO_MEMORY_ID = 'memento.memory.id' as const;
export const ATTR_MEMENTO_STORAGE_OPERATION = 'memento.storage.operation' as const;
/** How many words a search had: a count, never the words. */
export const ATTR_MEMENTO_SEARCH_TERMS = 'memento.search.terms' as const;

/**
 * On a client tools/call span: the server's own span for the call, as the server reported it
 * in the result's `_meta` (SERVER_SPAN_META_KEY), W3C traceparent form. The turn's self-check
 * reads it to tell "the server joined the trace" from "the server is not traced".
 */
export const ATTR_MEMENTO_MCP_SERVER_SPAN = 'memento.mcp.server_span' as const;
/** The `_meta` key of a result that names the server span which handled the request. */
export const SERVER_SPAN_META_KEY = 'memento/server-span' as const;

export const MEMENTO_PHASE_VALUE_INTENT = 'intent' as const;
export const MEMENTO_PHASE_VALUE_SUMMARIZE = 'summarize' as const;

/** The agent name on the root span: `invoke_agent memento`. */
export const AGENT_NAME = 'memento' as const;
export const SERVICE_NAME_CLIENT = 'memento-client' as const;
export const SERVICE_NAME_SERVER = 'memento-mcp-server' as const;

export type SemconvSet = 'v1.41' | 'latest';

// Which set a process emits is read from OTEL_SEMCONV_STABILITY_OPT_IN by otel-env.ts's semconvSet().

/** The cache-write token count's name in each set. */
export const CACHE_WRITE_ATTRIBUTE: Record<SemconvSet, string> = {
  'v1.41': ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  latest: ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
};

const COMMON_SPAN_ATTRIBUTES = [
  'error.type', 'server.address', 'server.port', 'client.address', 'client.port',
  'network.transport', 'network.protocol.name', 'network.protocol.version',
  ATTR_GEN_AI_OPERATION_NAME, ATTR_GEN_AI_PROVIDER_NAME, ATTR_GEN_AI_AGENT_NAME, ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_REQUEST_MODEL, ATTR_GEN_AI_REQUEST_STREAM, ATTR_GEN_AI_RESPONSE_MODEL, ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS, ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS, ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_GEN_AI_TOOL_NAME, ATTR_GEN_AI_TOOL_CALL_ID, ATTR_GEN_AI_TOOL_CALL_ARGUMENTS, ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_GEN_AI_INPUT_MESSAGES, ATTR_GEN_AI_OUTPUT_MESSAGES, ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  ATTR_MCP_METHOD_NAME, ATTR_MCP_SESSION_ID, ATTR_MCP_PROTOCOL_VERSION, ATTR_JSONRPC_REQUEST_ID, ATTR_RPC_RESPONSE_STATUS_CODE,
  // The HTTP spans of ./http-client.ts and instrumentation-http (stable HTTP conventions).
  'http.request.method', 'http.request.method_original', 'http.response.status_code', 'http.route',
  'url.full', 'url.path', 'url.query', 'url.scheme', 'network.peer.address', 'network.peer.port', 'user_agent.original',
  'http.request.header.content-type', 'http.response.header.content-type',
  // The storage's database spans (stable database conventions).
  'db.system.name', 'db.operation.name', 'db.collection.name', 'db.query.summary', 'db.response.status_code',
  // Memento's own.
  ATTR_MEMENTO_PHASE, ATTR_MEMENTO_TURN_NUMBER, ATTR_MEMENTO_USER_ID, ATTR_MEMENTO_CHAT_CALLS, ATTR_MEMENTO_TOOL_CALLS,
  ATTR_MEMENTO_TOOL_ROUNDS, ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN, ATTR_MEMENTO_RESULT_SIZE, ATTR_MEMENTO_MEMORY_COUNT,
  ATTR_MEMENTO_CONTENT_SIZE, ATTR_MEMENTO_MEMORY_ID, ATTR_MEMENTO_STORAGE_OPERATION, ATTR_MEMENTO_SEARCH_TERMS,
  ATTR_MEMENTO_MCP_SERVER_SPAN,
];

/** Every name each set may put on a span. */
export const SPAN_ATTRIBUTES: Record<SemconvSet, ReadonlySet<string>> = {
  'v1.41': new Set([...COMMON_SPAN_ATTRIBUTES, CACHE_WRITE_ATTRIBUTE['v1.41']]),
  latest: new Set([...COMMON_SPAN_ATTRIBUTES, CACHE_WRITE_ATTRIBUTE.latest]),
};
