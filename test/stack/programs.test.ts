/*
 * The built programs accept the shipped configuration: the collector's own `validate`
 * subcommand on otel-collector.yaml (with its defaults, as in docker-compose.yml, and with
 * the local stack's settings), and the running stack is healthy with every component the
 * files name, Prometheus having loaded the shipped alert rules and scraping the collector.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../scripts/stack/programs.ts';
import { SHIPPED_RULES } from './test-rules.ts';
import { getJson, stack, waitFor } from './helpers.ts';

const run = promisify(execFile);
const CONFIG = `${ROOT}/otel-collector.yaml`;

describe('the built collector', () => {
  it('validates otel-collector.yaml with its defaults (the compose file’s settings)', async () => {
    const { collector } = stack().processes;
    const { stdout, stderr } = await run(collector.binary, ['validate', `--config=${CONFIG}`], {
      env: { PATH: process.env.PATH, JAEGER_OTLP_ENDPOINT: 'jaeger:4317' },
    });
    expect(`${stdout}${stderr}`).not.toMatch(/error/i);
  });

  it('refuses a config with a component it does not have, so validate is a real check', async () => {
    const { collector } = stack().processes;
    const bad = join(stack().dir, 'bad-collector.yaml');
    writeFileSync(bad, readFileSync(CONFIG, 'utf8').replace(/transform\/redact/g, 'transformx/redact'));
    const failed = await run(collector.binary, ['validate', `--config=${bad}`], { env: { PATH: process.env.PATH } }).then(
      () => undefined,
      (err: { stderr: string }) => err.stderr,
    );
    expect(failed).toMatch(/transformx/);
  });

  it('contains exactly the component types otel-collector.yaml uses', async () => {
    const { collector } = stack().processes;
    const { stdout } = await run(collector.binary, ['components']);
    const built = parse(stdout) as Record<string, { name: string }[]>;
    const config = parse(readFileSync(CONFIG, 'utf8')) as Record<string, Record<string, unknown>>;
    const typesOf = (section: string) => new Set(Object.keys(config[section] ?? {}).map((id) => id.split('/')[0]));
    for (const section of ['receivers', 'processors', 'exporters', 'connectors', 'extensions']) {
      const have = new Set((built[section] ?? []).map((c) => c.name));
      expect([...typesOf(section)].every((t) => have.has(t!)), `${section}: config ${[...typesOf(section)]} built ${[...have]}`).toBe(true);
      expect(have.size, `${section}: nothing built that the config does not use`).toBe(typesOf(section).size);
    }
  });
});

describe('the versions', () => {
  it('docker-compose.yml pins the images to the releases running here', () => {
    const images = (parse(readFileSync(`${ROOT}/docker-compose.yml`, 'utf8')) as { 'x-images': Record<string, string> })['x-images'];
    const { collector, jaeger, prometheus } = stack().processes;
    expect(images.collector).toBe(`otel/opentelemetry-collector-contrib:${collector.release}`);
    expect(images.jaeger).toBe(`jaegertracing/jaeger:${jaeger.release}`);
    expect(images.prometheus).toBe(`prom/prometheus:v${prometheus.release}`);
  });

  it('the collector binary reports the manifest’s release', async () => {
    const { collector } = stack().processes;
    const { stdout } = await run(collector.binary, ['--version']);
    expect(stdout.trim()).toBe(`otelcol-memento version ${collector.release}`);
  });
});

describe('the running stack', () => {
  it('each program answers its health endpoint', async () => {
    const s = stack();
    expect((await getJson(s.urls.collectorHealth)).status).toBe(200);
    expect((await getJson(`http://${s.host}:${s.ports.jaegerHealth}/status`)).status).toBe(200);
    expect((await getJson(`${s.urls.prometheus}/-/ready`)).status).toBe(200);
  });

  it('Prometheus loaded the shipped alert rules and scrapes both collector jobs', async () => {
    const s = stack();
    const rules = await getJson(`${s.urls.prometheus}/api/v1/rules?type=alert`);
    const shipped = (rules.body.data.groups as { file: string; rules: { name: string }[] }[]).filter((g) => g.file === SHIPPED_RULES);
    const names = shipped.flatMap((g) => g.rules.map((r) => r.name));
    const expected = (parse(readFileSync(SHIPPED_RULES, 'utf8')) as { groups: { rules: { alert: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(names.sort()).toEqual(expected.sort());
    await waitFor('both collector scrape targets up', async () => {
      const targets = await getJson(`${s.urls.prometheus}/api/v1/targets`);
      const active = targets.body.data.activeTargets as { labels: { job: string }; health: string }[];
      const up = active.filter((t) => t.health === 'up').map((t) => t.labels.job).sort();
      return up.join(',') === 'otel-collector,otel-collector-internal' ? up : undefined;
    });
  });
});
