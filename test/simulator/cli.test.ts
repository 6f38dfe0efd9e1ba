/*
 * `memento simulator` as a user runs it: the real binary on a free port, spoken to by the
 * real AzureOpenAI client, stopped with a signal.
 */
import { describe, expect, it } from 'vitest';
import OpenAI, { AzureOpenAI } from 'openai';
import { runMemento, startMemento } from '../helpers/memento.ts';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { MEMENTO_TOOLS } from './fixtures.ts';

delete process.env.OPENAI_BASE_URL;

const client = (endpoint: string, apiKey = 'any-key', deployment = 'gpt-4o-mini') =>
  new AzureOpenAI({ endpoint, apiKey, apiVersion: '2024-10-21', deployment, maxRetries: 2 });

describe('memento simulator', () => {
  it('serves Azure chat completions, retries through a 429 from --faults, and stops cleanly on SIGTERM', async () => {
    const sim = await startMemento(['simulator', '--port', '0', '--faults', '429,ok', '--retry-after-ms', '20']);
    try {
      expect(sim.stderr()).toMatch(/not a model\) listening on http:\/\/127\.0\.0\.1:\d+/);
      const data = await client(sim.url).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'remember buy milk #shopping' }],
        tools: MEMENTO_TOOLS,
      });
      expect(data.model).toBe('memento-simulator');
      const call = data.choices[0]!.message.tool_calls![0]!;
      expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ content: 'buy milk', tags: ['shopping'] });
    } finally {
      expect(await sim.stop('SIGTERM')).toBe(0);
    }
    expect(sim.stderr()).toMatch(/memento simulator stopped signal=SIGTERM requests=2 completions=1/);
  });

  it('refuses a wrong key and an unknown deployment, and never prints the key', async () => {
    const key = 'sim-secret-4242';
    const sim = await startMemento(['simulator', '--port', '0', '--api-key', key, '--deployment', 'gpt-4o-mini,gpt-4o'], {
      env: { MEMENTO_LOG_LEVEL: 'debug' },
    });
    try {
      const hi = (c: AzureOpenAI) => c.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] });
      expect(await hi(client(sim.url, 'not-the-key')).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(await hi(client(sim.url, key, 'gpt-5-imaginary')).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
      expect((await hi(client(sim.url, key, 'gpt-4o'))).choices[0]!.finish_reason).toBe('stop');
    } finally {
      await sim.stop();
    }
    expect(sim.stderr()).toMatch(/key_required=true/);
    expect(sim.stderr()).not.toContain(key);
  });

  it('takes its knobs from MEMENTO_SIMULATOR_* when no flag is given', async () => {
    const sim = await startMemento(['simulator', '--port', '0'], { env: { MEMENTO_SIMULATOR_FAULTS: '500', MEMENTO_SIMULATOR_LATENCY_MS: '5' } });
    try {
      expect(sim.stderr()).toMatch(/latency_ms=5 faults=500/);
      const once = new AzureOpenAI({ endpoint: sim.url, apiKey: 'k', apiVersion: '2024-10-21', deployment: 'd', maxRetries: 0 });
      const err = await once.chat.completions.create({ model: 'd', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    } finally {
      await sim.stop();
    }
  });

  it('starts no telemetry: it stands in for Azure, which sends no spans to your collector', async () => {
    const receiver = await new OtlpReceiver().start();
    try {
      // With OTEL_LOG_LEVEL=debug a started SDK announces itself ("@opentelemetry/api: Registered a global …").
      const sim = await startMemento(['simulator', '--port', '0'], { env: { ...receiver.env(), OTEL_LOG_LEVEL: 'debug' } });
      try {
        await client(sim.url).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
      } finally {
        expect(await sim.stop('SIGTERM')).toBe(0);
      }
      expect(sim.stderr() + sim.stdout()).not.toMatch(/opentelemetry|Registered a global/i);
      expect(receiver.raw).toHaveLength(0);
    } finally {
      await receiver.stop();
    }
  });

  it('--help says it is a simulator and lists its rules', async () => {
    const { code, stdout } = await runMemento(['simulator', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('a SIMULATOR, not a model');
    expect(stdout).toMatch(/"delete\/forget the memory about X"\s+search X, then delete the best hit/);
    expect(stdout).toContain('--faults <list>');
  });

  it('rejects a malformed --faults with a usage error', async () => {
    const { code, stderr } = await runMemento(['simulator', '--port', '0', '--faults', '429,teapot']);
    expect(code).toBe(2);
    expect(stderr).toContain('--faults: unknown fault "teapot"');
  });
});
