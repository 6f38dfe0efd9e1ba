/*
 * Text from elsewhere (a model's answer, a stored memory it quotes, an endpoint's error
 * message) printed for a person must not drive their terminal: escape and control sequences
 * can recolour, retitle the window, write the clipboard (OSC 52), clear the screen or move
 * the cursor to overwrite what was printed. `forTerminal` shows each control character as
 * inert text instead (ESC as `^[`), keeping newlines and tabs; bidirectional overrides, which
 * reorder what is shown, are shown as `<U+202E>`. `--json` output is not passed through it:
 * JSON escapes control characters itself, and stays exact.
 */
// C0 controls except tab and newline, DEL, C1 controls; and the bidi embedding, override and
// isolate controls.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

function visible(c: string): string {
  const code = c.charCodeAt(0);
  if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
  if (code === 0x7f) return '^?';
  return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
}

/** `text` safe to write to a terminal: control characters made visible, newlines and tabs kept. */
export function forTerminal(text: string): string {
  return text.replace(CONTROL, visible);
}
