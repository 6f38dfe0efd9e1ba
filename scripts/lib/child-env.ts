/*
 * Shared by the tests and the benchmarks (never by the product): the environment a child
 * `memento` process runs in, so that nothing from the developer's shell (OTEL_*, AZURE_*,
 * MEMENTO_*) leaks into a test or a measurement.
 */

/**
 * A clean environment for a child `memento`: no Azure or MCP settings leak in from the
 * developer's shell, telemetry off unless the caller turns it on, no trace file, quiet logs.
 */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TERM', 'NODE_COMPILE_CACHE']) {
    if (process.env[key] !== undefined) env[key] = process.env[key];
  }
  Object.assign(env, {
    OTEL_SDK_DISABLED: 'true',
    MEMENTO_LOG_LEVEL: 'warn',
    MEMENTO_TRACE_FILE: 'off',
    // Conversation history stays in memory unless the caller gives it a place of its own.
    MEMENTO_HISTORY: 'off',
    NO_COLOR: '1',
    ...extra,
  });
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}
