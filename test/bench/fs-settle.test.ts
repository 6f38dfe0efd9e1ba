/*
 * The benchmarks' file-system probe: it creates real files and keeps them (a delete would
 * start the kernel's recently-deleted clock again), and a probe that is not asked to wait
 * reports the state it found without waiting. Nothing about speed is asserted.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFsState, probeCreate, settleFileSystem, SETTLED_MS } from '../../bench/lib/fs-settle.ts';

describe('file-system probe', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'memento-fs-probe-test-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('times real creations in a new directory and keeps the files', async () => {
    const p50 = probeCreate(root);
    expect(p50).toBeGreaterThan(0);
    const dirs = await readdir(root);
    expect(dirs).toHaveLength(1);
    expect(await readdir(join(root, dirs[0]!))).toHaveLength(100);
  });

  it('reports without waiting when not asked to wait, and says when the figures are suspect', async () => {
    const state = await settleFileSystem(root, false, 'test');
    expect(state.waitedS).toBeLessThan(1);
    expect(state.settled).toBe(state.createP50Ms <= SETTLED_MS);
    expect(describeFsState({ createP50Ms: 0.02, waitedS: 0, settled: true })).toBe('File creation when it began: p50 0.020 ms.');
    expect(describeFsState({ createP50Ms: 0.4, waitedS: 360, settled: false })).toMatch(/after waiting 360 s .*over 0\.05 ms/);
  });
});
