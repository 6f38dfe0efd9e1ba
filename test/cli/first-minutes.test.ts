/*
 * What a newcomer meets on the documented path, each through the documented command as
 * written: one split for a turn everywhere it is shown, the simulator keeping what was said,
 * `--json` errors as JSON, memories that do not follow the working directory, the default
 * user, and a tool schema strict clients accept.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, MEMENTO_BIN, runMemento, tempDir } from '../helpers/memento.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(() => dir.cleanup());

const traced = (name: string) => ({
  OTEL_SDK_DISABLED: undefined,
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_METRICS_EXPORTER: 'none',
  MEMENTO_TRACE_FILE: join(dir.path, `${name}.jsonl`),
  MEMENTO_DATA_DIR: join(dir.path, name),
});

/** "Azure 54 ms · MCP 1.20 s · client 3 ms" → milliseconds, as printed (rounded). */
function printedSplit(line: string): number[] {
  const m = /(?:Azure|simulator|model) ([\d.]+) (ms|s).*?MCP ([\d.]+) (ms|s).*?client ([\d.]+) (ms|s)/.exec(line);
  if (!m) throw new Error(`no split in: ${line}`);
  const ms = (v: string, unit: string) => Number(v) * (unit === 's' ? 1000 : 1);
  return [ms(m[1]!, m[2]!), ms(m[3]!, m[4]!), ms(m[5]!, m[6]!)];
}

describe('one split for a turn', () => {
  it('`ask --json`, `traces list --json` and `traces show` agree, and the footer agrees with `--waterfall`', async () => {
    const env = traced('split');
    const json = await runMemento(['ask', '--json', 'remember that the split is measured once'], { env });
    expect(json.code, json.stderr).toBe(0);
    const turn = JSON.parse(json.stdout) as { traceId: string; durationMs: number; phases: { azureMs: number; mcpMs: number; clientMs: number } };
    const list = await runMemento(['traces', 'list', '--json', '--file', env.MEMENTO_TRACE_FILE]);
    const listed = (JSON.parse(list.stdout) as { turns: { traceId: string; durationMs: number; split: Record<string, number> }[] }).turns.find(
      (t) => t.traceId === turn.traceId,
    )!;
    expect(listed, 'the turn is in the trace file').toBeDefined();
    expect(listed.durationMs).toBeCloseTo(turn.durationMs, 0);
    expect(listed.split.azureMs).toBeCloseTo(turn.phases.azureMs, 0);
    expect(listed.split.mcpMs).toBeCloseTo(turn.phases.mcpMs, 0);
    expect(listed.split.clientMs).toBeCloseTo(turn.phases.clientMs, 0);

    const drawn = await runMemento(['ask', '--waterfall', 'what did I store?'], { env });
    expect(drawn.code, drawn.stderr).toBe(0);
    const lines = drawn.stdout.trimEnd().split('\n');
    const footerLine = lines.find((l) => /^[\d.]+ m?s: simulator /.test(l))!;
    const waterfallLine = lines.find((l) => / = Azure /.test(l))!;
    expect(waterfallLine).toMatch(/ = Azure /);
    expect(printedSplit(footerLine)).toEqual(printedSplit(waterfallLine));
    // `traces show` later draws the same split from the file.
    const id = /^trace ([0-9a-f]{32})/m.exec(drawn.stdout)![1]!;
    const show = await runMemento(['traces', 'show', id, '--file', env.MEMENTO_TRACE_FILE]);
    expect(printedSplit(show.stdout.split('\n').find((l) => / = Azure /.test(l))!)).toEqual(printedSplit(waterfallLine));
  }, 240_000);
});

