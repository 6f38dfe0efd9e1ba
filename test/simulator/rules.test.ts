/*
 * The rules as pure functions: message → tool calls, tool results → answer. Every row is a
 * promise docs/simulator.md makes to its readers.
 */
import { describe, expect, it } from 'vitest';
import { parseDateRange } from '../../src/simulator/dates.ts';
import { readToolResult } from '../../src/simulator/results.ts';
import { HELP_TEXT, MAX_ROUNDS, respond, type Reply, type RuleMessage } from '../../src/simulator/rules.ts';
import { classifyTools, type ToolSpec } from '../../src/simulator/tools.ts';
import { MEMENTO_TOOLS, NOW, RENAMED_TOOLS } from './fixtures.ts';

const specs = (tools: typeof MEMENTO_TOOLS): ToolSpec[] =>
  tools.map((t) => ({ name: t.function.name, description: t.function.description, parameters: t.function.parameters as ToolSpec['parameters'] }));
const TOOLS = specs(MEMENTO_TOOLS);
const RENAMED = specs(RENAMED_TOOLS);

const ask = (text: string, tools = TOOLS, extra: Partial<Parameters<typeof respond>[2]> = {}): Reply =>
  respond([{ role: 'system', content: 'You are Memento.' }, { role: 'user', content: text }], tools, { now: NOW, ...extra });

const calls = (reply: Reply) => (reply.kind === 'tool_calls' ? reply.calls : []);

