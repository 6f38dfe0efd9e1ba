/*
 * Redaction for real: a span that Memento's SDK setup would never produce — secret-looking
 * keys and a bearer token inside a harmless one — sent straight to the collector over
 * OTLP/HTTP, reaches Jaeger without the secrets and with everything else intact.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stack, waitForTrace } from './helpers.ts';

const str = (key: string, value: string) => ({ key, value: { stringValue: value } });

describe('the collector’s redaction, on a span sent over OTLP', () => {
  it('drops api_key-like attributes and masks a Bearer value; keeps the rest', async () => {
    const traceId = randomBytes(16).toString('hex');
    const key = `sk-${randomBytes(16).toString('hex')}`;
    const bearer = randomBytes(20).toString('hex');
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = {
      resourceSpans: [{
        resource: { attributes: [str('service.name', 'redaction-probe'), str('azure.openai.api_key', key)] },
        scopeSpans: [{
          scope: { name: 'stack-test' },
          spans: [{
            traceId,
            spanId: randomBytes(8).toString('hex'),
            name: 'probe',
            kind: 3,
            startTimeUnixNano: String(now),
            endTimeUnixNano: String(now + 5_000_000n),
            attributes: [
              str('api_key', key),
              str('http.request.header.authorization', `Bearer ${bearer}`),
              str('error.message', `upstream said: Bearer ${bearer} is not valid`),
              str('gen_ai.request.model', 'gpt-4o-mini'),
              { key: 'gen_ai.usage.input_tokens', value: { intValue: '42' } },
            ],
            status: { code: 1 },
          }],
        }],
      }],
    };
    const res = await fetch(`${stack().urls.otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);

    const trace = await waitForTrace(traceId, 1);
    expect(trace.text).not.toContain(key);
    expect(trace.text).not.toContain(bearer);
    const [span] = trace.spans;
    expect(Object.keys(span!.attributes)).not.toContain('api_key');
    expect(Object.keys(span!.attributes)).not.toContain('http.request.header.authorization');
    expect(String(span!.attributes['error.message'])).toMatch(/^upstream said: /);
    expect(span!.attributes['gen_ai.request.model']).toBe('gpt-4o-mini');
    expect(span!.attributes['gen_ai.usage.input_tokens']).toBe(42);
    expect(span!.service).toBe('redaction-probe');
  });
});
