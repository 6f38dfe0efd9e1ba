/** The collector settings every stack test starts from (otel-collector.yaml's `${env:…}` names). */
export const BASE_COLLECTOR_ENV: Record<string, string> = {
  OTEL_COLLECTOR_SPAN_METRICS_FLUSH: '1s',
  OTEL_COLLECTOR_SAMPLING_PERCENT: '100',
  // Long enough for both processes' batches (the SDKs export every second), short enough for tests.
  OTEL_COLLECTOR_SAMPLING_WAIT: '4s',
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'false',
};