describe('intents → tool calls (Memento tools)', () => {
  const yesterday = { since: '2024-07-15T00:00:00.000Z', until: '2024-07-15T23:59:59.999Z' };
  const table: [string, { name: string; arguments: Record<string, unknown> }[]][] = [
    ['remember that the dentist is on Friday', [{ name: 'store_memory', arguments: { content: 'the dentist is on Friday' } }]],
    ['Please remember buy milk #shopping #errands', [{ name: 'store_memory', arguments: { content: 'buy milk', tags: ['shopping', 'errands'] } }]],
    ['save the wifi password is hunter2, tagged home, wifi', [{ name: 'store_memory', arguments: { content: 'the wifi password is hunter2', tags: ['home', 'wifi'] } }]],
    ['note: call the plumber', [{ name: 'store_memory', arguments: { content: 'call the plumber' } }]],
    ['store this: the Berlin offsite moved to May 12', [{ name: 'store_memory', arguments: { content: 'the Berlin offsite moved to May 12' } }]],
    [
      'store this meeting summary: we agreed to ship the beta on Monday and review the budget in August',
      [
        {
          name: 'store_memory',
          arguments: { content: 'we agreed to ship the beta on Monday and review the budget in August', description: 'meeting summary' },
        },
      ],
    ],
    [
      'remember we agreed to ship the beta on Monday and review the budget in August',
      [
        {
          name: 'store_memory',
          arguments: {
            content: 'we agreed to ship the beta on Monday and review the budget in August',
            description: 'we agreed to ship the beta on Monday…',
          },
        },
      ],
    ],
    [
      'remember A; remember B',
      [
        { name: 'store_memory', arguments: { content: 'A' } },
        { name: 'store_memory', arguments: { content: 'B' } },
      ],
    ],
    [
      'remember the plumber comes at 9\nremember to buy bread #food\nremember Anna likes tulips',
      [
        { name: 'store_memory', arguments: { content: 'the plumber comes at 9' } },
        { name: 'store_memory', arguments: { content: 'to buy bread', tags: ['food'] } },
        { name: 'store_memory', arguments: { content: 'Anna likes tulips' } },
      ],
    ],
    [
      'store this meeting summary:\n- ship the beta Monday #work\n- budget review in August',
      [{ name: 'store_memory', arguments: { content: '- ship the beta Monday\n- budget review in August', description: 'meeting summary', tags: ['work'] } }],
    ],
    // Colons: only a leading "store/save … this <label>:" is a label; the rest is kept exactly.
    ['remember that the dentist is on Friday 9:30', [{ name: 'store_memory', arguments: { content: 'the dentist is on Friday 9:30' } }]],
    ['remember https://example.com/a:b', [{ name: 'store_memory', arguments: { content: 'https://example.com/a:b' } }]],
    ['remember the plan: ship on Monday', [{ name: 'store_memory', arguments: { content: 'the plan: ship on Monday' } }]],
    [
      'store this recipe: pancakes: flour, eggs, milk',
      [{ name: 'store_memory', arguments: { content: 'pancakes: flour, eggs, milk', description: 'recipe' } }],
    ],
    [
      'save the meeting notes: 10:30 standup: move it to 11',
      [{ name: 'store_memory', arguments: { content: '10:30 standup: move it to 11', description: 'meeting notes' } }],
    ],
    ['note the link https://example.com/x:y?a=1', [{ name: 'store_memory', arguments: { content: 'the link https://example.com/x:y?a=1' } }]],
    ['remember to call mom; she is home after 6', [{ name: 'store_memory', arguments: { content: 'to call mom; she is home after 6' } }]],
    ['what did I store yesterday?', [{ name: 'retrieve_memories', arguments: yesterday }]],
    ['What did I save today', [{ name: 'retrieve_memories', arguments: { since: '2024-07-16T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z' } }]],
    ['what did I store last week?', [{ name: 'retrieve_memories', arguments: { since: '2024-07-10T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z' } }]],
    ['what did I store on 2024-07-01?', [{ name: 'retrieve_memories', arguments: { since: '2024-07-01T00:00:00.000Z', until: '2024-07-01T23:59:59.999Z' } }]],
    ['show my last 5 memories', [{ name: 'retrieve_memories', arguments: { limit: 5 } }]],
    ['what did I store?', [{ name: 'retrieve_memories', arguments: {} }]],
    ['list my memories', [{ name: 'retrieve_memories', arguments: {} }]],
    ['list my memories tagged family', [{ name: 'retrieve_memories', arguments: { tag: 'family' } }]],
    ['search for dentist', [{ name: 'search_memories', arguments: { query: 'dentist' } }]],
    ['find my notes about the budget', [{ name: 'search_memories', arguments: { query: 'budget' } }]],
    ['look for "wifi password"', [{ name: 'search_memories', arguments: { query: 'wifi password' } }]],
    ['What do I know about Paris?', [{ name: 'search_memories', arguments: { query: 'Paris' } }]],
    ['what do I have about Berlin?', [{ name: 'search_memories', arguments: { query: 'Berlin' } }]],
    ['do you remember anything about tulips?', [{ name: 'search_memories', arguments: { query: 'tulips' } }]],
    ['show memory 20240715_143052_meeting', [{ name: 'get_memory', arguments: { id: '20240715_143052_meeting' } }]],
    ['forget the memory about the dentist', [{ name: 'search_memories', arguments: { query: 'dentist' } }]],
    ['delete memory 20240715_143052_meeting', [{ name: 'delete_memory', arguments: { id: '20240715_143052_meeting' } }]],
    ["show bob's memories", [{ name: 'retrieve_memories', arguments: { user_id: 'bob' } }]],
    ['what did alice store yesterday?', [{ name: 'retrieve_memories', arguments: { ...yesterday, user_id: 'alice' } }]],
    ["search bob's notes for salary", [{ name: 'search_memories', arguments: { query: 'salary', user_id: 'bob' } }]],
  ];
  it.each(table)('%j', (text, expected) => {
    expect(calls(ask(text))).toEqual(expected);
  });

  it("doesn't take a time of day for another user", () => {
    expect(calls(ask("show today's memories"))).toEqual([
      { name: 'retrieve_memories', arguments: { since: '2024-07-16T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z' } },
    ]);
  });

  it('answers in words when nothing asks for a tool', () => {
    expect(ask('hello')).toEqual({ kind: 'text', text: HELP_TEXT });
    expect(ask('what is the capital of France')).toEqual({ kind: 'text', text: HELP_TEXT });
  });

  it('says so when no tools are offered', () => {
    const reply = ask('remember buy milk', []);
    expect(reply.kind).toBe('text');
    expect(reply.kind === 'text' && reply.text).toMatch(/can't store memories right now: no tools were offered/);
  });

  it('obeys tool_choice none and a named tool', () => {
    expect(ask('remember buy milk', TOOLS, { toolChoice: 'none' }).kind).toBe('text');
    expect(calls(ask('what did I store?', TOOLS, { toolChoice: { name: 'search_memories' } }))).toEqual([]);
  });

  it('makes parallel stores one at a time when parallel_tool_calls is false', () => {
    const first = ask('remember A; remember B', TOOLS, { parallel: false });
    expect(calls(first)).toEqual([{ name: 'store_memory', arguments: { content: 'A' } }]);
    const second = respond(
      [
        { role: 'user', content: 'remember A; remember B' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'store_memory', arguments: '{"content":"A"}' }] },
        { role: 'tool', content: '{"id":"m1","content":"A"}', toolCallId: 'c1' },
      ],
      TOOLS,
      { now: NOW, parallel: false },
    );
    expect(calls(second)).toEqual([{ name: 'store_memory', arguments: { content: 'B' } }]);
  });
});