describe('the simulator keeps what was said', () => {
  it('`memento ask "remember that the dentist is on Friday 9:30"` stores the whole sentence', async () => {
    const run = await runMemento(['ask', 'remember that the dentist is on Friday 9:30'], { env: { MEMENTO_DATA_DIR: join(dir.path, 'colon') } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Stored "the dentist is on Friday 9:30"');
  }, 120_000);
});

describe('`--json` errors are JSON on stdout', () => {
  it.each([
    [['ask', '--json'], 'usage', /missing required argument/],
    [['ask', '--json', '--frobnicate', 'hi'], 'usage', /unknown option '--frobnicate'/],
    [['traces', 'list', '--json', '--limit', '0'], 'usage', /--limit must be a whole number/],
  ])('memento %j', async (args, type, message) => {
    const run = await runMemento(args);
    expect(run.code).toBe(2);
    const out = JSON.parse(run.stdout) as { ok: boolean; error: { type: string; message: string } };
    expect(out).toMatchObject({ ok: false, error: { type } });
    expect(out.error.message).toMatch(message);
  });

  it('a configuration error (Azure endpoint without a key): JSON, exit 2, the key never printed', async () => {
    const run = await runMemento(['ask', '--json', 'hi'], { env: { AZURE_OPENAI_ENDPOINT: 'https://example.openai.azure.com' } });
    expect(run.code).toBe(2);
    const out = JSON.parse(run.stdout) as { ok: boolean; error: { type: string; message: string } };
    expect(out).toMatchObject({ ok: false, error: { type: 'usage' } });
    expect(out.error.message).toContain('AZURE_OPENAI_API_KEY');
  }, 120_000);
});

describe('memories do not follow the working directory', () => {
  it('one store for every folder (the user data directory); an old ./memento-data is mentioned once', async () => {
    const home = join(dir.path, 'home');
    const [a, b] = [join(dir.path, 'folder-a'), join(dir.path, 'folder-b')];
    await Promise.all([mkdir(home), mkdir(a), mkdir(join(b, 'memento-data'), { recursive: true })]);
    // The user's data directory from HOME, as on a machine with no XDG_DATA_HOME.
    const env = { HOME: home, XDG_DATA_HOME: undefined, MEMENTO_USER: 'lee' };
    const stored = await runMemento(['ask', 'remember that the boat leaves at noon'], { cwd: a, env });
    expect(stored.code, stored.stderr).toBe(0);
    const found = await runMemento(['ask', 'what did I store?'], { cwd: b, env });
    expect(found.stdout).toMatch(/You stored 1 memory:[\s\S]*the boat leaves at noon/);
    const where = join(home, '.local', 'share', 'memento');
    expect(found.stderr).toContain(`memories are now kept in ${where}`);
    expect(found.stderr).toContain(`MEMENTO_DATA_DIR=${join(b, 'memento-data')}`);
    const again = await runMemento(['ask', 'what did I store?'], { cwd: b, env });
    expect(again.stderr, 'told once').not.toContain('memories are now kept in');
    // MEMENTO_DATA_DIR still wins.
    const elsewhere = await runMemento(['ask', 'what did I store?'], { cwd: b, env: { ...env, MEMENTO_DATA_DIR: join(b, 'memento-data') } });
    expect(elsewhere.stdout).toMatch(/haven't stored any memories yet/);
  }, 240_000);

  it('the default user is $USER, else "default"', async () => {
    // `/user` with no name says who the chat acts for; no turn needed.
    const none = await runMemento(['chat'], { input: '/user\n', env: { USER: undefined } });
    expect(none.stdout).toContain('current user: default');
    const named = await runMemento(['chat'], { input: '/user\n', env: { USER: 'zed' } });
    expect(named.stdout).toContain('current user: zed');
  }, 120_000);
});

describe('tool schemas strict clients accept', () => {
  it('no property is typed with a type array (nullable values are anyOf)', async () => {
    const child = spawn(MEMENTO_BIN, ['serve', '--stdio'], { env: baseEnv({ MEMENTO_DATA_DIR: join(dir.path, 'schema') }), stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const send = (m: object) => child.stdin.write(`${JSON.stringify(m)}\n`);
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const deadline = Date.now() + 30_000;
    while (!out.includes('"id":2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.stdin.end();
    const list = out.split('\n').map((l) => (l ? (JSON.parse(l) as { id?: number; result?: { tools: { name: string }[] } }) : {})).find((m) => m.id === 2)!;
    const arrays: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${path}/${i}`));
      else if (node && typeof node === 'object') {
        if (Array.isArray((node as { type?: unknown }).type)) arrays.push(path);
        for (const [k, v] of Object.entries(node)) walk(v, `${path}/${k}`);
      }
    };
    for (const tool of list.result!.tools) walk(tool, tool.name);
    expect(arrays).toEqual([]);
    expect(JSON.stringify(list.result!.tools.find((t) => t.name === 'retrieve_memories'))).toContain('"nextCursor":{"anyOf"');
  }, 120_000);
});
