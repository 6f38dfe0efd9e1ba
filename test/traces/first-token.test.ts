/*
 * The time to the first answer token, where a person reads a turn: the waterfall's header
 * (from the root's memento.turn.time_to_answer_start) and the turn summary behind
 * `traces list --json` and the conversation view.
 */
import { describe, expect, it } from 'vitest';
import { turnSummary } from '../../src/traces/analysis.ts';
import { renderWaterfall } from '../../src/traces/waterfall.ts';
import { spansOf, T0 } from './fixtures.ts';

describe('time to first token', () => {
  it('heads the waterfall and is in the turn summary', async () => {
    const spans = await spansOf({ startMs: T0, ms: 1000, firstTokenMs: 420, chats: [{ phase: 'intent', at: 0, ms: 900, input: 1, output: 1 }] });
    const header = renderWaterfall(spans, { width: 120, color: false }).split('\n')[0];
    expect(header).toMatch(/^trace [0-9a-f]{32} {2}.* {2}1\.00 s {2}first token 420 ms {2}\d+ spans$/);
    expect(turnSummary(spans).firstTokenMs).toBe(420);
  });

  it('is absent, not zero, when no answer token was shown', async () => {
    const spans = await spansOf({ startMs: T0, ms: 1000, errorType: 'timeout', chats: [{ phase: 'intent', at: 0, ms: 900 }] });
    expect(renderWaterfall(spans, { width: 120, color: false }).split('\n')[0]).not.toContain('first token');
    expect(turnSummary(spans).firstTokenMs).toBeUndefined();
  });
});
