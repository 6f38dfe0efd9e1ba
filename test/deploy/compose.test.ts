/*
 * docker-compose.yml without Docker: it is a valid Compose file, and every host name and
 * port in it agrees with the file or default on the other end of the wire — the collector
 * config, Jaeger's and Prometheus' configs, the client's defaults in src/config.ts and the
 * server's default port from `memento serve --help`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { jaegerUrl, OTEL_SETTINGS } from '../../src/config.ts';
import { runMemento } from '../helpers/memento.ts';
import { collectorConfig, componentType } from './span-metrics.ts';
import {
  dig,
  expandCollectorEnv,
  hostPort,
  interpolateTree,
  readText,
  readYaml,
  repoPath,
} from './stack.ts';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string | null>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  profiles?: string[];
  logging?: unknown;
  deploy?: { resources?: { limits?: { memory?: string } } };
}
interface Compose {
  'x-images': Record<string, string>;
  'x-logging': unknown;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const raw = readYaml<Record<string, unknown>>('docker-compose.yml');
/** As `docker compose` sees it with the one required variable set. */
const compose = interpolateTree(raw, { MEMENTO_MCP_TOKEN: 'test-token' }) as unknown as Compose;
const services = compose.services;
const collector = collectorConfig();

/** `127.0.0.1:8000:8000` → its parts. */
function published(service: string): { ip: string; host: number; container: number }[] {
  return (services[service]?.ports ?? []).map((p) => {
    const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(\d+):(\d+)$/.exec(p);
    if (!m) throw new Error(`${service}: port "${p}" is not ip:host:container`);
    return { ip: m[1] ?? '0.0.0.0', host: Number(m[2]), container: Number(m[3]) };
  });
}
function publishes(service: string, port: number): boolean {
  return published(service).some((p) => p.host === port && p.container === port);
}
function env(service: string, name: string): string {
  const value = services[service]?.environment?.[name];
  if (typeof value !== 'string') throw new Error(`${service}: ${name} is not set`);
  return value;
}
function flag(args: string[] | undefined, name: string): string | undefined {
  const i = (args ?? []).indexOf(name);
  return i >= 0 ? args?.[i + 1] : undefined;
}

/** The services of the `replicas` profile. */
const REPLICA_PROFILE = ['postgres', 'mcp-1', 'mcp-2', 'proxy'];