describe('tools are recognised by what they are, not their names', () => {
  it('maps each renamed tool to its role', () => {
    const box = classifyTools(RENAMED);
    expect(Object.fromEntries(Object.entries(box).map(([role, t]) => [role, t.name]))).toEqual({
      delete: 'forget',
      search: 'lookup',
      store: 'keep_note',
      retrieve: 'timeline',
    });
  });

  const table: [string, { name: string; arguments: Record<string, unknown> }[]][] = [
    // `priority` is required and unknown to the rules: it gets its first allowed value.
    ['remember buy milk #shopping #errands', [{ name: 'keep_note', arguments: { body: 'buy milk', labels: 'shopping, errands', priority: 'normal' } }]],
    ['search for dentist', [{ name: 'lookup', arguments: { phrase: 'dentist' } }]],
    ['what did I store yesterday?', [{ name: 'timeline', arguments: { start_date: '2024-07-15', end_date: '2024-07-15' } }]],
    ['forget the note about the dentist', [{ name: 'lookup', arguments: { phrase: 'dentist' } }]],
    ['show the 3 latest memories', [{ name: 'timeline', arguments: {} }]],
  ];
  it.each(table)('%j', (text, expected) => {
    expect(calls(ask(text, RENAMED))).toEqual(expected);
  });

  it('deletes by the renamed id property after the renamed search', () => {
    const reply = respond(
      [
        { role: 'user', content: 'forget the note about the dentist' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'lookup', arguments: '{"phrase":"dentist"}' }] },
        { role: 'tool', content: '[{"noteId":"n7","body":"dentist Friday 9:00"}]', toolCallId: 'c1' },
      ],
      RENAMED,
      { now: NOW },
    );
    expect(calls(reply)).toEqual([{ name: 'forget', arguments: { noteId: 'n7' } }]);
  });
});

