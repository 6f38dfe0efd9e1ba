/*
 * resolveInside: each test is named after the attack it stops.
 */
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveInside, UnsafePathError } from '../../src/server/path-safety.ts';
import { FILE_RULES, USER_RULES } from '../../src/server/storage/index.ts';

const ROOT = path.resolve('/srv/memento-data');
const user = (name: unknown) => resolveInside(ROOT, name, USER_RULES);
const file = (name: unknown) => resolveInside(path.join(ROOT, 'alice'), name, FILE_RULES);

describe('resolveInside', () => {
  it('accepts plain names and resolves them directly inside the directory', () => {
    expect(user('alice')).toBe(path.join(ROOT, 'alice'));
    expect(user('bob.smith-2_x')).toBe(path.join(ROOT, 'bob.smith-2_x'));
    expect(file('meeting summary.txt')).toBe(path.join(ROOT, 'alice', 'meeting summary.txt'));
  });

  it('stops parent-directory traversal (../../etc/passwd)', () => {
    expect(() => user('../../etc/passwd')).toThrow(/absolute path|path separator|"\.\."/);
    expect(() => user('..')).toThrow(/"\." or "\.\."/);
    expect(() => file('..')).toThrow(UnsafePathError);
  });

  it('stops a traversal hidden between dots (a..b, ...)', () => {
    expect(() => user('a..b')).toThrow(/"\.\."/);
    expect(() => file('...')).toThrow(/"\.\."/);
  });

  it('stops the current-directory name (.) that would alias the root', () => {
    expect(() => user('.')).toThrow(/"\." or "\.\."/);
  });

  it('stops absolute POSIX paths (/etc/passwd)', () => {
    expect(() => user('/etc/passwd')).toThrow(/absolute path/);
    expect(() => file('/tmp/x.txt')).toThrow(/absolute path/);
  });

  it('stops Windows drive and UNC paths (C:\\Windows, \\\\server\\share)', () => {
    expect(() => user('C:\\Windows')).toThrow(/absolute path/);
    expect(() => user('C:evil')).toThrow(/absolute path/);
    expect(() => file('\\\\server\\share\\x')).toThrow(/absolute path/);
  });

  it('stops nested paths through either separator (a/b, a\\b)', () => {
    expect(() => user('alice/../bob')).toThrow(/path separator/);
    expect(() => file('sub/dir.txt')).toThrow(/path separator/);
    expect(() => file('sub\\dir.txt')).toThrow(/path separator/);
  });

  it('stops NUL-byte truncation (alice\\0/../bob)', () => {
    expect(() => user('alice\0')).toThrow(/NUL byte/);
    expect(() => file('note.txt\0.png')).toThrow(/NUL byte/);
  });

  it('stops control characters and newlines that forge log lines or names', () => {
    expect(() => user('alice\nbob')).toThrow(/control or invisible/);
    expect(() => file('a\tb.txt')).toThrow(/control or invisible/);
    expect(() => file('a\x7fb.txt')).toThrow(/control or invisible/);
  });

  it('stops invisible bidi overrides that disguise an extension (U+202E "txt.exe")', () => {
    expect(() => file('invoice\u202Etxt.exe')).toThrow(/control or invisible/);
    expect(() => user('ali\u200Bce')).toThrow(/control or invisible/);
  });

  it('stops Unicode look-alikes of dots and slashes (fullwidth ．．／, one-dot leader, division slash)', () => {
    expect(() => user('\uFF0E\uFF0E\uFF0Fetc')).toThrow(/look-alike/);
    expect(() => file('\u2024\u2024')).toThrow(/look-alike/);
    expect(() => file('a\u2215b.txt')).toThrow(UnsafePathError);
    expect(() => user('\uFF41lice')).toThrow(/look-alike/);
  });

  it('stops homoglyph user ids outside the whitelist (Cyrillic "аlice")', () => {
    expect(() => user('\u0430lice')).toThrow(/not allowed/);
  });

  it('stops overlong names (past the whitelist and NAME_MAX)', () => {
    expect(() => user('a'.repeat(65))).toThrow(/65 bytes long; at most 64/);
    expect(() => file('a'.repeat(101))).toThrow(/at most 100/);
    expect(() => resolveInside(ROOT, 'a'.repeat(300), { ...USER_RULES, pattern: /.*/, maxBytes: 10_000 })).toThrow(
      /at most 255/,
    );
  });

  it('stops hidden and dot-leading names (.ssh, .tmp-…) that would shadow our own files', () => {
    expect(() => user('.ssh')).toThrow(/not allowed/);
    expect(() => file('.tmp-1-x.content')).toThrow(/not allowed/);
  });

  it('stops names that are not strings (numbers, objects, arrays)', () => {
    expect(() => user(42)).toThrow(/must be a string/);
    expect(() => user({ toString: () => '..' })).toThrow(/must be a string/);
    expect(() => user(['alice'])).toThrow(/must be a string/);
  });

  it('stops the empty name that would resolve to the directory itself', () => {
    expect(() => user('')).toThrow(/empty/);
  });

  it('stops a sibling-prefix escape: the check is against dir + separator', () => {
    // With a permissive whitelist, a name can only ever land directly inside the directory;
    // "/srv/memento-data-evil" shares the root's prefix but is not inside it.
    const permissive = { what: 'name', pattern: /.*/u, patternHelp: 'anything' };
    expect(resolveInside(ROOT, 'x', permissive)).toBe(`${ROOT}${path.sep}x`);
    expect(() => resolveInside(ROOT, '../memento-data-evil', permissive)).toThrow(UnsafePathError);
  });

  it('never yields a path outside the directory, whatever the name (property)', () => {
    const permissive = { what: 'name', pattern: /.*/su, patternHelp: 'anything' };
    const alphabet = fc.constantFrom('a', '.', '/', '\\', '\0', ':', 'C', '\u2024', '\uFF0F', '\u202E', ' ', '~', '%');
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(alphabet, { maxLength: 20 }).map((a) => a.join(''))), (name) => {
        let resolved: string;
        try {
          resolved = resolveInside(ROOT, name, permissive);
        } catch (err) {
          return err instanceof UnsafePathError;
        }
        return path.dirname(resolved) === ROOT && resolved.startsWith(ROOT + path.sep);
      }),
      { numRuns: 2000 },
    );
  });
});
