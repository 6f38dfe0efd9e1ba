/*
 * The OTEL_* rows of the settings table (config.ts), read through @opentelemetry/core's own
 * env helpers so that Memento and the SDK agree on what a value means (`true` is the only
 * true, a malformed number falls back to the default with a diag warning). Kept apart from
 * config.ts so that commands that make no spans never load @opentelemetry/core.
 */
import { getBooleanFromEnv, getNumberFromEnv, getStringFromEnv, getStringListFromEnv } from '@opentelemetry/core';
import { OTEL_SETTINGS, type OtelKind, type OtelSetting, type OtelValue } from '../config.ts';
import type { SemconvSet } from './semconv.ts';

const READERS: { [K in OtelKind]: (name: string) => OtelValue[K] | undefined } = {
  // getBooleanFromEnv answers false for unset; the row's default decides then.
  boolean: (name) => (getStringFromEnv(name) === undefined ? undefined : getBooleanFromEnv(name)),
  number: getNumberFromEnv,
  string: getStringFromEnv,
  list: getStringListFromEnv,
};

/** The value of an OTEL_* row: what core's helper reads, else the row's default. */
export function otelSetting<K extends OtelKind, D extends OtelValue[K] | undefined>(s: OtelSetting<K, D>): OtelValue[K] | D {
  return (READERS[s.otel] as (name: string) => OtelValue[K] | undefined)(s.name) ?? s.default;
}

/** OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: record prompts, answers and tool arguments. */
export function captureContent(): boolean {
  return otelSetting(OTEL_SETTINGS.captureContent);
}

/** OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental (a comma-separated list) picks the newest names. */
export function semconvSet(): SemconvSet {
  return otelSetting(OTEL_SETTINGS.semconvOptIn).some((v) => v.toLowerCase() === 'gen_ai_latest_experimental') ? 'latest' : 'v1.41';
}