describe('the two-round delete', () => {
  const user: RuleMessage = { role: 'user', content: 'forget the memory about the dentist' };
  const search: RuleMessage = { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'search_memories', arguments: '{"query":"dentist"}' }] };
  const hits = JSON.stringify({
    memories: [
      { id: 'm1', content: 'Buy milk', created_at: '2024-07-15T08:00:00Z' },
      { id: 'm2', content: 'Dentist on Friday at 9', created_at: '2024-07-15T09:30:00Z', tags: ['health'] },
    ],
  });

  it('deletes the best hit once the search result is back', () => {
    const reply = respond([user, search, { role: 'tool', content: hits, toolCallId: 'c1' }], TOOLS, { now: NOW });
    expect(reply).toEqual({ kind: 'tool_calls', calls: [{ name: 'delete_memory', arguments: { id: 'm2' } }] });
  });

  it('then summarises what it deleted', () => {
    const reply = respond(
      [
        user,
        search,
        { role: 'tool', content: hits, toolCallId: 'c1' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c2', name: 'delete_memory', arguments: '{"id":"m2"}' }] },
        { role: 'tool', content: '{"deleted":true,"id":"m2"}', toolCallId: 'c2' },
      ],
      TOOLS,
      { now: NOW },
    );
    expect(reply).toEqual({ kind: 'text', text: 'Deleted "Dentist on Friday at 9" (id m2).' });
  });

  it('deletes nothing when the search finds nothing', () => {
    const reply = respond([user, search, { role: 'tool', content: '{"memories":[]}', toolCallId: 'c1' }], TOOLS, { now: NOW });
    expect(reply).toEqual({ kind: 'text', text: 'I couldn\'t find a memory about "dentist", so nothing was deleted.' });
  });

  it('finds the id in a plain-text search result', () => {
    const text = 'Found 2 memories:\n- 20240715_080000_buy_milk: Buy milk\n- 20240715_093000_dentist: Dentist on Friday at 9';
    const reply = respond([user, search, { role: 'tool', content: text, toolCallId: 'c1' }], TOOLS, { now: NOW });
    expect(calls(reply)).toEqual([{ name: 'delete_memory', arguments: { id: '20240715_093000_dentist' } }]);
  });

  it(`stops asking for tools after ${MAX_ROUNDS} rounds`, () => {
    const messages: RuleMessage[] = [{ role: 'user', content: 'remember A; remember B; remember C; remember D; remember E' }];
    for (let i = 0; i < MAX_ROUNDS; i++) {
      messages.push({ role: 'assistant', content: '', toolCalls: [{ id: `c${i}`, name: 'store_memory', arguments: '{"content":"x"}' }] });
      messages.push({ role: 'tool', content: `{"id":"m${i}"}`, toolCallId: `c${i}` });
    }
    expect(respond(messages, TOOLS, { now: NOW, parallel: false }).kind).toBe('text');
  });
});

