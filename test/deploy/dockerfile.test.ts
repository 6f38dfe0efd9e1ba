/*
 * The Dockerfile without Docker: two stages, production dependencies only, a non-root
 * user, the MCP server on 0.0.0.0 as the default command, a healthcheck on its /health,
 * and a build context that holds nothing the image does not copy.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readText, readYaml, repoPath } from './stack.ts';

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions with their continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && !current) continue;
    if (/\\\s*$/.test(line)) {
      current += line.replace(/\\\s*$/, ' ');
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  return logical.map((l) => {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    return { keyword: (m[1] as string).toUpperCase(), args: m[2] as string };
  });
}

/** Exec form (`["a", "b"]`); the shell form would put a shell between Docker and Node. */
function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not exec form: ${args}`);
  return parsed;
}

const all = instructions(readText('Dockerfile'));
const froms = all.filter((i) => i.keyword === 'FROM');
const finalStage = all.slice(all.lastIndexOf(froms.at(-1)!));
const firstStage = all.slice(all.indexOf(froms[0]!), all.indexOf(froms[1]!));
const one = (keyword: string, list = finalStage) => {
  const found = list.filter((i) => i.keyword === keyword);
  expect(found.length, keyword).toBe(1);
  return found[0]!;
};

describe('Dockerfile', () => {
  it('builds in two stages from the pinned Node image that docker-compose.yml passes in', () => {
    expect(froms.length).toBe(2);
    const arg = all.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='));
    const pinned = arg?.args.slice('NODE_IMAGE='.length);
    const images = readYaml<{ 'x-images': { node: string } }>('docker-compose.yml')['x-images'];
    expect(pinned).toBe(images.node);
    expect(pinned).toMatch(/^node:24\.\d+\.\d+-slim$/);
    for (const from of froms) expect(from.args).toMatch(/^\$\{NODE_IMAGE\}/);
  });

  it('installs production dependencies only, from the lockfile', () => {
    const install = firstStage.filter((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    expect(install.length).toBe(1);
    expect(install[0]!.args).toContain('--omit=dev');
    // The final stage takes node_modules from the first and runs no npm at all.
    expect(finalStage.some((i) => i.keyword === 'RUN' && /\bnpm\b/.test(i.args))).toBe(false);
    expect(finalStage.some((i) => i.keyword === 'COPY' && i.args.startsWith('--from=deps') && i.args.includes('node_modules'))).toBe(true);
  });

  it('runs as a non-root user', () => {
    const user = one('USER').args.trim();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const at = finalStage.indexOf(one('USER'));
    expect(finalStage.indexOf(one('ENTRYPOINT'))).toBeGreaterThan(at);
    expect(finalStage.indexOf(one('CMD'))).toBeGreaterThan(at);
  });

  it('starts `memento serve` on 0.0.0.0 with the telemetry preloaded, as bin/memento does', () => {
    const entrypoint = execForm(one('ENTRYPOINT').args);
    const cmd = execForm(one('CMD').args);
    expect(entrypoint[0]).toBe('node');
    const preload = entrypoint[entrypoint.indexOf('--import') + 1]!;
    expect(preload).toBe('/app/src/telemetry/preload.ts');
    expect(entrypoint.at(-1)).toBe('/app/src/cli.ts');
    for (const path of [preload, entrypoint.at(-1)!]) expect(existsSync(repoPath(path.replace(/^\/app\//, '')))).toBe(true);
    expect(readText('bin/memento')).toMatch(/node (?:\$v8_flags )?--import "\$ROOT\/src\/telemetry\/preload\.ts" "\$ROOT\/src\/cli\.ts"/);
    expect(cmd[0]).toBe('serve');
    expect(cmd[cmd.indexOf('--host') + 1]).toBe('0.0.0.0');
    // docker-compose.yml writes the same command out, adding the name the network calls it by.
    const compose = readYaml<{ services: { mcp: { command: string[] } } }>('docker-compose.yml');
    expect(compose.services.mcp.command.slice(0, cmd.length)).toEqual(cmd);
    expect(compose.services.mcp.command.slice(cmd.length)).toEqual(['--allowed-hosts', 'mcp']);
  });

  it('checks health on /health at the port it serves and exposes', () => {
    const port = (() => {
      const cmd = execForm(one('CMD').args);
      return cmd[cmd.indexOf('--port') + 1];
    })();
    expect(one('EXPOSE').args.trim()).toBe(port);
    const health = one('HEALTHCHECK').args;
    expect(health).toContain(`http://127.0.0.1:${port}/health`);
    const probe = execForm(health.slice(health.indexOf('CMD') + 3).trim());
    expect(probe[0]).toBe('node');
  });
});

describe('.dockerignore', () => {
  const lines = readText('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('is an allow-list: everything is out unless named', () => {
    expect(lines[0]).toBe('*');
    for (const l of lines.slice(1)) expect(l.startsWith('!'), l).toBe(true);
  });

  it('lets in exactly what the Dockerfile copies from the context', () => {
    const copied = all
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(new Set(lines.slice(1).map((l) => l.slice(1)))).toEqual(new Set(copied));
  });
});
