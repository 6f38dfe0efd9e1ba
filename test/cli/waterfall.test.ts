/*
 * `memento ask --waterfall`: the turn just run, drawn from the client's spans and joined by
 * the spans its own MCP server wrote to the trace file before it exited.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMemento, tempDir } from '../helpers/memento.ts';

describe('memento ask --waterfall', () => {
  it('draws the whole turn, the server side included', async () => {
    const dir = await tempDir();
    try {
      const run = await runMemento(['ask', '--waterfall', 'remember that waterfalls show both sides'], {
        env: {
          MEMENTO_DATA_DIR: join(dir.path, 'data'),
          OTEL_SDK_DISABLED: 'false',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_METRICS_EXPORTER: 'none',
          MEMENTO_TRACE_FILE: join(dir.path, 'traces.jsonl'),
        },
      });
      expect(run.code).toBe(0);
      const traceId = /trace ([0-9a-f]{32})/.exec(run.stdout)?.[1];
      expect(traceId).toBeDefined();
      const drawing = run.stdout.slice(run.stdout.indexOf(`trace ${traceId}`, run.stdout.indexOf(`trace ${traceId}`) + 1));
      for (const row of [
        /client invoke_agent memento/,
        /client ├─ chat gpt-4o-mini intent/,
        /client ├─ tools\/call store_memory/,
        /server │ {2}└─ tools\/call store_memory/,
        /client └─ chat gpt-4o-mini summarize/,
        /= Azure .* · MCP .* · client /,
      ]) {
        expect(drawing).toMatch(row);
      }
    } finally {
      await dir.cleanup();
    }
  });
});
