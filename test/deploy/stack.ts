/*
 * Reads the deployment files the way their programs do, so the deploy tests compare what
 * Docker Compose, the collector, Jaeger and Prometheus will actually see: YAML with merge
 * keys, `${env:NAME:-default}` in the collector and Jaeger configs, `${NAME:-default}` in
 * the compose file.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function repoPath(rel: string): string {
  return resolve(ROOT, rel);
}

export function readText(rel: string): string {
  return readFileSync(repoPath(rel), 'utf8');
}

/** Compose resolves `<<: *anchor` merge keys (YAML 1.1); so does this. */
export function readYaml<T = unknown>(rel: string): T {
  return parse(readText(rel), { merge: true }) as T;
}

export type Env = Record<string, string | undefined>;

const COLLECTOR_VAR = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Expands the collector's `${env:NAME:-default}` the way its env provider does. A variable
 * that is neither set nor defaulted is an error here, as it would be an empty endpoint there.
 */
export function expandCollectorEnv(value: string, env: Env = {}): string {
  return value.replace(COLLECTOR_VAR, (_m, name: string, fallback: string | undefined) => {
    const set = env[name];
    if (set !== undefined && set !== '') return set;
    if (fallback === undefined) throw new Error(`\${env:${name}} has no default in "${value}"`);
    return fallback;
  });
}

/** Every `${env:…}` in the value carries a default, and there is at least one. */
export function isEnvWithDefaults(value: string): boolean {
  const refs = [...value.matchAll(/\$\{env:[^}]*\}/g)].map((m) => m[0]);
  return refs.length > 0 && refs.every((r) => /^\$\{env:[A-Za-z_][A-Za-z0-9_]*:-[^}]+\}$/.test(r));
}

/**
 * Compose's interpolation: `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`,
 * `${NAME?error}` and `$$` for a literal dollar.
 */
export function interpolateCompose(value: string, env: Env): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (m, name, colon, op, arg) => {
    if (m === '$$') return '$';
    const set = env[name as string];
    const missing = set === undefined || (colon === ':' && set === '');
    if (!missing) return set as string;
    if (op === '-') return arg as string;
    if (op === '?') throw new Error(`required variable ${name as string} is missing: ${arg as string}`);
    return '';
  });
}

/** Applies `interpolateCompose` to every string in a parsed YAML tree. */
export function interpolateTree<T>(node: T, env: Env): T {
  if (typeof node === 'string') return interpolateCompose(node, env) as T;
  if (Array.isArray(node)) return node.map((n: unknown) => interpolateTree(n, env)) as T;
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateTree(v, env)])) as T;
  }
  return node;
}

/** `host:port` or `scheme://host:port/path` → its parts. */
export function hostPort(address: string): { host: string; port: number } {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `tcp://${address}`);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : url.protocol === 'http:' ? 80 : NaN;
  return { host: url.hostname, port };
}

export function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what} is not a mapping`);
  return value as Record<string, unknown>;
}

/** Walks `a.b.c` through nested mappings; undefined when any step is missing. */
export function dig(value: unknown, path: string): unknown {
  let node: unknown = value;
  for (const key of path.split('.')) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
