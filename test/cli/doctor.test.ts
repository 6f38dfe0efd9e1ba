/*
 * `memento doctor` through the real command: the built-in simulator, its own MCP server, OTLP
 * into the in-repo collector+Jaeger stand-in, and a real Prometheus (Debian's, started here
 * on a free loopback port) that has no span metrics because no collector feeds it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runMemento, tempDir } from '../helpers/memento.ts';
import { OtlpJaeger } from '../helpers/otlp-jaeger.ts';
import { waitFor } from '../helpers/wait.ts';

let dir: { path: string; cleanup: () => Promise<void> };
const stack = new OtlpJaeger();
let prometheus: ChildProcess | undefined;
let promUrl = '';

beforeAll(async () => {
  dir = await tempDir('memento-doctor-');
  await stack.start();
  const port = await freePort();
  const config = join(dir.path, 'prometheus.yml');
  await writeFile(config, 'global:\n  scrape_interval: 15s\nscrape_configs: []\n');
  prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir.path, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  promUrl = `http://127.0.0.1:${port}`;
  await waitFor('Prometheus /-/ready', async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), { timeoutMs: 30_000 });
}, 40_000);
afterAll(async () => {
  prometheus?.kill();
  await stack.stop();
  await dir.cleanup();
});

const env = () => ({
  OTEL_SDK_DISABLED: 'false',
  OTEL_EXPORTER_OTLP_ENDPOINT: stack.url,
  OTEL_BSP_SCHEDULE_DELAY: '50',
  MEMENTO_DATA_DIR: join(dir.path, 'data'),
});

describe('memento doctor', () => {
  it('checks model, MCP, OTLP, a test turn and its trace in Jaeger; exit 0', async () => {
    const r = await runMemento(['doctor', '--json', '--jaeger', stack.url], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(true);
    expect(out.checks.map((c: { name: string; status: string }) => [c.name, c.status])).toEqual([
      ['model endpoint', 'ok'],
      ['MCP server', 'ok'],
      ['OTLP endpoint', 'ok'],
      ['test turn', 'ok'],
      ['Jaeger', 'ok'],
      ['Prometheus', 'skipped'],
    ]);
    expect(out.checks[1].detail).toMatch(/^5 tools from its own server .*store_memory/);
    expect(out.checks[3].detail).toMatch(/its trace is whole \(2 chat spans, 1 server span joined\)/);
    expect(out.checks[4].detail).toMatch(/has the turn: \d+ spans from memento-client and memento-mcp-server/);
  });

  it('prints a checklist and exits 1 when the OTLP endpoint is down', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const r = await runMemento(['doctor', '--jaeger', stack.url, '--prometheus', promUrl, '--wait', '1000'], {
      env: { ...env(), OTEL_EXPORTER_OTLP_ENDPOINT: down },
    });
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^✓ model endpoint {2}azure\.ai\.openai gpt-4o-mini at 127\.0\.0\.1:\d+ answered in \d+ ms/);
    expect(lines[2]).toBe(`✗ OTLP endpoint   ${down}/v1/traces: ECONNREFUSED — is the collector running? (docker compose up -d collector)`);
    expect(lines).toContain('– Jaeger          needs a traced test turn exported over OTLP');
    expect(lines.at(-1)).toBe('1 check failed');
  });

  it('exits 1 when Prometheus has no span metrics for the client (no collector feeds it)', async () => {
    const noMetrics = await runMemento(['doctor', '--prometheus', promUrl, '--wait', '1000'], { env: env() });
    expect(noMetrics.code).toBe(1);
    expect(noMetrics.stdout).toContain(`✗ Prometheus      ${promUrl} has no traces_span_metrics_calls_total{service_name="memento-client",span_name="invoke_agent memento"} after 1 s`);
    expect(noMetrics.stdout).toContain('– Jaeger          no --jaeger URL or MEMENTO_JAEGER_URL');
  });
});
