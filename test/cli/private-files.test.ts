/*
 * The files the client writes for one person (issue 10, item 4): the trace file and the
 * chat's line history are 0600 in 0700 directories whatever the umask — here umask 000, the
 * worst — and a file left world-readable by an older version is tightened. The real
 * `memento chat` runs on a pseudo-terminal (util-linux `script`), as a person would use it,
 * since history is kept only for interactive sessions.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, MEMENTO_BIN, ROOT, tempDir } from '../helpers/memento.ts';

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir('memento-private-');
});
afterAll(() => dir.cleanup());

const mode = async (path: string) => (await stat(path)).mode & 0o777;

function chatOnTerminal(env: Record<string, string>, input: string): Promise<{ code: number | null; output: string }> {
  const child = spawn('sh', ['-c', `umask 000; exec script -qec "${MEMENTO_BIN} chat --user pat" /dev/null`], {
    cwd: ROOT,
    env: baseEnv({ TERM: 'dumb', ...env }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
    // One line at a time, each once a new prompt asks for it.
    const prompts = output.split('memento (pat)> ').length - 1;
    while (sent < prompts && pending.length) {
      sent += 1;
      child.stdin.write(pending.shift()!);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const pending = input.split(/(?<=\n)/);
  let sent = 0;
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('files that hold what a person typed or stored', () => {
  it('are 0600 in 0700 directories under umask 000, and an old world-readable one is tightened', { timeout: 90_000 }, async () => {
    const traceFile = join(dir.path, 'state', 'memento', 'traces.jsonl');
    const historyDir = join(dir.path, 'old');
    const historyFile = join(historyDir, 'chat_history');
    await mkdir(historyDir);
    await writeFile(historyFile, 'an old line\n');
    await chmod(historyFile, 0o644);

    const run = await chatOnTerminal(
      {
        OTEL_SDK_DISABLED: 'false',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
        MEMENTO_TRACE_FILE: traceFile,
        MEMENTO_HISTORY_FILE: historyFile,
        MEMENTO_DATA_DIR: join(dir.path, 'data'),
      },
      'hello there\n/quit\n',
    );
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('Memento');

    expect((await stat(traceFile)).size).toBeGreaterThan(0);
    expect(await mode(traceFile)).toBe(0o600);
    expect(await mode(join(dir.path, 'state', 'memento'))).toBe(0o700);
    expect(await mode(join(dir.path, 'state'))).toBe(0o700);
    expect(await readFile(historyFile, 'utf8')).toContain('hello there');
    expect(await mode(historyFile)).toBe(0o600);
  });
});
