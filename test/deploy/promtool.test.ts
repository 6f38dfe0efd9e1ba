/*
 * Runs scripts/check-prometheus.sh — promtool's rule check, the alert unit tests and the
 * config check — as CI does. promtool is required, not optional: .ci/run installs Debian's
 * `prometheus` package when it is missing, and a developer without it gets told how.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/memento.ts';
import { repoPath } from './stack.ts';

function promtoolPresent(): void {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(
      'promtool is not on PATH, so the alert rules cannot be checked. Install it with ' +
        '`apt-get install --no-install-recommends prometheus` (Debian/Ubuntu); CI (.ci/run) installs it itself.',
    );
  }
}

describe('promtool', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('passes scripts/check-prometheus.sh: rules, their unit tests and the config', () => {
    promtoolPresent();
    const run = spawnSync('sh', [repoPath('scripts/check-prometheus.sh')], { encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('check-prometheus: all passed');
    for (const step of ['check rules', 'test rules', 'check config']) expect(run.stdout).toContain(`promtool ${step}`);
  });

  it('notices when a threshold changes under its unit tests', async () => {
    promtoolPresent();
    const dir = await tempDir('memento-promtool-');
    cleanups.push(dir.cleanup);
    cpSync(repoPath('deploy/prometheus'), dir.path, { recursive: true });
    const rules = join(dir.path, 'alerts.yml');
    const original = readFileSync(rules, 'utf8');
    const loosened = original.replace(/\) > 10000\n/, ') > 20000\n');
    expect(loosened).not.toBe(original);
    writeFileSync(rules, loosened);
    const run = spawnSync('promtool', ['test', 'rules', join(dir.path, 'alerts.test.yml')], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stdout + run.stderr).toContain('MementoSlowTurns');
  });
});
