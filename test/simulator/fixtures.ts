/*
 * Tool definitions as a request carries them: the Memento server's five tools, and the same
 * five renamed and reworded with other property names, to show the rules read what a tool
 * is rather than what it is called.
 */
import type { ChatCompletionFunctionTool } from 'openai/resources/chat/completions';

const fn = (name: string, description: string, parameters: Record<string, unknown>): ChatCompletionFunctionTool => ({
  type: 'function',
  function: { name, description, parameters },
});

/** Shaped like the Memento server's tools/list (zod's JSON Schema), minus `user_id`, which the client hides. */
export const MEMENTO_TOOLS: ChatCompletionFunctionTool[] = [
  fn('store_memory', 'Save a new memory for the current user: the content exactly as given, with an optional file name, description and tags.', {
    type: 'object',
    properties: {
      content: { type: 'string', description: 'What to remember, exactly as it should be stored.' },
      filename: { type: 'string', description: 'Optional file name such as "meeting_summary.txt".' },
      description: { type: 'string', description: 'Optional one-line description of the memory.' },
      tags: {
        description: 'Optional tags: a list or one comma-separated string.',
        anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }],
      },
    },
    required: ['content'],
  }),
  fn('retrieve_memories', 'List the current user’s memories, newest first, optionally only those with a tag or stored in a time range.', {
    type: 'object',
    properties: {
      tag: { type: 'string', description: 'Only memories with this tag.' },
      since: { type: 'string', description: 'Only memories stored at or after this ISO 8601 date or date-time.' },
      until: { type: 'string', description: 'Only memories stored at or before this ISO 8601 date or date-time.' },
      limit: { type: 'integer', minimum: 1, maximum: 100 },
      cursor: { type: 'string', description: 'nextCursor from the previous page.' },
    },
  }),
  fn('search_memories', 'Find the current user’s memories by keywords in their content, description, tags and file name.', {
    type: 'object',
    properties: { query: { type: 'string', description: 'Keywords.' }, limit: { type: 'integer', minimum: 1, maximum: 50 } },
    required: ['query'],
  }),
  fn('get_memory', 'The full content and details of one of the current user’s memories, by its id (or file name).', {
    type: 'object',
    properties: { id: { type: 'string', description: 'The id returned by store_memory, retrieve_memories or search_memories.' } },
    required: ['id'],
  }),
  fn('delete_memory', 'Permanently delete one of the current user’s memories by its id (or file name).', {
    type: 'object',
    properties: { id: { type: 'string', description: 'The id of the memory to delete.' } },
    required: ['id'],
  }),
];

/** Other names, other words, other fields — and listed in another order. */
export const RENAMED_TOOLS: ChatCompletionFunctionTool[] = [
  fn('forget', 'Removes a note permanently. Find the identifier with the lookup tool first.', {
    type: 'object',
    properties: { noteId: { type: 'string' } },
    required: ['noteId'],
  }),
  fn('lookup', 'Full-text find over saved notes.', {
    type: 'object',
    properties: { phrase: { type: 'string' }, maxResults: { type: 'integer' } },
    required: ['phrase'],
  }),
  fn('keep_note', 'Saves a note for later.', {
    type: 'object',
    properties: {
      body: { type: 'string' },
      labels: { type: 'string', description: 'comma-separated' },
      priority: { type: 'string', enum: ['normal', 'high'] },
    },
    required: ['body', 'priority'],
  }),
  fn('timeline', 'Lists notes in a date range.', {
    type: 'object',
    properties: {
      start_date: { type: 'string', format: 'date', description: 'YYYY-MM-DD, inclusive' },
      end_date: { type: 'string', format: 'date', description: 'YYYY-MM-DD, inclusive' },
    },
  }),
];

/** "Now" for every date test: Tuesday 16 July 2024, 10:00 UTC. */
export const NOW = new Date('2024-07-16T10:00:00Z');