describe('docker-compose.yml: the file', () => {
  it('validates against the Compose specification’s JSON schema', () => {
    const validate = composeValidator();
    const ok = validate(raw);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
    // The validator is not a rubber stamp.
    expect(validate({ services: { mcp: { image: 'x', restart_policy: 'always' } } })).toBe(false);
  });

  it('refuses to start without MEMENTO_MCP_TOKEN instead of running an open server', () => {
    expect(() => interpolateTree(raw, {})).toThrow(/MEMENTO_MCP_TOKEN/);
    expect(env('mcp', 'MEMENTO_MCP_TOKEN')).toBe('test-token');
    expect(env('client', 'MEMENTO_MCP_TOKEN')).toBe('test-token');
  });

  it('has the stack the issue asks for, the client only on request, and the replicas behind a profile', () => {
    expect(Object.keys(services).sort()).toEqual(['client', 'collector', 'jaeger', 'mcp', 'mcp-1', 'mcp-2', 'postgres', 'prometheus', 'proxy']);
    expect(services.client?.profiles).toEqual(['client']);
    for (const name of REPLICA_PROFILE) expect(services[name]?.profiles, name).toEqual(['replicas']);
    for (const [name, s] of Object.entries(services)) {
      if (name !== 'client' && !REPLICA_PROFILE.includes(name)) expect(s.profiles, name).toBeUndefined();
    }
  });

  it('pins every image version once, in x-images', () => {
    const images = compose['x-images'];
    for (const image of Object.values(images)) expect(image).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9][A-Za-z0-9._-]*$/);
    for (const image of Object.values(images)) expect(image).not.toMatch(/:(latest|main|dev)$/);
    expect(images.jaeger).toMatch(/^jaegertracing\/jaeger:2\.\d+\.\d+$/);
    expect(images.collector).toMatch(/^otel\/opentelemetry-collector-contrib:\d+\.\d+\.\d+$/);
    expect(images.prometheus).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(images.node).toMatch(/^node:24\.\d+\.\d+-slim$/);
    expect(services.collector?.image).toBe(images.collector);
    expect(services.jaeger?.image).toBe(images.jaeger);
    expect(services.prometheus?.image).toBe(images.prometheus);
    expect(services.mcp?.build?.args?.NODE_IMAGE).toBe(images.node);
    expect(services.client?.build?.args?.NODE_IMAGE).toBe(images.node);
  });

  it('gives every service a memory limit and the shared logging settings', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.deploy?.resources?.limits?.memory, name).toMatch(/^\d+[KMG]$/);
      expect(s.logging, name).toEqual(compose['x-logging']);
    }
  });

  it('has healthchecks where the images allow them', () => {
    // Jaeger's and Prometheus' images have wget; the Memento image's HEALTHCHECK is in the
    // Dockerfile (dockerfile.test.ts); the collector image has no shell to run one.
    for (const name of ['jaeger', 'prometheus', 'postgres', 'proxy']) expect(services[name]?.healthcheck?.test?.[0], name).toBe('CMD-SHELL');
    expect(services.mcp?.healthcheck).toBeUndefined();
    expect(services.client?.healthcheck?.disable).toBe(true);
    expect(services.collector?.healthcheck).toBeUndefined();
  });

  it('depends only on services it has, waiting for health where there is one', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(Object.keys(services), `${name} → ${dep}`).toContain(dep);
        if (condition === 'service_healthy') {
          // Services built from the Dockerfile have its HEALTHCHECK.
          expect(services[dep]?.build || services[dep]?.healthcheck?.test, `${dep} has a healthcheck`).toBeTruthy();
        }
      }
    }
  });

  it('mounts files that exist in the repository', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] as string;
        if (source.startsWith('.')) expect(existsSync(repoPath(source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${source}`).toContain(source);
      }
    }
  });

  it('publishes ports on the loopback interface only', () => {
    for (const name of Object.keys(services)) for (const p of published(name)) expect(p.ip, name).toBe('127.0.0.1');
  });
});

describe('docker-compose.yml: host names and ports agree with the other ends', () => {
  it('collector: publishes the OTLP receiver’s ports, 4317 (gRPC) and 4318 (HTTP)', () => {
    const protocols = dig(collector.receivers, 'otlp.protocols') as Record<string, { endpoint: string }>;
    const grpc = hostPort(expandCollectorEnv(protocols.grpc!.endpoint)).port;
    const http = hostPort(expandCollectorEnv(protocols.http!.endpoint)).port;
    expect([grpc, http]).toEqual([4317, 4318]);
    expect(publishes('collector', grpc)).toBe(true);
    expect(publishes('collector', http)).toBe(true);
  });

  it('client on the host: its default OTLP endpoint is the collector’s published OTLP/HTTP port', () => {
    const fallback = OTEL_SETTINGS.endpoint.default;
    const { host, port } = hostPort(fallback);
    expect(host).toBe('localhost');
    const http = dig(collector.receivers, 'otlp.protocols.http.endpoint') as string;
    expect(port).toBe(hostPort(expandCollectorEnv(http)).port);
    expect(publishes('collector', port)).toBe(true);
  });

  it('mcp and client in the network: export OTLP/HTTP to the collector service', () => {
    const http = hostPort(expandCollectorEnv(dig(collector.receivers, 'otlp.protocols.http.endpoint') as string)).port;
    for (const name of ['mcp', 'client']) {
      const target = new URL(env(name, 'OTEL_EXPORTER_OTLP_ENDPOINT'));
      expect(target.protocol).toBe('http:');
      expect(Object.keys(services)).toContain(target.hostname);
      expect(target.hostname).toBe('collector');
      expect(Number(target.port)).toBe(http);
    }
  });

  it('collector → jaeger: the OTLP exporter’s host is the jaeger service, its port Jaeger’s OTLP/gRPC receiver', () => {
    const jaegerConfig = readYaml<Record<string, unknown>>('deploy/jaeger/config.yaml');
    const receiver = expandCollectorEnv(dig(jaegerConfig, 'receivers.otlp.protocols.grpc.endpoint') as string);
    const exporters = Object.entries(collector.exporters ?? {}).filter(([id]) => componentType(id) === 'otlp_grpc');
    expect(exporters.length).toBe(1);
    const endpoint = (exporters[0]![1] as { endpoint: string }).endpoint;
    for (const target of [expandCollectorEnv(endpoint), expandCollectorEnv(endpoint, { JAEGER_OTLP_ENDPOINT: env('collector', 'JAEGER_OTLP_ENDPOINT') })]) {
      expect(hostPort(target).host).toBe('jaeger');
      expect(hostPort(target).port).toBe(hostPort(receiver).port);
    }
    expect(Object.keys(services)).toContain('jaeger');
  });

  it('jaeger: publishes its UI on the port of the client’s Jaeger links (16686)', () => {
    const link = new URL(jaegerUrl({}));
    expect(link.hostname).toBe('localhost');
    const jaegerConfig = readYaml<Record<string, unknown>>('deploy/jaeger/config.yaml');
    const ui = hostPort(expandCollectorEnv(dig(jaegerConfig, 'extensions.jaeger_query.http.endpoint') as string));
    expect(Number(link.port)).toBe(16686);
    expect(ui.port).toBe(Number(link.port));
    expect(publishes('jaeger', ui.port)).toBe(true);
    expect(env('client', 'MEMENTO_JAEGER_URL')).toBe(jaegerUrl({}));
  });

  it('jaeger: loads the config file that wires its Monitor tab to the prometheus service', () => {
    const command = services.jaeger?.command ?? [];
    const path = command.find((a) => a.startsWith('--config='))?.slice('--config='.length);
    expect(services.jaeger?.volumes).toContain(`./deploy/jaeger/config.yaml:${path}:ro`);
    const jaegerConfig = readYaml<Record<string, unknown>>('deploy/jaeger/config.yaml');
    const storage = dig(jaegerConfig, 'extensions.jaeger_query.storage') as { metrics: string };
    const backend = dig(jaegerConfig, `extensions.jaeger_storage.metric_backends.${storage.metrics}.prometheus`) as {
      endpoint: string;
      metric_namespace: string;
      normalize_calls: boolean;
      normalize_duration: boolean;
      latency_unit: string;
    };
    for (const target of [expandCollectorEnv(backend.endpoint), expandCollectorEnv(backend.endpoint, { PROMETHEUS_URL: env('jaeger', 'PROMETHEUS_URL') })]) {
      const { host, port } = hostPort(target);
      expect(host).toBe('prometheus');
      expect(publishes('prometheus', port)).toBe(true);
    }
    expect(backend).toMatchObject({ metric_namespace: 'traces_span_metrics', latency_unit: 'ms', normalize_calls: true, normalize_duration: true });
    // The Monitor tab is also switched on in the UI's menu, from a file the service mounts.
    const uiConfig = expandCollectorEnv(dig(jaegerConfig, 'extensions.jaeger_query.ui.config_file') as string);
    const mount = services.jaeger?.volumes?.find((v) => v.split(':')[1] === uiConfig);
    expect(mount, `a volume mounted at ${uiConfig}`).toBeDefined();
    const ui = JSON.parse(readText(mount!.split(':')[0] as string)) as { monitor?: { menuEnabled?: boolean } };
    expect(ui.monitor?.menuEnabled).toBe(true);
  });

  it('jaeger: the healthcheck probes its health extension’s port', () => {
    const jaegerConfig = readYaml<Record<string, unknown>>('deploy/jaeger/config.yaml');
    const health = hostPort(expandCollectorEnv(dig(jaegerConfig, 'extensions.healthcheckv2.http.endpoint') as string));
    expect(services.jaeger?.healthcheck?.test?.[1]).toContain(`:${health.port}/status`);
  });

  it('prometheus: scrapes the collector’s prometheus exporter and its own telemetry, and loads the alerts', () => {
    const prom = readYaml<{ rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] }>(
      'deploy/prometheus/prometheus.yml',
    );
    const targets = prom.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets)).map((t) => hostPort(t));
    const exporter = hostPort(expandCollectorEnv((collector.exporters?.prometheus as { endpoint: string }).endpoint));
    const telemetryPort = Number(expandCollectorEnv(String(dig(collector.service.telemetry, 'metrics.readers.0.pull.exporter.prometheus.port'))));
    expect(targets).toContainEqual({ host: 'collector', port: exporter.port });
    expect(targets).toContainEqual({ host: 'collector', port: telemetryPort });
    expect(prom.rule_files).toEqual(['alerts.yml']);
    expect(services.prometheus?.volumes).toContain('./deploy/prometheus:/etc/prometheus:ro');
    expect(services.prometheus?.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    expect(publishes('prometheus', 9090)).toBe(true);
  });

  it('collector: runs otel-collector.yaml and opts into message content only with the shared switch', () => {
    expect(services.collector?.volumes).toContain('./otel-collector.yaml:/etc/otelcol-contrib/config.yaml:ro');
    expect(services.collector?.command).toEqual(['--config=/etc/otelcol-contrib/config.yaml']);
    const capture = OTEL_SETTINGS.captureContent.name;
    for (const name of ['collector', 'mcp', 'client']) expect(env(name, capture), name).toBe('false');
  });

  it('mcp: serves on 0.0.0.0 at the port of `memento serve`’s default, published as 8000', async () => {
    const help = await runMemento(['serve', '--help']);
    expect(help.code).toBe(0);
    const defaultPort = Number(/--port <port>[^\n]*\(default: (\d+)\)/.exec(help.stdout)?.[1]);
    expect(defaultPort).toBe(8000);
    const command = services.mcp?.command ?? [];
    expect(command[0]).toBe('serve');
    expect(flag(command, '--host')).toBe('0.0.0.0');
    expect(Number(flag(command, '--port'))).toBe(defaultPort);
    expect(publishes('mcp', defaultPort)).toBe(true);
  });

  it('client: calls the mcp service’s Streamable HTTP endpoint on that port', () => {
    const url = new URL(env('client', 'MEMENTO_MCP_URL'));
    expect(url.hostname).toBe('mcp');
    expect(Number(url.port)).toBe(Number(flag(services.mcp?.command, '--port')));
    expect(url.pathname).toBe('/mcp');
    expect(services.client?.command).toEqual(['chat']);
    expect(services.client?.depends_on?.mcp?.condition).toBe('service_healthy');
  });

  it('mcp: accepts the host name the client uses (DNS-rebinding protection)', async () => {
    const help = await runMemento(['serve', '--help']);
    expect(help.stdout).toContain('--allowed-hosts <names>');
    const allowed = (flag(services.mcp?.command, '--allowed-hosts') ?? '').split(',');
    expect(allowed).toContain(new URL(env('client', 'MEMENTO_MCP_URL')).hostname);
    expect(allowed).not.toContain('*');
  });
});

/**
 * The Compose specification's JSON schema, as the `dclint` package (a Compose linter from the
 * npm registry) ships it, so the test needs nothing outside the repository. The schema
 * declares draft-07 as "https://json-schema.org/draft-07/schema", an id Ajv does not know
 * (it registers draft-07 under http://…#), and uses the annotation `deprecated`, which strict
 * mode would reject. Both are harmless to validation.
 */
function composeValidator() {
  // The package's exports map names only its code; the schema sits beside package.json.
  const manifest = createRequire(import.meta.url).resolve('dclint/package.json');
  const schema = JSON.parse(readFileSync(join(dirname(manifest), 'schemas/compose.schema.json'), 'utf8')) as Record<string, unknown>;
  delete schema.$schema;
  const ajv = new Ajv({ strict: false, allErrors: true });
  return ajv.compile(schema);
}

describe('docker-compose.yml: the replicas profile', () => {
  const nginx = readText('deploy/nginx/replicas.conf');

  it('replicas are stateless and share PostgreSQL: the store URL names the postgres service, its user and database', () => {
    for (const name of ['mcp-1', 'mcp-2']) {
      const s = services[name]!;
      expect(s.command, name).toContain('--stateless');
      expect(s.command, name).not.toContain('--data-dir');
      const url = new URL(env(name, 'MEMENTO_STORE_URL'));
      expect(url.protocol).toBe('postgres:');
      expect(url.hostname).toBe('postgres');
      expect(url.port).toBe('5432');
      expect(url.username).toBe(env('postgres', 'POSTGRES_USER'));
      expect(decodeURIComponent(url.password)).toBe(env('postgres', 'POSTGRES_PASSWORD'));
      expect(url.pathname).toBe(`/${env('postgres', 'POSTGRES_DB')}`);
      expect(s.depends_on?.postgres?.condition).toBe('service_healthy');
      // The proxy passes the Host the client used; inside the network that is "proxy".
      expect((flag(s.command, '--allowed-hosts') ?? '').split(',')).toContain('proxy');
    }
    expect(services.postgres?.ports).toBeUndefined();
  });

  it('the proxy balances round robin over exactly the two replicas, on the port they serve', () => {
    const upstream = /upstream memento \{([^}]*)\}/.exec(nginx)?.[1] ?? '';
    const servers = [...upstream.matchAll(/server\s+([^:;\s]+):(\d+)/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(servers.sort()).toEqual(['mcp-1:8000', 'mcp-2:8000']);
    for (const name of ['mcp-1', 'mcp-2']) expect(flag(services[name]?.command, '--port')).toBe('8000');
    // Round robin is nginx's default: no affinity of any kind.
    expect(nginx).not.toMatch(/\b(ip_hash|hash|sticky|least_conn)\b/);
    expect(nginx).toMatch(/proxy_set_header Host \$http_host;/);
    const listen = Number(/listen (\d+);/.exec(nginx)?.[1]);
    expect(publishes('proxy', listen)).toBe(true);
    expect(services.proxy?.volumes).toContain('./deploy/nginx/replicas.conf:/etc/nginx/conf.d/default.conf:ro');
  });
});
