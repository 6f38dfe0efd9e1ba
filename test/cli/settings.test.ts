/*
 * The settings table (src/config.ts) is the single source: `memento --help` lists its rows,
 * the flags' help and defaults come from it, every reader parses through it, and a malformed
 * value is one line naming the variable.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  backedBy,
  ConfigError,
  environment,
  FLAG_DEFAULTS,
  OTEL_SETTINGS,
  SETTINGS,
  setting,
  shownDefault,
} from '../../src/config.ts';
import { otelSetting } from '../../src/telemetry/otel-env.ts';
import { runMemento } from '../helpers/memento.ts';

/** Commander wraps long help lines; compare with the wrapping undone. */
const unwrap = (text: string) => text.replace(/\s+/g, ' ');

describe('memento --help', () => {
  it('lists every row of the table, in order, with its help and default', async () => {
    const run = await runMemento(['--help']);
    expect(run.code).toBe(0);
    const lines = run.stdout.slice(run.stdout.indexOf('Environment')).split('\n').filter((l) => /^ {2}[A-Z]/.test(l));
    const rows = environment();
    expect(lines.map((l) => l.trim().split(/\s+/)[0])).toEqual(rows.map((r) => r.name));
    for (const [i, row] of rows.entries()) {
      expect(lines[i]).toContain(row.help);
      expect(lines[i]).toContain(`[${row.shown}]`);
    }
    expect(rows.map((r) => r.name)).toContain(OTEL_SETTINGS.sdkDisabled.name);
  });

  it("takes the flags' defaults and their variables from the table", async () => {
    const serve = unwrap((await runMemento(['serve', '--help'])).stdout);
    expect(serve).toContain(`(default: ${FLAG_DEFAULTS.servePort})`);
    expect(serve).toContain(`(default: "${FLAG_DEFAULTS.host}")`);
    expect(serve).toContain(`(default: ${FLAG_DEFAULTS.sessionTimeoutS})`);
    expect(serve).toContain(`(default: ${FLAG_DEFAULTS.maxSessions})`);
    expect(serve).toContain(`(default: ${FLAG_DEFAULTS.maxContentBytes})`);
    expect(serve).toContain(`storage root ${backedBy(SETTINGS.dataDir)}`);

    const simulator = unwrap((await runMemento(['simulator', '--help'])).stdout);
    expect(simulator).toContain(`(default: ${FLAG_DEFAULTS.simulatorPort})`);
    for (const row of [SETTINGS.simLatencyMs, SETTINGS.simJitterMs, SETTINGS.simFailRate, SETTINGS.simRetryAfterMs, SETTINGS.simApiKey]) {
      expect(simulator).toContain(backedBy(row));
    }
    expect(backedBy(SETTINGS.simRetryAfterMs)).toBe('[MEMENTO_SIMULATOR_RETRY_AFTER_MS or 1000]');

    const list = unwrap((await runMemento(['traces', 'list', '--help'])).stdout);
    expect(list).toContain(`(default: ${FLAG_DEFAULTS.tracesLimit})`);
    expect(list).toContain(`trace file ${backedBy(SETTINGS.traceFile)}`);
  });
});

describe('reading a setting', () => {
  it('parses true/false one way for every boolean', () => {
    for (const raw of ['true', 'ON', 'yes', '1']) expect(setting(SETTINGS.stream, { MEMENTO_STREAM: raw })).toBe(true);
    for (const raw of ['false', 'Off', 'no', '0']) expect(setting(SETTINGS.stream, { MEMENTO_STREAM: raw })).toBe(false);
    expect(setting(SETTINGS.stream, {})).toBe(true);
    expect(() => setting(SETTINGS.stream, { MEMENTO_STREAM: 'maybe' })).toThrow(
      new ConfigError('MEMENTO_STREAM must be true or false (on/off, yes/no, 1/0), got "maybe".'),
    );
    // The trace file's "off" is the same false words.
    for (const raw of ['off', 'false', '0', 'no']) expect(setting(SETTINGS.traceFile, { MEMENTO_TRACE_FILE: raw })).toBeUndefined();
  });

  it('gives the default when unset or blank, computed from the environment when it depends on it', () => {
    expect(setting(SETTINGS.modelMaxRetries, { MEMENTO_MODEL_MAX_RETRIES: '  ' })).toBe(3);
    expect(setting(SETTINGS.traceFile, { XDG_STATE_HOME: '/state' })).toBe('/state/memento/traces.jsonl');
    expect(setting(SETTINGS.historyFile, { HOME: '/home/a' })).toBe('/home/a/.local/state/memento/chat_history');
    expect(shownDefault(SETTINGS.modelMaxRetries)).toBe('3');
  });

  it('refuses malformed values with one line naming the variable', () => {
    expect(() => setting(SETTINGS.modelTimeoutMs, { MEMENTO_MODEL_TIMEOUT_MS: '5s' })).toThrow(/^MEMENTO_MODEL_TIMEOUT_MS must be a whole number from 1, got "5s"\.$/);
    expect(() => setting(SETTINGS.traceFileMaxBytes, { MEMENTO_TRACE_FILE_MAX_BYTES: '10' })).toThrow(/MEMENTO_TRACE_FILE_MAX_BYTES .* from 4096/);
    expect(() => setting(SETTINGS.mcpUrl, { MEMENTO_MCP_URL: 'localhost:8000' })).toThrow('MEMENTO_MCP_URL must be an http(s) URL, got "localhost:8000".');
    expect(() => setting(SETTINGS.logLevel, { MEMENTO_LOG_LEVEL: 'loud' })).toThrow(/MEMENTO_LOG_LEVEL must be one of debug, info/);
  });

  it('stops `memento ask` with exit status 2 and that line before anything is sent', async () => {
    const run = await runMemento(['ask', 'hello'], { env: { MEMENTO_MODEL_TIMEOUT_MS: 'soon' } });
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe('memento: MEMENTO_MODEL_TIMEOUT_MS must be a whole number from 1, got "soon".');
    expect(run.stdout).toBe('');
  });
});

describe('OTEL_* rows', () => {
  afterEach(() => vi.unstubAllEnvs());

  it("are read by @opentelemetry/core's helpers: only `true` is true, a bad number is the default", () => {
    vi.stubEnv('OTEL_SDK_DISABLED', ' TRUE ');
    expect(otelSetting(OTEL_SETTINGS.sdkDisabled)).toBe(true);
    vi.stubEnv('OTEL_SDK_DISABLED', '1');
    expect(otelSetting(OTEL_SETTINGS.sdkDisabled)).toBe(false);
    vi.stubEnv('OTEL_BSP_MAX_QUEUE_SIZE', 'lots');
    expect(otelSetting(OTEL_SETTINGS.bspQueue)).toBe(16_384);
    vi.stubEnv('OTEL_BSP_MAX_QUEUE_SIZE', '100');
    expect(otelSetting(OTEL_SETTINGS.bspQueue)).toBe(100);
    vi.stubEnv('OTEL_TRACES_EXPORTER', ' none , ');
    expect(otelSetting(OTEL_SETTINGS.tracesExporter)).toEqual(['none']);
  });
});
