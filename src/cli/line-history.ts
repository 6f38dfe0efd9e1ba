/*
 * The REPL's line history (arrow-up), kept in MEMENTO_HISTORY_FILE between sessions. A
 * convenience: a read-only home or a missing file never breaks the chat.
 */
import { appendFileSync, chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SETTINGS, setting } from '../config.ts';

export const HISTORY_SIZE = 500;

function historyFile(): string {
  return setting(SETTINGS.historyFile);
}

/** The saved lines, newest first (readline's order). */
export function loadLineHistory(): string[] {
  try {
    return readFileSync(historyFile(), 'utf8').split('\n').filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
}

let historyChecked = false;

export function saveLine(line: string): void {
  try {
    const file = historyFile();
    // Private whatever the umask: what a person typed may be what they asked to remember.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    appendFileSync(file, `${line.replace(/\n/g, ' ')}\n`, { mode: 0o600 });
    if (!historyChecked) {
      historyChecked = true;
      chmodSync(file, 0o600);
    }
  } catch {
    // History is a convenience; a read-only home must not break the chat.
  }
}
