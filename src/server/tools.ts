/*
 * The MCP face of the store: five tools, registered on a fresh McpServer per connection
 * (an SDK server serves one transport). Schemas and descriptions are what the model reads to
 * decide on a call, so they say what each field means and what comes back. Handlers throw
 * plain errors with a message meant for the model; the SDK turns them into `isError` results.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { z } from 'zod';
import { log } from '../log.ts';
import { USER_ARGUMENT } from '../protocol.ts';
import { VERSION } from '../version.ts';
import { IdentityError, resolveUser, tokenUserOf } from './identity.ts';
import {
  DEFAULT_LIST_LIMIT,
  DEFAULT_SEARCH_LIMIT,
  MAX_LIST_LIMIT,
  MAX_SEARCH_LIMIT,
  MemoryInputError,
  MemoryNotFoundError,
  PREVIEW_CHARS,
  StorageError,
  type Storage,
} from './storage/index.ts';

export const SERVER_NAME = 'memento';

export interface ToolContext {
  store: Storage;
  /** The user when nothing else names one (MEMENTO_USER, else "default"). */
  defaultUser: string;
}

const userArgument = {
  [USER_ARGUMENT]: z
    .string()
    .optional()
    .describe(
      'For generic MCP clients only (MCP Inspector, desktop hosts) that cannot identify the user another way. ' +
        'Leave it out: the current user is already known, and naming a different one is refused.',
    ),
};

const memoryMeta = {
  id: z.string().describe('The memory id: pass it to get_memory or delete_memory.'),
  file: z.string().describe('The file the content is stored in, e.g. 20240715_143052_meeting_summary.txt (UTC time).'),
  description: z.string().describe('The description given when it was stored ("" if none).'),
  tags: z.array(z.string()).describe('Its tags.'),
  created: z.string().describe('When it was stored: ISO 8601 date-time in UTC.'),
  size: z.number().int().describe('Content size in bytes (UTF-8).'),
};

const memorySummary = z.object({
  ...memoryMeta,
  preview: z.string().describe(`The first ${PREVIEW_CHARS} characters of the content.`),
  truncated: z.boolean().describe('True when the content is longer than the preview: use get_memory for all of it.'),
});

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

type Extra = { authInfo?: AuthInfo | undefined; _meta?: Record<string, unknown> | undefined };

