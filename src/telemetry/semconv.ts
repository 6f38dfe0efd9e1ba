/*
 * Attribute, metric and value names from the OpenTelemetry semantic conventions v1.41
 * (docs/gen-ai/gen-ai-spans.md, gen-ai-agent-spans.md, gen-ai-metrics.md, mcp.md).
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
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens' as const;
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens' as const;
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
export const METRIC_MCP_CLIENT_OPERATION_DURATION = 'mcp.client.operation.duration' as const;
export const METRIC_MCP_SERVER_OPERATION_DURATION = 'mcp.server.operation.duration' as const;
export const METRIC_MEMENTO_TURN_DURATION = 'memento.turn.duration' as const;

export const BUCKETS_GEN_AI_OPERATION_DURATION_S = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
export const BUCKETS_GEN_AI_TOKEN_USAGE = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
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
export const ATTR_MEMENTO_RESULT_SIZE = 'memento.tool.result.size' as const;
export const ATTR_MEMENTO_MEMORY_COUNT = 'memento.memory.count' as const;
export const ATTR_MEMENTO_CONTENT_SIZE = 'memento.memory.content.size' as const;
/** Opaque and time-sortable, never derived from content (unlike a memory's file name). */
export const ATTR_MEMENTO_MEMORY_ID = 'memento.memory.id' as const;
export const ATTR_MEMENTO_STORAGE_OPERATION = 'memento.storage.operation' as const;
/** How many words a search had: a count, never the words. */
export const ATTR_MEMENTO_SEARCH_TERMS = 'memento.search.terms' as const;

export const MEMENTO_PHASE_VALUE_INTENT = 'intent' as const;
export const MEMENTO_PHASE_VALUE_SUMMARIZE = 'summarize' as const;

/** The agent name on the root span: `invoke_agent memento`. */
export const AGENT_NAME = 'memento' as const;
export const SERVICE_NAME_CLIENT = 'memento-client' as const;
export const SERVICE_NAME_SERVER = 'memento-mcp-server' as const;
