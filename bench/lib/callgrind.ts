/*
 * Instruction counts of a process running under callgrind (startChild's callgrindOut), over
 * an interval: `callgrind_control --dump` writes the counts since the previous dump and
 * resets them, so a dump before and a dump after the measured work bracket exactly that work,
 * whatever start-up and warm-up came before.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);
const dumps = new Map<number, number>();

/** Dumps the process's counts and returns the instructions since its previous dump. */
export async function dumpInstructions(pid: number, outPattern: string): Promise<number> {
  await run('callgrind_control', ['--dump', String(pid)], { timeout: 120_000 });
  const n = (dumps.get(pid) ?? 0) + 1;
  dumps.set(pid, n);
  const file = `${outPattern.replace('%p', String(pid))}.${n}`;
  const text = await readFile(file, 'utf8');
  const m = /^totals:\s*(\d+)/m.exec(text) ?? /^summary:\s*(\d+)/m.exec(text);
  if (!m) throw new Error(`no instruction total in ${file}`);
  return Number(m[1]);
}

/** Turns instrumentation on in a process started with `callgrindLate`. */
export async function startInstrumentation(pid: number): Promise<void> {
  await run('callgrind_control', ['--instr=on', String(pid)], { timeout: 120_000 });
}

export async function valgrindAvailable(): Promise<boolean> {
  try {
    await run('valgrind', ['--version']);
    await run('callgrind_control', ['--help']).catch((err: { code?: unknown }) => {
      // It prints its usage with a non-zero status; only a missing program is a failure.
      if (err.code === 'ENOENT') throw err;
    });
    return true;
  } catch {
    return false;
  }
}
