/*
 * The server does not re-validate its own results against the tools' output schemas (a zod
 * parse per call, src/server/tools.ts), so this checks what it would have: every tool's
 * successful results, over a real `memento serve`, against the JSON Schema the tool advertises.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { connect, type Connection } from './support.ts';

describe('tool results', () => {
  let data: Awaited<ReturnType<typeof tempDir>>;
  let server: Running;
  let alice: Connection;
  const validators = new Map<string, ValidateFunction>();

  beforeAll(async () => {
    data = await tempDir('memento-output-schema-');
    server = await startMemento(['serve', '--port', '0', '--data-dir', data.path]);
    alice = await connect('http', server.url, { user: 'alice' });
    const ajv = new Ajv({ strict: false, allErrors: true });
    for (const tool of (await alice.client.listTools()).tools) {
      // The draft is the SDK's choice; the keywords used are the same in draft-07 and 2020-12.
      const { $schema: _draft, ...schema } = tool.outputSchema as Record<string, unknown>;
      validators.set(tool.name, ajv.compile(schema));
    }
  });
  afterAll(async () => {
    await alice?.close();
    if (server) expect(await server.stop()).toBe(0);
    await data?.cleanup();
  });

  /** Calls a tool, expects success, and checks its structured content against the schema. */
  async function conforming(name: string, args: Record<string, unknown>): Promise<any> {
    const result = await alice.call(name, args);
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    const validate = validators.get(name)!;
    expect(validate(result.structuredContent), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
    // The text block repeats the structured content for clients that read only text.
    expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(result.structuredContent);
    return result.structuredContent;
  }

  it('match the output schema each tool advertises, for all five tools', async () => {
    expect([...validators.keys()].sort()).toEqual(['delete_memory', 'get_memory', 'retrieve_memories', 'search_memories', 'store_memory']);
    const stored = await conforming('store_memory', { content: 'Quarterly budget approved; hiring starts in May.', tags: ['work'], description: 'budget' });
    await conforming('store_memory', { content: 'A second note, about the garden.' });
    const listed = await conforming('retrieve_memories', { limit: 5 });
    expect(JSON.stringify(listed)).toContain(stored.id);
    await conforming('retrieve_memories', { tag: 'work' });
    const found = await conforming('search_memories', { query: 'budget hiring' });
    expect(JSON.stringify(found)).toContain(stored.id);
    await conforming('search_memories', { query: 'nothing matches this' });
    const got = await conforming('get_memory', { id: stored.id });
    expect(JSON.stringify(got)).toContain('Quarterly budget approved');
    await conforming('delete_memory', { id: stored.id });
  });

  it('still validate input: a bad argument is refused', async () => {
    const result = await alice.call('store_memory', { content: 42 });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toMatch(/content/);
  });
});
