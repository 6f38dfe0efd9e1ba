/*
 * Which programs the stack runs, at which versions, and where their builds are cached. The
 * versions are read from the files that pin them (the collector's builder manifest, the Jaeger
 * tools module's go.mod, Debian's prometheus), so there is one place to change each, and
 * test/deploy/stack-versions.test.ts compares them with docker-compose.yml's images.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const COLLECTOR_MANIFEST = join(ROOT, 'deploy', 'collector', 'builder-config.yaml');
export const JAEGER_MODULE_DIR = join(ROOT, 'deploy', 'jaeger', 'build');
export const JAEGER_MODULE = 'github.com/jaegertracing/jaeger';
export const JAEGER_PACKAGE = `${JAEGER_MODULE}/cmd/jaeger`;
export const BUILDER_MODULE = 'go.opentelemetry.io/collector/cmd/builder';

/**
 * Jaeger's Go module is versioned v1.x; the same commit is released as the v2 binary and
 * image (its CHANGELOG heads each release "v1.76.0 / v2.13.0"). Add a row when the module moves.
 */
const JAEGER_V2_RELEASE: Record<string, string> = { 'v1.76.0': '2.13.0' };

/** Builds and their Go tools live here, outside the clone, so CI and later runs reuse them. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MEMENTO_STACK_CACHE) return resolve(env.MEMENTO_STACK_CACHE);
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'memento', 'stack');
}

function shortHash(...texts: string[]): string {
  const h = createHash('sha256');
  for (const t of texts) h.update(t);
  return h.digest('hex').slice(0, 12);
}

export interface CollectorManifest {
  name: string;
  /** The collector release every module is pinned to, e.g. 0.161.0. */
  version: string;
  /** `module version` per component kind, as in the manifest. */
  components: Record<string, { module: string; version: string }[]>;
  text: string;
}

export function readCollectorManifest(path = COLLECTOR_MANIFEST): CollectorManifest {
  const text = readFileSync(path, 'utf8');
  const doc = parse(text) as { dist: { name: string; version: string } } & Record<string, { gomod: string }[] | undefined>;
  const components: CollectorManifest['components'] = {};
  for (const kind of ['extensions', 'receivers', 'processors', 'connectors', 'exporters']) {
    components[kind] = (doc[kind] ?? []).map(({ gomod }) => {
      const [module, version] = gomod.trim().split(/\s+/);
      if (!module || !version) throw new Error(`${path}: "${gomod}" is not "module version"`);
      return { module, version };
    });
  }
  return { name: doc.dist.name, version: String(doc.dist.version), components, text };
}

export interface Program {
  name: 'collector' | 'jaeger' | 'prometheus';
  /** The release users know it by (the compose image's tag). */
  release: string;
  /** The binary to run. */
  binary: string;
}

export interface BuiltProgram extends Program {
  /** The cache directory of this build; absent for Debian's Prometheus. */
  dir: string;
  /** What decides whether the cached build is still the right one. */
  key: string;
}

export function collectorProgram(env: NodeJS.ProcessEnv = process.env): BuiltProgram {
  const manifest = readCollectorManifest();
  const key = `${manifest.name}-${manifest.version}-${shortHash(manifest.text)}`;
  const dir = join(cacheRoot(env), key);
  return { name: 'collector', release: manifest.version, binary: join(dir, manifest.name), dir, key };
}

/** The Jaeger module version the tools module requires (its go.mod `require` line). */
export function jaegerModuleVersion(): string {
  const gomod = readFileSync(join(JAEGER_MODULE_DIR, 'go.mod'), 'utf8');
  const m = new RegExp(`^\\s*${JAEGER_MODULE.replace(/[.]/g, '[.]')}\\s+(v\\S+)`, 'm').exec(gomod);
  if (!m?.[1]) throw new Error(`${JAEGER_MODULE_DIR}/go.mod does not require ${JAEGER_MODULE}`);
  return m[1];
}

export function jaegerProgram(env: NodeJS.ProcessEnv = process.env): BuiltProgram {
  const version = jaegerModuleVersion();
  const release = JAEGER_V2_RELEASE[version];
  if (!release) throw new Error(`no Jaeger v2 release is known for module ${version}: add it to scripts/stack/programs.ts`);
  const gomod = readFileSync(join(JAEGER_MODULE_DIR, 'go.mod'), 'utf8');
  const gosum = readFileSync(join(JAEGER_MODULE_DIR, 'go.sum'), 'utf8');
  const key = `jaeger-${release}-${shortHash(gomod, gosum)}`;
  const dir = join(cacheRoot(env), key);
  return { name: 'jaeger', release, binary: join(dir, 'jaeger'), dir, key };
}

/** Debian's prometheus on PATH; its version as `prometheus --version` prints it (2.42.0). */
export function prometheusProgram(env: NodeJS.ProcessEnv = process.env): Program {
  const binary = env.MEMENTO_STACK_PROMETHEUS || 'prometheus';
  let out: string;
  try {
    out = execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    throw new Error(`${binary} is not installed: on Debian or Ubuntu, apt-get install --no-install-recommends prometheus`);
  }
  const m = /prometheus, version (\d+\.\d+\.\d+)/.exec(out);
  if (!m?.[1]) throw new Error(`cannot read the version from "${binary} --version": ${out.split('\n')[0]}`);
  return { name: 'prometheus', release: m[1], binary };
}