describe('summaries of tool results', () => {
  const turn = (text: string, call: { name: string; arguments: string }[], results: string[]): RuleMessage[] => [
    { role: 'user', content: text },
    { role: 'assistant', content: '', toolCalls: call.map((c, i) => ({ id: `c${i}`, ...c })) },
    ...results.map((r, i) => ({ role: 'tool', content: r, toolCallId: `c${i}` })),
  ];
  const answer = (messages: RuleMessage[], tools = TOOLS) => {
    const reply = respond(messages, tools, { now: NOW });
    expect(reply.kind).toBe('text');
    return reply.kind === 'text' ? reply.text : '';
  };

  const table: [string, RuleMessage[], string][] = [
    [
      'a store',
      turn('remember buy milk', [{ name: 'store_memory', arguments: '{"content":"buy milk"}' }], ['{"id":"20240716_100000_buy_milk","content":"buy milk"}']),
      'Stored "buy milk" (id 20240716_100000_buy_milk).',
    ],
    [
      'parallel stores, one refused',
      turn(
        'remember A; remember B',
        [
          { name: 'store_memory', arguments: '{"content":"A"}' },
          { name: 'store_memory', arguments: '{"content":"B"}' },
        ],
        ['{"memory":{"id":"m1","content":"A"}}', 'Error: content too large'],
      ),
      'Stored "A" (id m1).\nI couldn\'t store "B": content too large',
    ],
    [
      'a retrieve by date',
      turn('what did I store yesterday?', [{ name: 'retrieve_memories', arguments: '{}' }], [
        JSON.stringify({ count: 2, memories: [{ id: 'm1', content: 'Buy milk', created: '2024-07-15T08:00:00Z' }, { id: 'm2', content: 'Dentist', created: '2024-07-15T09:30:00Z', tags: ['health'] }] }),
      ]),
      'You stored 2 memories yesterday:\n- "Buy milk" (id m1, 2024-07-15 08:00)\n- "Dentist" (id m2, 2024-07-15 09:30, tags health)',
    ],
    [
      'one page of many, in the Memento server’s shape',
      turn('what did I store?', [{ name: 'retrieve_memories', arguments: '{}' }], [
        JSON.stringify({
          memories: [
            { id: '20240716-095000-000-aaaa0001', file: '20240716_095000_milk.txt', description: '', tags: [], created: '2024-07-16T09:50:00.000Z', size: 8, preview: 'Buy milk', truncated: false },
            { id: '20240716-094000-000-aaaa0002', file: '20240716_094000_mom.txt', description: 'family', tags: ['family'], created: '2024-07-16T09:40:00.000Z', size: 8, preview: 'Call mom', truncated: false },
          ],
          total: 25,
          nextCursor: '20240716-094000-000-aaaa0002',
        }),
      ]),
      'You stored 25 memories; the newest 2:\n- "Buy milk" (id 20240716-095000-000-aaaa0001, 2024-07-16 09:50)\n- "Call mom" (id 20240716-094000-000-aaaa0002, 2024-07-16 09:40, tags family)',
    ],
    ['an empty day', turn('what did I store yesterday?', [{ name: 'retrieve_memories', arguments: '{}' }], ['{"memories":[]}']), "You didn't store anything yesterday."],
    ['no memories at all', turn('list my memories', [{ name: 'retrieve_memories', arguments: '{}' }], ['[]']), "You haven't stored any memories yet."],
    [
      'a search',
      turn('search for milk', [{ name: 'search_memories', arguments: '{"query":"milk"}' }], ['{"results":[{"id":"m1","text":"Buy milk"}]}']),
      'I found 1 memory about "milk":\n- "Buy milk" (id m1)',
    ],
    ['an empty search', turn('search for milk', [{ name: 'search_memories', arguments: '{"query":"milk"}' }], ['{"results":[]}']), 'I found nothing about "milk".'],
    [
      "a refused look at someone else's memories",
      turn("show bob's memories", [{ name: 'retrieve_memories', arguments: '{"user_id":"bob"}' }], [
        'Error: access denied: you may only read your own memories (user "bob" is not the current user)',
      ]),
      'I couldn\'t do that: access denied: you may only read your own memories (user "bob" is not the current user)',
    ],
    [
      'an error as JSON',
      turn('remember x', [{ name: 'store_memory', arguments: '{"content":"x"}' }], ['{"error":{"message":"disk full"}}']),
      "I couldn't do that: disk full",
    ],
    [
      'a hint meant for the model, left out of the answer for people (no tool names)',
      turn('show memory 20240715_x9', [{ name: 'get_memory', arguments: '{"id":"20240715_x9"}' }], [
        'Error: No memory with id "20240715_x9" for this user. Use retrieve_memories or search_memories to find ids.',
      ]),
      'I couldn\'t do that: No memory with id "20240715_x9" for this user.',
    ],
    [
      'a whole MCP CallToolResult with isError',
      turn('remember x', [{ name: 'store_memory', arguments: '{"content":"x"}' }], ['{"content":[{"type":"text","text":"quota exceeded"}],"isError":true}']),
      "I couldn't do that: quota exceeded",
    ],
    [
      'a plain-text list',
      turn('list my memories', [{ name: 'retrieve_memories', arguments: '{}' }], ['1. Buy milk (2024-07-15)\n2. Dentist (2024-07-15)']),
      'Here is what you stored:\n1. Buy milk (2024-07-15)\n2. Dentist (2024-07-15)',
    ],
    [
      'a get',
      turn('show memory 20240715_x1', [{ name: 'get_memory', arguments: '{"id":"20240715_x1"}' }], ['{"id":"20240715_x1","content":"Buy milk","created_at":"2024-07-15T08:00:00Z"}']),
      'Memory 20240715_x1: "Buy milk" (2024-07-15 08:00)',
    ],
  ];
  it.each(table)('%s', (_name, messages, expected) => {
    expect(answer(messages)).toBe(expected);
  });

  it('reads the results the same when the summarizing request offers no tools', () => {
    const messages = turn('remember buy milk', [{ name: 'store_memory', arguments: '{"content":"buy milk"}' }], ['{"id":"m1"}']);
    expect(answer(messages, [])).toBe('Stored "buy milk" (id m1).');
  });
});

