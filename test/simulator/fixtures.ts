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

export const MEMENTO_TOOLS: ChatCompletionFunctionTool[] = [
  fn('store_memory', 'Store a memory for the current user.', {
    type: 'object',
    properties: {
      content: { type: 'string', description: 'The text to remember.' },
      description: { type: 'string', description: 'A short description.' },
      tags: { type: 'array', items: { type: 'string' }, description: 'Tags.' },
    },
    required: ['content'],
  }),
  fn('retrieve_memories', 'Retrieve memories, newest first, optionally between two times.', {
    type: 'object',
    properties: {
      since: { type: 'string', format: 'date-time', description: 'ISO 8601; only memories created at or after it.' },
      until: { type: 'string', format: 'date-time', description: 'ISO 8601; only memories created at or before it.' },
      limit: { type: 'integer', minimum: 1 },
    },
  }),
  fn('search_memories', 'Search memories by words in their content, description and tags.', {
    type: 'object',
    properties: { query: { type: 'string' }, limit: { type: 'integer' } },
    required: ['query'],
  }),
  fn('get_memory', 'Get one memory by its id (ids come from store, retrieve or search).', {
    type: 'object',
    properties: { id: { type: 'string' } },
    required: ['id'],
  }),
  fn('delete_memory', 'Delete one memory by its id. Use search_memories first to find the id.', {
    type: 'object',
    properties: { id: { type: 'string' } },
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
