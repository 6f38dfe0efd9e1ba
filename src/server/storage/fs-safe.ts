/*
 * The only file operations the embedded backend uses, each one safe against what it finds
 * under the data directory: nothing follows a symbolic link (O_NOFOLLOW on every open, lstat
 * before a directory is used), new files are created exclusively (never replacing a name),
 * directories are made 0700 and files 0600 whatever the umask, and every failure becomes a
 * sentence that names the path and says what to do.
 *
 * The calls a tool makes (a store's files, a delete, a read, the change check's stat) are
 * synchronous. Each is a page-cache operation of microseconds — none of them waits for the
 * disk, as nothing here calls fsync, and SQLite's own writes run on the same thread the same
 * way — while the asynchronous form costs a thread-pool round trip per call (a futex, an
 * eventfd write and an epoll wake-up, ~0.1 ms each on the 2-core test machine): a store's
 * ten file operations took 1.0 ms asynchronously and 0.14 ms synchronously (p50, 500 stores;
 * docs/server.md). Work over a whole directory (the start-up pass) stays asynchronous.
 */
import { chmodSync, closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, lstat, mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { log } from '../../log.ts';
import { errorCode, StorageError } from './types.ts';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** A symbolic link where Memento expected its own file or directory: refused, never followed. */
export class SymlinkRefusedError extends StorageError {
  constructor(what: string, where: string) {
    super(
      `Refused: ${what} ${where} is a symbolic link, and Memento never follows links under its data directory. ` +
        'Replace the link with a real directory or file.',
      'ELOOP',
    );
    this.name = 'SymlinkRefusedError';
  }
}

/** Logs and returns the refusal (one log line per refusal, naming the path). */
export function refuseLink(what: string, where: string): SymlinkRefusedError {
  log.warn('refusing to follow a symbolic link in the data directory', { path: where });
  return new SymlinkRefusedError(what, where);
}

function reason(code: string | undefined): string {
  return code === 'ENOSPC' ? 'no space is left on the device'
    : code === 'EACCES' || code === 'EPERM' ? 'permission is denied'
    : code === 'EROFS' ? 'the file system is read-only'
    : code === 'EDQUOT' ? 'the disk quota is exhausted'
    : code === 'ENOTDIR' ? 'a part of the path is a file, not a directory'
    : (code ?? 'an I/O error');
}

function advice(code: string | undefined): string {
  return code === 'ENOSPC' || code === 'EDQUOT' ? 'Free some space there, or move the data directory (--data-dir).'
    : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? 'Make it writable for the server, or start the server with --data-dir pointing at a writable directory.'
    : 'Check the directory, or start the server with --data-dir pointing at another one.';
}

/** SQLite's own result codes (node:sqlite puts them in `errcode`) as the system codes they mean. */
function sqliteAsSystemCode(err: unknown): string | undefined {
  const errcode = (err as { errcode?: unknown } | null)?.errcode;
  if (typeof errcode !== 'number') return undefined;
  const primary = errcode & 0xff;
  return primary === 13 ? 'ENOSPC' : primary === 8 ? 'EROFS' : primary === 14 ? 'EACCES' : primary === 10 ? 'EIO' : undefined;
}

/** A failure of `action` under `where`, as one sentence naming the path and what to do. */
export function ioFailure(action: string, err: unknown, where: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = sqliteAsSystemCode(err) ?? errorCode(err);
  return new StorageError(`Could not ${action}: ${reason(code)} in ${where}. ${advice(code)}`, code ?? 'EIO');
}

/**
 * Makes `dir` and any missing parents, 0700. Node's own recursive mkdir loops forever where
 * a parent refuses new entries without saying why (under /proc); this walks the path once
 * and stops at the first refusal with a sentence naming it.
 */
export async function makeDataDir(dir: string): Promise<boolean> {
  const parts: string[] = [];
  for (let p = path.resolve(dir); ; p = path.dirname(p)) {
    parts.unshift(p);
    if (path.dirname(p) === p) break;
  }
  let created = false;
  for (const p of parts) {
    let info;
    try {
      info = await lstat(p);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw dataDirProblem(dir, p, err);
    }
    if (info) {
      // A link among the parents (or the data directory itself) is the owner's choice.
      if (info.isSymbolicLink()) {
        const target = await stat(p).catch(() => undefined);
        if (target?.isDirectory()) continue;
      }
      if (!info.isDirectory()) {
        throw new StorageError(
          p === path.resolve(dir)
            ? `The data directory ${dir} is a file, not a directory. Pass --data-dir (or MEMENTO_DATA_DIR) a directory, or a path that does not exist yet.`
            : `Cannot create the data directory ${dir}: ${p} is a file, not a directory. Choose another --data-dir.`,
          'ENOTDIR',
        );
      }
      continue;
    }
    try {
      await mkdir(p, { mode: DIR_MODE });
      await chmod(p, DIR_MODE);
      created = true;
    } catch (err) {
      if (errorCode(err) === 'EEXIST') continue;
      throw dataDirProblem(dir, p, err);
    }
  }
  return created;
}

function dataDirProblem(dir: string, at: string, err: unknown): StorageError {
  const code = errorCode(err);
  const parent = path.dirname(at);
  const why =
    code === 'ENOENT' ? `${parent} does not accept new directories`
    : code === 'EROFS' ? `${parent} is on a read-only file system`
    : code === 'EACCES' || code === 'EPERM' ? `permission to create ${at} is denied`
    : `${at}: ${reason(code)}`;
  return new StorageError(`Cannot create the data directory ${dir}: ${why}. Choose another --data-dir (or MEMENTO_DATA_DIR).`, code ?? 'EIO');
}

/** What is at `p`, without following a link. */
export function kindOf(p: string): 'missing' | 'dir' | 'file' | 'link' | 'other' {
  const info = lstatSync(p, { throwIfNoEntry: false });
  if (!info) return 'missing';
  return info.isSymbolicLink() ? 'link' : info.isDirectory() ? 'dir' : info.isFile() ? 'file' : 'other';
}

/** Creates `p` 0700 unless it is a directory already; refuses a link or a file there. */
export function ensureOwnDir(p: string, what: string): void {
  const kind = kindOf(p);
  if (kind === 'dir') return;
  if (kind === 'link') throw refuseLink(what, p);
  if (kind !== 'missing') throw new StorageError(`Could not use ${what} ${p}: it is not a directory. Move it away.`, 'ENOTDIR');
  try {
    mkdirSync(p, { mode: DIR_MODE });
    chmodSync(p, DIR_MODE);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return ensureOwnDir(p, what);
    throw err;
  }
}

/**
 * Creates `p` with `data`, 0600; fails with EEXIST rather than replace anything (a link
 * included). Returns the file's modification time once written (a later `link` to it does
 * not change that), so the caller needs no stat of its own. The mode is set explicitly only
 * when the umask took bits off 0600: the fstat that gives the time also shows the mode.
 */
export function writeNewFile(p: string, data: string): { mtimeMs: number } {
  const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
  try {
    writeFileSync(fd, data, 'utf8');
    const info = fstatSync(fd);
    if ((info.mode & 0o777) !== FILE_MODE) fchmodSync(fd, FILE_MODE);
    return { mtimeMs: info.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

/** Replaces the content of a file this process created and still owns (a temporary file); returns its new modification time. */
export function rewriteOwnFile(p: string, data: string): { mtimeMs: number } {
  const fd = openSync(p, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
  try {
    writeFileSync(fd, data, 'utf8');
    return { mtimeMs: fstatSync(fd).mtimeMs };
  } finally {
    closeSync(fd);
  }
}

/** readNoFollow's synchronous form, for the one file a call reads. */
export function readNoFollowSync(p: string, what: string): { text: string; mtimeMs: number; size: number } {
  let fd: number;
  try {
    fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errorCode(err) === 'ELOOP') throw refuseLink(what, p);
    throw err;
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) throw notRegular(what, p);
    return { text: readFileSync(fd, 'utf8'), mtimeMs: info.mtimeMs, size: info.size };
  } finally {
    closeSync(fd);
  }
}

function notRegular(what: string, p: string): StorageError {
  return new StorageError(`Could not read ${what} ${p}: it is not a regular file.`, 'EISDIR');
}

/** Reads `p` as UTF-8 without following a link; a link is refused with a log line. */
export async function readNoFollow(p: string, what: string): Promise<{ text: string; mtimeMs: number; size: number }> {
  let handle;
  try {
    handle = await open(p, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errorCode(err) === 'ELOOP') throw refuseLink(what, p);
    throw err;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notRegular(what, p);
    const text = await handle.readFile('utf8');
    return { text, mtimeMs: info.mtimeMs, size: info.size };
  } finally {
    await handle.close();
  }
}
