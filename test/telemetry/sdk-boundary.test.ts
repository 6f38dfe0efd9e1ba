/*
 * The application does not import the SDK: only telemetry/setup.ts loads it, and only the
 * preload imports setup.ts, dynamically, for commands that make spans. Everything else
 * imports `@opentelemetry/api` and telemetry/handle.ts. Read from the sources' import
 * statements, so a new static import of the SDK (which would cost `memento --help` and
 * `memento traces` the SDK's ~0.3 s load) fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/memento.ts';

const SRC = join(ROOT, 'src');
/** Packages that are the SDK (or load it); `@opentelemetry/api` and semantic-conventions are not. */
const SDK = /^@opentelemetry\/(sdk-|exporter-|instrumentation|resources|core|otlp-)/;
/**
 * The files allowed to load SDK packages: the set-up and the exporters (and the batched
 * histogram's metric producer) it builds, and
 * otel-env.ts, which reads the OTEL_* variables through @opentelemetry/core's own env helpers
 * (so they mean what they mean to the SDK); the span code that uses it runs only in the
 * commands that started the SDK anyway, and the entry-point test below keeps it out of
 * `--help` and `traces`.
 */
// http-server.ts is the HTTP server span setup.ts builds: it computes its attributes with
// instrumentation-http's own functions, and only setup.ts imports it.
// doctor.ts takes suppressTracing from @opentelemetry/core for its own probes; it runs as the
// client, with the SDK started, and is imported only when `memento doctor` runs.
const SDK_FILES = new Set(['telemetry/setup.ts', 'telemetry/batched-histogram.ts', 'telemetry/otlp-json.ts', 'telemetry/otlp-http.ts', 'telemetry/trace-file.ts', 'telemetry/collector.ts', 'telemetry/otel-env.ts', 'telemetry/http-server.ts', 'cli/commands/doctor.ts']);

interface Imports {
  /** Static value imports (not `import type`, not `await import()`). */
  values: string[];
  dynamic: string[];
}

function importsOf(file: string): Imports {
  const text = readFileSync(file, 'utf8');
  const values = [...text.matchAll(/^import\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
  const exports = [...text.matchAll(/^export\s+(?!type\s)[^'";]*?\sfrom\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
  const dynamic = [...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
  return { values: [...values, ...exports], dynamic };
}

const files = readdirSync(SRC, { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile() && e.name.endsWith('.ts'))
  .map((e) => join(e.parentPath, e.name));
const rel = (file: string) => relative(SRC, file);

/** Every module reachable from `entry` through static value imports. */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of importsOf(file).values) if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
  };
  visit(entry);
  return seen;
}

describe('the SDK stays behind the preload', () => {
  it('no source file outside the set-up imports an SDK package', () => {
    const offenders = files
      .filter((f) => !SDK_FILES.has(rel(f)))
      .flatMap((f) => importsOf(f).values.filter((spec) => SDK.test(spec)).map((spec) => `${rel(f)} → ${spec}`));
    expect(offenders).toEqual([]);
  });

  it('setup.ts is imported by nothing statically, and only by the preload at all', () => {
    const importers = files.filter((f) => {
      const { values, dynamic } = importsOf(f);
      return [...values, ...dynamic].some((spec) => spec.endsWith('/setup.ts') || spec === './setup.ts');
    });
    expect(importers.map(rel)).toEqual(['telemetry/preload.ts']);
    expect(importsOf(join(SRC, 'telemetry/preload.ts')).values.some((s) => s.endsWith('setup.ts'))).toBe(false);
  });

  it('`memento --help`, `--version` and `traces` reach no SDK file from their entry points', () => {
    for (const entry of ['cli.ts', 'telemetry/preload.ts', 'cli/commands/traces.ts']) {
      const reached = [...staticClosure(join(SRC, entry))].map(rel).filter((f) => SDK_FILES.has(f));
      expect(reached, entry).toEqual([]);
    }
  });

  it('the check would notice: setup.ts itself imports the SDK', () => {
    expect(importsOf(join(SRC, 'telemetry/setup.ts')).values.some((s) => SDK.test(s))).toBe(true);
  });
});
