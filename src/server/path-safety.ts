/*
 * The one gate between a name that came from outside (a user id, a file name a model chose)
 * and a path on disk, after `filesystem/path-validation.ts` of the MCP reference servers.
 *
 * It is pure — no file system access — so it cannot be raced and can be tested exhaustively.
 * It rejects rather than repairs: a name that needs repairing was either a mistake the caller
 * should hear about or an attack, and silently "fixing" it hides both. Symlinks are not
 * considered: the server creates every entry under the data root itself and never follows a
 * name it did not validate.
 */
import path from 'node:path';

/** Longest file name most file systems accept (NAME_MAX), in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

export interface NameRules {
  /** What the name is, for the error message: "user id", "file name". */
  what: string;
  /** The whitelist a name must match once the specific attacks are ruled out. */
  pattern: RegExp;
  /** How `pattern` reads to a person, for the error message. */
  patternHelp: string;
  /** Longest name accepted, in UTF-8 bytes (at most MAX_NAME_BYTES). */
  maxBytes?: number;
}

// C0/C1 controls and the invisible format characters (bidi overrides such as U+202E, zero-width
// joiners) that make a name display as something it is not.
const CONTROL_OR_INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;
const CONTROL_OR_INVISIBLE_ALL = new RegExp(CONTROL_OR_INVISIBLE.source, 'gu');
const WINDOWS_DRIVE = /^[A-Za-z]:/;

/**
 * A value the caller sent, quoted for an error message: control and invisible characters
 * become U+FFFD (an error must not carry terminal escapes or line breaks back to whoever
 * prints it), and it is cut to 40 characters without splitting one in half.
 */
export function shown(value: string): string {
  const chars = [...value.replace(CONTROL_OR_INVISIBLE_ALL, '\uFFFD')];
  return JSON.stringify(chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : chars.join(''));
}

/**
 * The absolute path of `name` as a single entry directly inside `dir`, or an
 * UnsafePathError that says which rule `name` broke.
 *
 * In order: not a string; empty; NUL byte (C APIs would truncate at it); control or invisible
 * characters; longer than `maxBytes`; absolute (POSIX, Windows drive, UNC); a path separator
 * of either platform; `.`/`..` anywhere; Unicode compatibility characters (NFKC changes the
 * name: fullwidth `．．／`, the one-dot leader `․`, division slash `∕` and other look-alikes);
 * outside `rules.pattern`. Finally the resolved path must start with `dir + path.sep`, so a
 * sibling such as `/data/alice-evil` never passes for `/data/alice`.
 */
export function resolveInside(dir: string, name: unknown, rules: NameRules): string {
  const { what } = rules;
  if (typeof name !== 'string') throw new UnsafePathError(`The ${what} must be a string.`);
  if (name.length === 0) throw new UnsafePathError(`The ${what} is empty.`);
  if (name.includes('\0')) throw new UnsafePathError(`The ${what} contains a NUL byte.`);
  if (CONTROL_OR_INVISIBLE.test(name)) {
    throw new UnsafePathError(`The ${what} ${shown(name)} contains control or invisible characters.`);
  }
  const maxBytes = Math.min(rules.maxBytes ?? MAX_NAME_BYTES, MAX_NAME_BYTES);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > maxBytes) {
    throw new UnsafePathError(`The ${what} is ${bytes} bytes long; at most ${maxBytes} are allowed.`);
  }
  if (path.posix.isAbsolute(name) || path.win32.isAbsolute(name) || WINDOWS_DRIVE.test(name)) {
    throw new UnsafePathError(`The ${what} ${shown(name)} is an absolute path; only a plain name is allowed.`);
  }
  if (name.includes('/') || name.includes('\\')) {
    throw new UnsafePathError(`The ${what} ${shown(name)} contains a path separator; only a plain name is allowed.`);
  }
  if (name === '.' || name.includes('..')) {
    throw new UnsafePathError(`The ${what} ${shown(name)} contains "." or ".." path segments.`);
  }
  if (name.normalize('NFKC') !== name) {
    throw new UnsafePathError(
      `The ${what} ${shown(name)} contains Unicode look-alike characters (it reads as ${shown(name.normalize('NFKC'))}).`,
    );
  }
  if (!rules.pattern.test(name)) {
    throw new UnsafePathError(`The ${what} ${shown(name)} is not allowed: ${rules.patternHelp}.`);
  }
  const root = path.resolve(dir);
  const resolved = path.resolve(root, name);
  if (!resolved.startsWith(root + path.sep) || path.dirname(resolved) !== root) {
    throw new UnsafePathError(`The ${what} ${shown(name)} would leave its directory.`);
  }
  return resolved;
}