function result<T extends Record<string, unknown>>(structured: T): CallToolResult {
  // The text block repeats the structured result for clients that read only text (MCP spec:
  // a tool with structured content should also return it serialized).
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

/**
 * Runs a handler, letting the errors meant for the caller through as they are and replacing
 * anything unexpected (a bug) with a message that does not leak internals.
 */
async function handle<T>(tool: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (
      err instanceof MemoryInputError ||
      err instanceof MemoryNotFoundError ||
      err instanceof IdentityError ||
      err instanceof StorageError
    ) {
      throw err;
    }
    log.error('tool failed unexpectedly', { tool, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    throw new Error(`${tool} failed because of an internal error in the Memento server; the failure has been logged.`);
  }
}

/**
 * The five tools' definitions, built once per process: every session's McpServer registers
 * these same objects, so a session costs its handlers, not its own copy of every schema
 * (~80 KB a session before, which 20,000 sessions turned into gigabytes). Exported for the
 * benchmarks' durable floor (bench/procs/floor-server.ts), which serves store_memory's contract.
 */
export const TOOLS = {
  store_memory: {
    title: 'Store a memory',
    description:
      'Save a new memory for the current user: the content exactly as given, with an optional file name, ' +
      'description and tags. Returns the new memory’s id and the file it was saved as.',
    inputSchema: z.object({
      content: z.string().describe('What to remember, exactly as it should be stored (plain text or Markdown).'),
      filename: z
        .string()
        .optional()
        .describe(
          'Optional file name such as "meeting_summary.txt": ASCII letters, digits, spaces, ".", "_" and "-". ' +
            'The time is put in front of it; without one, a name is made from the description or content.',
        ),
      description: z.string().optional().describe('Optional one-line description of the memory.'),
      tags: z
        .union([z.array(z.string()), z.string()])
        .optional()
        .describe('Optional tags: a list such as ["work", "meetings"] or one comma-separated string "work, meetings".'),
      ...userArgument,
    }),
    outputSchema: z.object(memoryMeta),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  retrieve_memories: {
    title: 'List memories',
    description:
      'List the current user’s memories, newest first, optionally only those with a tag or stored in a time ' +
      'range; e.g. since="2024-07-15" and until="2024-07-15" for everything stored that day (UTC). Returns ' +
      'previews (use get_memory for full content) and nextCursor for the next, older page.',
    inputSchema: z.object({
      tag: z.string().optional().describe('Only memories with this tag (case-insensitive).'),
      since: z
        .string()
        .optional()
        .describe('Only memories stored at or after this ISO 8601 date (2024-07-15) or date-time (2024-07-15T09:00:00Z).'),
      until: z
        .string()
        .optional()
        .describe('Only memories stored at or before this ISO 8601 date (the whole day counts) or date-time.'),
      limit: z
        .number()
        .int()
        .min(1)
        .max(MAX_LIST_LIMIT)
        .optional()
        .describe(`How many memories per page, 1 to ${MAX_LIST_LIMIT} (default ${DEFAULT_LIST_LIMIT}).`),
      cursor: z.string().optional().describe('nextCursor from the previous page, to continue with older memories.'),
      ...userArgument,
    }),
    outputSchema: z.object({
      memories: z.array(memorySummary).describe('Newest first.'),
      total: z.number().int().describe('How many memories match the filters, on all pages.'),
      // Not .nullable(): that becomes `"type": ["string", "null"]`, which strict clients
      // flag. A union whose members carry their own descriptions stays `anyOf`.
      nextCursor: z
        .union([z.string().describe('an opaque cursor for the next, older page'), z.null().describe('this is the last page')])
        .describe('Pass as cursor for the next page; null when this is the last page.'),
    }),
    annotations: READ_ONLY,
  },
  search_memories: {
    title: 'Search memories',
    description:
      'Find the current user’s memories by keywords, case-insensitively, in their content, description, tags ' +
      'and file name; a word also matches longer words it begins ("meet" finds "meeting"). Best matches first.',
    inputSchema: z.object({
      query: z.string().describe('Keywords, e.g. "quarterly budget meeting".'),
      limit: z
        .number()
        .int()
        .min(1)
        .max(MAX_SEARCH_LIMIT)
        .optional()
        .describe(`How many matches to return, 1 to ${MAX_SEARCH_LIMIT} (default ${DEFAULT_SEARCH_LIMIT}).`),
      ...userArgument,
    }),
    outputSchema: z.object({
      query: z.string(),
      memories: z
        .array(memorySummary.extend({ score: z.number().describe('Relevance; higher is better.') }))
        .describe('Best match first.'),
      total: z.number().int().describe('How many memories matched at all.'),
    }),
    annotations: READ_ONLY,
  },
  get_memory: {
    title: 'Read a memory',
    description: 'The full content and details of one of the current user’s memories, by its id (or file name).',
    inputSchema: z.object({
      id: z.string().describe('The id returned by store_memory, retrieve_memories or search_memories.'),
      ...userArgument,
    }),
    outputSchema: z.object({ ...memoryMeta, content: z.string().describe('The content exactly as stored.') }),
    annotations: READ_ONLY,
  },
  delete_memory: {
    title: 'Delete a memory',
    description: 'Permanently delete one of the current user’s memories by its id (or file name). This cannot be undone.',
    inputSchema: z.object({
      id: z.string().describe('The id of the memory to delete.'),
      ...userArgument,
    }),
    outputSchema: z.object({
      id: z.string(),
      file: z.string().describe('The file that was removed.'),
      deleted: z.boolean().describe('Always true: a memory that cannot be deleted is an error.'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  },
};

/**
 * One JSON-schema validator for every session (the SDK would otherwise build an Ajv instance,
 * ~17 KB, per McpServer; it only caches compiled schemas, which all sessions share).
 */
const validator = new AjvJsonSchemaValidator();

/** A new McpServer with the five memory tools. */
export function createMcpServer(ctx: ToolContext): McpServer {
  const { store } = ctx;
  const server = new McpServer(
    { name: SERVER_NAME, title: 'Memento', version: VERSION },
    {
      capabilities: { tools: {} },
      jsonSchemaValidator: validator,
      instructions:
        "Memento keeps the current user's memories: notes, summaries and facts they asked you to remember. " +
        'Store with store_memory; find with search_memories (keywords) or retrieve_memories (newest first, by tag ' +
        'or date); read one in full with get_memory; delete_memory removes one for good. Times are UTC.',
    },
  );
  const userOf = (extra: Extra, argument: unknown) =>
    resolveUser({ tokenUser: tokenUserOf(extra.authInfo), meta: extra._meta, argument }, ctx.defaultUser);

  server.registerTool(
    'store_memory',
    TOOLS.store_memory,
    (args, extra) =>
      handle('store_memory', async () => {
        const user = userOf(extra, args[USER_ARGUMENT]);
        const stored = await store.store(user, args);
        const { preview: _preview, truncated: _truncated, ...meta } = stored;
        return result(meta);
      }),
  );

  server.registerTool(
    'retrieve_memories',
    TOOLS.retrieve_memories,
    (args, extra) =>
      handle('retrieve_memories', async () => {
        const user = userOf(extra, args[USER_ARGUMENT]);
        return result({ ...(await store.list(user, args)) });
      }),
  );

  server.registerTool(
    'search_memories',
    TOOLS.search_memories,
    (args, extra) =>
      handle('search_memories', async () => {
        const user = userOf(extra, args[USER_ARGUMENT]);
        const found = await store.search(user, args.query, args.limit);
        return result({ query: args.query, ...found });
      }),
  );

  server.registerTool(
    'get_memory',
    TOOLS.get_memory,
    (args, extra) =>
      handle('get_memory', async () => {
        const user = userOf(extra, args[USER_ARGUMENT]);
        return result({ ...(await store.get(user, args.id)) });
      }),
  );

  server.registerTool(
    'delete_memory',
    TOOLS.delete_memory,
    (args, extra) =>
      handle('delete_memory', async () => {
        const user = userOf(extra, args[USER_ARGUMENT]);
        const deleted = await store.delete(user, args.id);
        return result({ id: deleted.id, file: deleted.file, deleted: true });
      }),
  );

  skipOutputValidation(server);
  return server;
}

/**
 * The SDK parses every successful result against its tool's output schema with zod before
 * sending it. Memento's results are built by the handlers above from the store's own records,
 * and test/server/output-schema.test.ts checks each tool's results against the schema it
 * advertises; clients that care (the MCP SDK's Client does) validate on their side anyway.
 * Doing it here cost a zod parse per call on the server's hot path (BENCHMARKS.md, issue 15).
 * Inputs are still validated. When the SDK's private method is not there, nothing changes.
 */
function skipOutputValidation(server: McpServer): void {
  const target = server as unknown as { validateToolOutput?: unknown };
  if (typeof target.validateToolOutput === 'function') target.validateToolOutput = async () => {};
}
