/*
 * The README's "Inspecting turns" and "Watching the wire" sections. What they promise is checked against the files and code it describes: the
 * commands exist with those flags, the example traceparent leads to the link shown, and
 * the ports are the stack's.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { jaegerTraceLink } from '../../src/config.ts';
import { runMemento } from '../helpers/memento.ts';
import { readText, repoPath, ROOT } from './stack.ts';

const doc = readText('README.md');

function section(heading: string): string {
  const start = doc.indexOf(`## ${heading}\n`);
  expect(start, `section "## ${heading}"`).toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n## ', start + 3);
  return doc.slice(start, next < 0 ? undefined : next);
}

describe('README.md', () => {
  it('has the two sections', () => {
    section('Inspecting turns');
    section('Watching the wire');
  });

  it('"Inspecting turns": start, run, find in Jaeger, compare, alerts', () => {
    const s = section('Inspecting turns');
    for (const text of [
      'docker compose up -d --build',
      'docker compose run --rm client',
      'MEMENTO_MCP_TOKEN',
      'memento-client',
      'invoke_agent memento',
      'memento.phase=intent',
      'Compare Traces',
      'Monitor',
      'memento traces stats --jaeger http://localhost:16686',
      'traces_span_metrics_duration_milliseconds_bucket',
    ]) {
      expect(s, text).toContain(text);
    }
  });

  it('"Watching the wire": filters for the MCP port and for Azure’s', () => {
    const s = section('Watching the wire');
    expect(s).toMatch(/tcpdump [^\n]*'tcp port 8000'/);
    expect(s).toMatch(/tcpdump [^\n]*'tcp port 443/);
    expect(s).toMatch(/tshark [^\n]*'tcp port 8000'/);
    expect(s).toMatch(/tshark [^\n]*'tcp port 443'/);
  });

  it('leads from the traceparent of a captured request to the link the client prints', () => {
    const s = section('Watching the wire');
    const header = /traceparent: (00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2})/.exec(s);
    expect(header).not.toBeNull();
    const traceId = header![2]!;
    const meta = /"_meta":\{[^}]*"traceparent":"00-([0-9a-f]{32})-[0-9a-f]{16}-01"/.exec(s);
    expect(meta?.[1], 'the body carries the same trace id').toBe(traceId);
    expect(s).toContain(jaegerTraceLink(traceId, {}));
    expect(s).toContain(`$MEMENTO_JAEGER_URL/trace/${traceId}`);
    expect(s).toContain(`memento traces show ${traceId.slice(0, 8)}`);
  });

  it('shows the client’s output line the way the client prints it', () => {
    // The id, then where to read it: on a line of its own when both would pass 80 columns.
    const m = /^trace ([0-9a-f]{32})(?: {2}|\n)(\S+)$/m.exec(section('Inspecting turns'));
    expect(m).not.toBeNull();
    expect(m![2]).toBe(jaegerTraceLink(m![1]!, {}));
  });

  it('links to files that exist, relative to the repository root where the README lives', () => {
    for (const m of doc.matchAll(/\]\(([^)#]+)\)/g)) {
      const target = m[1] as string;
      if (/^[a-z]+:/.test(target)) continue;
      expect(existsSync(repoPath(target)), target).toBe(true);
    }
  });

  it('links only inside the repository, and the design contract it points to is here', () => {
    for (const m of doc.matchAll(/\]\(([^)#]+)\)/g)) {
      const target = m[1] as string;
      if (/^[a-z]+:/.test(target)) continue;
      expect(relative(ROOT, repoPath(target)).startsWith('..'), target).toBe(false);
    }
    expect(doc).toContain('](docs/design.md)');
    expect(readText('docs/design.md')).toContain('## The trace of one turn');
  });

  it('stands alone: no source, test, script or benchmark reads a folder beside the repository', () => {
    const outside = /\.\.\/shared\b|\bshared\/(DESIGN|schemas)/;
    const offenders: string[] = [];
    // bench/results is per machine and out of git (.gitignore): after a benchmark run it holds
    // the seeded stores, a GB of memory files that are no source of the project.
    const ignored = new Set([repoPath('bench/results')]);
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = join(dir, entry.name);
        if (entry.isDirectory() && !ignored.has(file)) walk(file);
        if (!entry.isFile() || file === fileURLToPath(import.meta.url)) continue;
        if (outside.test(readFileSync(file, 'utf8'))) offenders.push(relative(ROOT, file));
      }
    };
    for (const dir of ['src', 'test', 'scripts', 'bench', 'bin', '.ci']) walk(repoPath(dir));
    expect(offenders).toEqual([]);
  });

  it('uses flags the commands have', async () => {
    const stats = await runMemento(['traces', 'stats', '--help']);
    expect(stats.code).toBe(0);
    for (const f of ['--jaeger <url>', '--slow <ms>']) expect(stats.stdout).toContain(f);
    const show = await runMemento(['traces', 'show', '--help']);
    expect(show.stdout).toContain('--jaeger <url>');
  });
});
