/*
 * Conventions up to date, as the spans and metrics leave real processes (`memento ask`
 * against a traced `memento serve` over Streamable HTTP, exporting to a receiver here):
 * every attribute on every span belongs to the set semconv.ts declares for the chosen
 * OTEL_SEMCONV_STABILITY_OPT_IN; Azure's cached and reasoning token counts are recorded; the
 * server span says who called; and the opt-in swaps the token histogram for the newest
 * counters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPAN_ATTRIBUTES, SERVICE_NAME_CLIENT, SERVICE_NAME_SERVER, type SemconvSet } from '../../src/telemetry/semconv.ts';
import { OtlpReceiver, SPAN_KIND, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { runMemento, startMemento, tempDir, type Running } from '../helpers/memento.ts';

const receiver = new OtlpReceiver();
let data: { path: string; cleanup: () => Promise<void> };
const servers: Running[] = [];

beforeAll(async () => {
  await receiver.start();
  data = await tempDir('memento-conventions-');
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await receiver.stop();
  await data.cleanup();
});

async function turn(set: SemconvSet, extra: Record<string, string> = {}): Promise<{ spans: ReceivedSpan[]; traceId: string }> {
  const env = {
    ...receiver.env(),
    MEMENTO_DATA_DIR: data.path,
    ...(set === 'latest' ? { OTEL_SEMCONV_STABILITY_OPT_IN: 'http,gen_ai_latest_experimental' } : {}),
    ...extra,
  };
  const server = await startMemento(['serve', '--port', '0', '--data-dir', data.path], { env });
  servers.push(server);
  const r = await runMemento(['ask', '--json', 'remember that the window cleaner comes on Thursday'], { env: { ...env, MEMENTO_MCP_URL: `${server.url}/mcp` } });
  expect(r.code, r.stderr).toBe(0);
  const traceId = JSON.parse(r.stdout).traceId as string;
  await receiver.waitFor((spans) => spans.some((s) => s.traceId === traceId && s.service === SERVICE_NAME_SERVER && s.name === 'tools/call store_memory'));
  return { spans: receiver.byTrace(traceId), traceId };
}

function outside(spans: ReceivedSpan[], set: SemconvSet): string[] {
  return [...new Set(spans.flatMap((s) => Object.keys(s.attributes).filter((k) => !SPAN_ATTRIBUTES[set].has(k)).map((k) => `${s.service} ${s.name}: ${k}`)))];
}

describe('the conventions a turn follows', () => {
  it('the two sets differ where the conventions renamed: cache_creation (v1.41) became cache_write', () => {
    expect(SPAN_ATTRIBUTES['v1.41'].has('gen_ai.usage.cache_creation.input_tokens')).toBe(true);
    expect(SPAN_ATTRIBUTES['v1.41'].has('gen_ai.usage.cache_write.input_tokens')).toBe(false);
    expect(SPAN_ATTRIBUTES.latest.has('gen_ai.usage.cache_write.input_tokens')).toBe(true);
    expect(SPAN_ATTRIBUTES.latest.has('gen_ai.usage.cache_creation.input_tokens')).toBe(false);
  });

  it('default: every span attribute is in the v1.41 set; Azure usage details and the caller are recorded', async () => {
    const { spans } = await turn('v1.41');
    expect(outside(spans, 'v1.41')).toEqual([]);
    const chats = spans.filter((s) => s.attributes['gen_ai.operation.name'] === 'chat');
    expect(chats).toHaveLength(2);
    for (const chat of chats) {
      expect(chat.attributes).toMatchObject({ 'gen_ai.usage.cache_read.input_tokens': 0, 'gen_ai.usage.reasoning.output_tokens': 0, 'gen_ai.request.stream': true });
    }
    const served = spans.find((s) => s.service === SERVICE_NAME_SERVER && s.kind === SPAN_KIND.SERVER && s.name === 'tools/call store_memory')!;
    expect(served.attributes).toMatchObject({ 'client.address': '127.0.0.1', 'client.port': expect.any(Number), 'network.transport': 'tcp' });
    // The HTTP server span that carried the message is a link, not the parent (_meta is).
    expect(served.links).toHaveLength(1);
    expect(spans.find((s) => s.spanId === served.parentSpanId)?.name).toBe('tools/call store_memory');
  });

  it('with content capture on, the extra attributes are in the set too', async () => {
    const { spans } = await turn('v1.41', { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' });
    expect(spans.some((s) => 'gen_ai.input.messages' in s.attributes)).toBe(true);
    expect(outside(spans, 'v1.41')).toEqual([]);
  });

  it('OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental: the newest set, token counters instead of the histogram', async () => {
    receiver.metrics.length = 0;
    const { spans } = await turn('latest');
    expect(outside(spans, 'latest')).toEqual([]);
    const names = () => new Set(receiver.metrics.filter((m) => m.service === SERVICE_NAME_CLIENT).map((m) => m.name));
    await receiver.waitFor(() => names().has('gen_ai.client.inference.usage.input_tokens'));
    expect([...names()]).toEqual(
      expect.arrayContaining([
        'gen_ai.client.inference.usage.input_tokens',
        'gen_ai.client.inference.usage.output_tokens',
        'gen_ai.client.inference.usage.cache_read.input_tokens',
        'gen_ai.client.inference.usage.reasoning.output_tokens',
      ]),
    );
    expect(names().has('gen_ai.client.token.usage')).toBe(false);
  });

  it('the default keeps the token histogram and none of the newest counters', async () => {
    receiver.metrics.length = 0;
    await turn('v1.41');
    const names = () => new Set(receiver.metrics.filter((m) => m.service === SERVICE_NAME_CLIENT).map((m) => m.name));
    await receiver.waitFor(() => names().has('gen_ai.client.token.usage'));
    expect([...names()].filter((n) => n.startsWith('gen_ai.client.inference.'))).toEqual([]);
  });
});
