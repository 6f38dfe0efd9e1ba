/*
 * The metric instruments Memento records, created on first use: the metrics API has no proxy
 * provider, so an instrument made before the SDK registered its MeterProvider would stay a
 * no-op for the life of the process.
 */
import { metrics, type Attributes, type Counter, type Histogram } from '@opentelemetry/api';
import {
  BUCKETS_GEN_AI_OPERATION_DURATION_S,
  BUCKETS_GEN_AI_TOKEN_USAGE,
  BUCKETS_MCP_OPERATION_DURATION_S,
  BUCKETS_GEN_AI_TIME_PER_OUTPUT_CHUNK_S,
  METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS,
  METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS,
  METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS,
  METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK,
  METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  METRIC_MCP_CLIENT_OPERATION_DURATION,
  METRIC_MCP_SERVER_OPERATION_DURATION,
  METRIC_MEMENTO_TURN_DURATION,
} from './semconv.ts';
import { VERSION } from '../version.ts';

/** Several values with one attribute set: `record(values[i] / divisor, attributes)` for each. */
export interface ValuesRecorder {
  recordEach(values: readonly number[], attributes: Attributes, divisor?: number): void;
}

export const TIME_PER_OUTPUT_CHUNK_OPTIONS = {
  unit: 's',
  description: 'Time per output chunk, recorded for each chunk received after the first one.',
  advice: { explicitBucketBoundaries: BUCKETS_GEN_AI_TIME_PER_OUTPUT_CHUNK_S },
};

export interface Instruments {
  genAiOperationDuration: Histogram;
  genAiTokenUsage: Histogram;
  /** The newest token counters (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental). */
  genAiInputTokens: Counter;
  genAiOutputTokens: Counter;
  genAiCacheReadTokens: Counter;
  genAiReasoningTokens: Counter;
  genAiTimeToFirstChunk: Histogram;
  /** One value per streamed chunk: batched per call (batched-histogram.ts) when setup.ts could. */
  genAiTimePerOutputChunk: ValuesRecorder;
  mcpClientOperationDuration: Histogram;
  mcpServerOperationDuration: Histogram;
  turnDuration: Histogram;
}

/** The instrumentation scope of Memento's metrics (with VERSION). */
export const METER_NAME = 'memento';

let cached: Instruments | undefined;
let batchedTimePerOutputChunk: ValuesRecorder | undefined;

/**
 * setup.ts, when every metric reader takes it: time_per_output_chunk from a histogram that
 * hashes the attribute set once per call instead of once per chunk (batched-histogram.ts).
 */
export function useBatchedTimePerOutputChunk(recorder: ValuesRecorder): void {
  batchedTimePerOutputChunk = recorder;
  if (cached) cached.genAiTimePerOutputChunk = recorder;
}

function perValue(histogram: Histogram): ValuesRecorder {
  return {
    recordEach(values, attributes, divisor = 1) {
      for (const value of values) histogram.record(value / divisor, attributes);
    },
  };
}

export function instruments(): Instruments {
  if (cached) return cached;
  const meter = metrics.getMeter(METER_NAME, VERSION);
  cached = {
    genAiOperationDuration: meter.createHistogram(METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
      unit: 's',
      description: 'GenAI operation duration.',
      advice: { explicitBucketBoundaries: BUCKETS_GEN_AI_OPERATION_DURATION_S },
    }),
    genAiTokenUsage: meter.createHistogram(METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
      unit: '{token}',
      description: 'Number of input and output tokens used.',
      advice: { explicitBucketBoundaries: BUCKETS_GEN_AI_TOKEN_USAGE },
    }),
    genAiInputTokens: meter.createCounter(METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS, {
      unit: '{token}',
      description: 'The number of input (prompt) tokens used, including cached tokens.',
    }),
    genAiOutputTokens: meter.createCounter(METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS, {
      unit: '{token}',
      description: 'The number of output (completion) tokens used, including reasoning tokens.',
    }),
    genAiCacheReadTokens: meter.createCounter(METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS, {
      unit: '{token}',
      description: 'The number of input tokens served from a provider-managed cache.',
    }),
    genAiReasoningTokens: meter.createCounter(METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS, {
      unit: '{token}',
      description: 'The number of output tokens used for reasoning.',
    }),
    genAiTimeToFirstChunk: meter.createHistogram(METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK, {
      unit: 's',
      description: 'Time to receive the first chunk, measured from when the client issues the generation request to when the first chunk is received in the response stream.',
      advice: { explicitBucketBoundaries: BUCKETS_GEN_AI_OPERATION_DURATION_S },
    }),
    genAiTimePerOutputChunk: batchedTimePerOutputChunk ?? perValue(meter.createHistogram(METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK, TIME_PER_OUTPUT_CHUNK_OPTIONS)),
    mcpClientOperationDuration: meter.createHistogram(METRIC_MCP_CLIENT_OPERATION_DURATION, {
      unit: 's',
      description: 'The duration of the MCP request or notification as observed on the sender from the time it was sent until the response or ack is received.',
      advice: { explicitBucketBoundaries: BUCKETS_MCP_OPERATION_DURATION_S },
    }),
    mcpServerOperationDuration: meter.createHistogram(METRIC_MCP_SERVER_OPERATION_DURATION, {
      unit: 's',
      description: 'MCP request or notification duration as observed on the receiver from the time it was received until the result or ack is sent.',
      advice: { explicitBucketBoundaries: BUCKETS_MCP_OPERATION_DURATION_S },
    }),
    turnDuration: meter.createHistogram(METRIC_MEMENTO_TURN_DURATION, {
      unit: 's',
      description: 'Duration of one user turn: intent call, tool calls and summarizing call.',
      advice: { explicitBucketBoundaries: BUCKETS_GEN_AI_OPERATION_DURATION_S },
    }),
  };
  return cached;
}
