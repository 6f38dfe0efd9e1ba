/*
 * Per-user conversation history: bounded, and never shared between users.
 */
import { describe, expect, it } from 'vitest';
import { History } from '../../src/client/history.ts';

describe('History', () => {
  it('keeps each user apart, with a stable conversation id per user', () => {
    const h = new History();
    h.add('alice', { user: 'hi', assistant: 'hello alice' });
    h.add('bob', { user: 'hey', assistant: 'hello bob' });
    expect(h.of('alice').exchanges).toEqual([{ user: 'hi', assistant: 'hello alice' }]);
    expect(h.of('bob').exchanges).toEqual([{ user: 'hey', assistant: 'hello bob' }]);
    expect(h.of('alice').id).not.toBe(h.of('bob').id);
    expect(h.of('alice').id).toBe(h.of('alice').id);
    expect(h.users()).toEqual(['alice', 'bob']);
  });

  it('drops the oldest exchanges past the count bound', () => {
    const h = new History(3, 1_000_000);
    for (let i = 0; i < 10; i++) h.add('u', { user: `q${i}`, assistant: `a${i}` });
    expect(h.of('u').exchanges.map((e) => e.user)).toEqual(['q7', 'q8', 'q9']);
  });

  it('drops the oldest exchanges past the size bound, but keeps the latest one however long', () => {
    const h = new History(100, 50);
    h.add('u', { user: 'short', assistant: 'ok' });
    h.add('u', { user: 'x'.repeat(30), assistant: 'y'.repeat(30) });
    expect(h.of('u').exchanges).toHaveLength(1);
    expect(h.of('u').exchanges[0]!.user).toBe('x'.repeat(30));
  });

  it('clears one user without touching another', () => {
    const h = new History();
    h.add('a', { user: '1', assistant: '1' });
    h.add('b', { user: '2', assistant: '2' });
    h.clear('a');
    expect(h.of('a').exchanges).toEqual([]);
    expect(h.of('b').exchanges).toHaveLength(1);
  });
});