describe('date phrases (now = Tue 2024-07-16 10:00 UTC)', () => {
  const day = (d: string) => ({ since: `${d}T00:00:00.000Z`, until: `${d}T23:59:59.999Z` });
  const table: [string, { since?: string; until?: string; label: string } | undefined][] = [
    ['today', { ...day('2024-07-16'), label: 'today' }],
    ['yesterday', { ...day('2024-07-15'), label: 'yesterday' }],
    ['the day before yesterday', { ...day('2024-07-14'), label: 'the day before yesterday' }],
    ['3 days ago', { ...day('2024-07-13'), label: '3 days ago' }],
    ['last week', { since: '2024-07-10T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z', label: 'in the last week' }],
    ['in the past 3 days', { since: '2024-07-14T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z', label: 'in the last 3 days' }],
    ['this week', { since: '2024-07-15T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z', label: 'this week' }],
    ['last month', { since: '2024-06-01T00:00:00.000Z', until: '2024-06-30T23:59:59.999Z', label: 'last month' }],
    ['in May', { since: '2024-05-01T00:00:00.000Z', until: '2024-05-31T23:59:59.999Z', label: 'in May 2024' }],
    ['in July', { since: '2024-07-01T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z', label: 'in July 2024' }],
    ['in December', { since: '2023-12-01T00:00:00.000Z', until: '2023-12-31T23:59:59.999Z', label: 'in December 2023' }],
    ['this month', { since: '2024-07-01T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z', label: 'this month' }],
    ['last monday', { ...day('2024-07-15'), label: 'on Monday 2024-07-15' }],
    ['last tuesday', { ...day('2024-07-09'), label: 'on Tuesday 2024-07-09' }],
    ['on tuesday', { ...day('2024-07-16'), label: 'on Tuesday 2024-07-16' }],
    ['on 2024-07-01', { ...day('2024-07-01'), label: 'on 2024-07-01' }],
    ['on July 4', { ...day('2024-07-04'), label: 'on 2024-07-04' }],
    ['on 3 March', { ...day('2024-03-03'), label: 'on 2024-03-03' }],
    ['on August 1', { ...day('2023-08-01'), label: 'on 2023-08-01' }],
    ['since 2024-07-01', { since: '2024-07-01T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z', label: 'since 2024-07-01' }],
    ['before 2024-07-01', { until: '2024-06-30T23:59:59.999Z', label: 'before 2024-07-01' }],
    ['since yesterday', { since: '2024-07-15T00:00:00.000Z', until: '2024-07-16T23:59:59.999Z', label: 'since yesterday' }],
    ['between 2024-07-01 and 2024-07-03', { since: '2024-07-01T00:00:00.000Z', until: '2024-07-03T23:59:59.999Z', label: 'between 2024-07-01 and 2024-07-03' }],
    ['on 2024-02-30', undefined],
    ['nothing datey here', undefined],
  ];
  it.each(table)('%j', (text, expected) => {
    const range = parseDateRange(`what did I store ${text}?`, NOW);
    if (!expected) return expect(range).toBeUndefined();
    expect({ since: range?.since?.toISOString(), until: range?.until?.toISOString(), label: range?.label }).toEqual({
      since: expected.since,
      until: expected.until,
      label: expected.label,
    });
  });
});

describe('reading tool results', () => {
  it('accepts JSON in the shapes servers use', () => {
    expect(readToolResult('{"memories":[{"id":"a","content":"x"}]}').memories).toEqual([{ id: 'a', content: 'x' }]);
    expect(readToolResult('[{"memory_id":7,"text":"y","tags":"a, b"}]').memories).toEqual([{ id: '7', content: 'y', tags: ['a', 'b'] }]);
    expect(readToolResult('{"stored":{"id":"a","content":"x"}}').memories).toEqual([{ id: 'a', content: 'x' }]);
    expect(readToolResult('{"content":[{"type":"text","text":"ok"}],"structuredContent":{"items":[{"id":"b","body":"z"}]}}').memories).toEqual([
      { id: 'b', content: 'z' },
    ]);
  });

  it('tells errors from results', () => {
    expect(readToolResult('Error: refused').error).toBe('refused');
    expect(readToolResult('{"ok":false,"message":"nope"}').error).toBe('nope');
    expect(readToolResult('{"isError":true,"message":"x"}').ok).toBe(false);
    expect(readToolResult('Stored memory 20240716_100000_milk.').ok).toBe(true);
    expect(readToolResult('Stored memory 20240716_100000_milk.').memories[0]?.id).toBe('20240716_100000_milk');
  });
});
