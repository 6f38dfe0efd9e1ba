/*
 * Every documented way to start the chat and `ask` is traced as the client (issue: `memento
 * --user alice` and `memento -u alice` once turned client tracing off, because telemetry
 * parsed argv on its own and took `alice` for the command). The role now comes from the
 * command table; this runs each form as written, with tracing on, and finds its client turn
 * in the trace file.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTraceFile } from '../../src/traces/index.ts';
import { runMemento, tempDir } from '../helpers/memento.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(() => dir.cleanup());

const traced = () => ({
  OTEL_SDK_DISABLED: undefined,
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_METRICS_EXPORTER: 'none',
  MEMENTO_TRACE_FILE: join(dir.path, 'traces.jsonl'),
  MEMENTO_DATA_DIR: join(dir.path, 'data'),
});

// Each form names its own user, so its turn can be told apart in the shared trace file.
const forms: { args: (user: string) => string[]; user: string; input?: string }[] = [
  { user: 'form-bare', args: () => [], input: 'what did I store?\n' },
  { user: 'form-long', args: (u) => ['--user', u], input: 'what did I store?\n' },
  { user: 'form-short', args: (u) => ['-u', u], input: 'what did I store?\n' },
  { user: 'form-equals', args: (u) => [`--user=${u}`], input: 'what did I store?\n' },
  { user: 'form-chat-long', args: (u) => ['chat', '--user', u], input: 'what did I store?\n' },
  { user: 'form-chat-short', args: (u) => ['chat', '-u', u], input: 'what did I store?\n' },
  { user: 'form-ask-before', args: (u) => ['ask', '--user', u, 'what did I store?'] },
  { user: 'form-ask-after', args: (u) => ['ask', 'what did I store?', '-u', u] },
  { user: 'form-ask-equals', args: (u) => ['ask', `--user=${u}`, 'what', 'did', 'I', 'store?'] },
];

describe('every documented way to start a turn is traced as the client', () => {
  it('chat (bare, --user, -u, --user=, chat --user, chat -u) and ask (flags before and after the text)', async () => {
    const runs = await Promise.all(
      forms.map((f) =>
        runMemento(f.args(f.user), {
          input: f.input,
          // The bare form takes the user from the environment, as documented.
          env: { ...traced(), ...(f.args(f.user).length === 0 ? { MEMENTO_USER: f.user } : {}) },
          timeoutMs: 90_000,
        }),
      ),
    );
    runs.forEach((r, i) => expect(r.code, `${forms[i]!.args(forms[i]!.user).join(' ')}\n${r.stderr}`).toBe(0));

    const { spans } = await readTraceFile(join(dir.path, 'traces.jsonl'));
    const roots = spans.filter((s) => s.service === 'memento-client' && s.name === 'invoke_agent memento');
    for (const f of forms) {
      const root = roots.find((s) => s.attributes['memento.user.id'] === f.user);
      expect(root, `a client turn for: memento ${f.args(f.user).join(' ')}`).toBeDefined();
      // The server joined the same trace: the turn is whole, two services.
      const services = new Set(spans.filter((s) => s.traceId === root!.traceId).map((s) => s.service));
      expect([...services].sort()).toEqual(['memento-client', 'memento-mcp-server']);
    }
  }, 180_000);
});
