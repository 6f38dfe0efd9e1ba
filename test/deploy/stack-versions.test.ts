/*
 * The collector that `npm run stack` and the stack tests build is the one docker-compose.yml
 * runs: one release for every module of the builder manifest, the compose image at that
 * release, exactly the component types otel-collector.yaml uses, and Jaeger's image at the
 * release of the Go module the tools module pins. (Prometheus' version comes from Debian's
 * package at run time; test/stack/programs.test.ts compares it with the image.)
 */
import { describe, expect, it } from 'vitest';
import { jaegerProgram, readCollectorManifest } from '../../scripts/stack/programs.ts';
import { collectorConfig, componentType } from './span-metrics.ts';
import { readYaml } from './stack.ts';

const manifest = readCollectorManifest();
const images = readYaml<{ 'x-images': Record<string, string> }>('docker-compose.yml')['x-images'];

/** The component type each module registers, by the module's last path element. */
const TYPE_OF_MODULE: Record<string, string> = {
  healthcheckextension: 'health_check',
  otlpreceiver: 'otlp',
  memorylimiterprocessor: 'memory_limiter',
  transformprocessor: 'transform',
  redactionprocessor: 'redaction',
  tailsamplingprocessor: 'tail_sampling',
  spanmetricsconnector: 'span_metrics',
  forwardconnector: 'forward',
  otlpexporter: 'otlp_grpc',
  prometheusexporter: 'prometheus',
};

describe('deploy/collector/builder-config.yaml', () => {
  it('pins every module to the one release of the distribution', () => {
    const versions = new Set(Object.values(manifest.components).flat().map((c) => c.version));
    expect([...versions]).toEqual([`v${manifest.version}`]);
  });

  it('is the release of the compose file’s collector image', () => {
    expect(images.collector).toBe(`otel/opentelemetry-collector-contrib:${manifest.version}`);
  });

  it('builds exactly the component types otel-collector.yaml uses', () => {
    const config = collectorConfig() as unknown as Record<string, Record<string, unknown> | undefined>;
    for (const kind of ['extensions', 'receivers', 'processors', 'connectors', 'exporters']) {
      const built = manifest.components[kind]!.map((c) => {
        const type = TYPE_OF_MODULE[c.module.split('/').at(-1)!];
        expect(type, `${c.module} is in TYPE_OF_MODULE`).toBeDefined();
        return type;
      });
      const used = [...new Set(Object.keys(config[kind] ?? {}).map(componentType))];
      expect(built.sort(), kind).toEqual(used.sort());
    }
  });
});

describe('deploy/jaeger/build (the Jaeger tools module)', () => {
  it('pins the Jaeger release of the compose file’s image', () => {
    expect(images.jaeger).toBe(`jaegertracing/jaeger:${jaegerProgram().release}`);
  });
});
