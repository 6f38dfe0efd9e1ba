/*
 * One real stack for all stack tests: the collector built from deploy/collector, Jaeger v2
 * built from its Go module and Debian's Prometheus, started by scripts/stack/run.ts exactly
 * as `npm run stack -- up` starts them (building what the cache lacks), on free loopback
 * ports in a temp directory. .ci/run builds first, printing how long that took.
 *
 * Settings that differ from `npm run stack`, all through the configs' own variables, so the
 * files under test are the shipped ones:
 *   - Prometheus scrapes and evaluates every second, and the span-metrics connector flushes
 *     every second, so a test sees a series or an alert in seconds rather than minutes;
 *   - the collector keeps every trace (sampling share 100 %), except in sampling.test.ts;
 *   - Prometheus also loads a test copy of the shipped alert rules with lower thresholds
 *     (test-rules.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { readState, startStack, stopStack, type StackState } from '../../scripts/stack/run.ts';
import { SHIPPED_RULES, testRules } from './test-rules.ts';
import { BASE_COLLECTOR_ENV } from './settings.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackState;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => process.stderr.write(`stack: ${line}\n`);
  const dir = await mkdtemp(join(tmpdir(), 'memento-stack-test-'));
  const rules = join(dir, 'alerts.test-copy.yml');
  await writeFile(rules, testRules());
  const state = await startStack({
    dir,
    ruleFiles: [SHIPPED_RULES, rules],
    prometheusInterval: '1s',
    collectorEnv: BASE_COLLECTOR_ENV,
    log,
  });
  project.provide('stack', state);
  return async () => {
    // The state file, not `state`: a test may have restarted a program under a new pid.
    await stopStack((await readState(dir)) ?? state);
    if (!process.env.MEMENTO_STACK_KEEP) await rm(dir, { recursive: true, force: true });
  };
}
