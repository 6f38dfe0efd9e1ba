/*
 * A conversation in the chat: `/trace all` shows the current conversation's turns in order,
 * and the trace file the chat leaves behind lets `memento traces conversations` find the
 * same conversation, with gen_ai.conversation.id on every span the conventions allow.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTraceFile } from '../../src/traces/file.ts';
import { runMemento, startInteractive, tempDir } from '../helpers/memento.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('memento-conversation-');
});
afterAll(() => dir.cleanup());

const env = () => ({
  MEMENTO_DATA_DIR: join(dir.path, 'data'),
  MEMENTO_HISTORY: 'on',
  MEMENTO_HISTORY_DIR: join(dir.path, 'history'),
  OTEL_SDK_DISABLED: 'false',
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_METRICS_EXPORTER: 'none',
  OTEL_BSP_SCHEDULE_DELAY: '50',
  MEMENTO_TRACE_FILE: join(dir.path, 'traces.jsonl'),
  TZ: 'UTC',
});

describe('a conversation', () => {
  it('/trace all shows its turns; traces conversations finds it in the trace file', async () => {
    const s = startInteractive(['chat', '--user', 'gina'], { env: env() });
    const traceIds: string[] = [];
    try {
      for (const line of ['remember that the boiler is serviced in March', 'what did I store?']) {
        const mark = s.stdout().length;
        s.send(line);
        traceIds.push((await s.waitFor(/trace ([0-9a-f]{32})/, { since: mark }))[1]!);
      }
      const mark = s.stdout().length;
      s.send('/trace all');
      const shown = await s.waitFor(/conversation ([0-9a-f-]{36}) {2}gina {2}2 turns[\s\S]*Time across the conversation: .*\n/, { since: mark });
      const rows = shown[0].split('\n').filter((l) => /^#\d/.test(l));
      expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['#1', '#2']);
      expect(rows[0]).toContain(traceIds[0]!.slice(0, 8));
      expect(rows[0]).toMatch(/store_memory$/);
      expect(rows[1]).toContain(traceIds[1]!.slice(0, 8));
      expect(rows[1]).toMatch(/retrieve_memories$/);
      const conversationId = shown[1]!;
      s.send('/quit');
      expect(await s.end()).toBe(0);

      const listed = await runMemento(['traces', 'conversations', '--json'], { env: env() });
      expect(listed.code, listed.stderr).toBe(0);
      const [conversation] = JSON.parse(listed.stdout).conversations;
      expect(conversation).toMatchObject({ conversationId, user: 'gina', turns: 2, toolCalls: 2, errors: 0 });

      // Every client span the conventions allow it on carries the id: the root, the chat
      // calls and the tools/call (execute_tool) spans.
      const { spans } = await readTraceFile(join(dir.path, 'traces.jsonl'));
      const allowed = spans.filter(
        (sp) => sp.service === 'memento-client' && ['invoke_agent', 'chat', 'execute_tool'].includes(String(sp.attributes['gen_ai.operation.name'])),
      );
      expect(allowed.length).toBe(2 /* roots */ + 4 /* chats */ + 2 /* tools */);
      for (const sp of allowed) expect(sp.attributes['gen_ai.conversation.id'], sp.name).toBe(conversationId);
    } finally {
      s.child.kill();
    }
  }, 150_000);
});
