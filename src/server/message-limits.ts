/*
 * What every transport (HTTP, legacy SSE, stdio) checks about an incoming message before the
 * SDK sees it, with the plain sentences it answers. JSON.parse copes with any nesting, but the
 * SDK's schema check, the span decorator and JSON.stringify recurse, and a message nested
 * thousands deep ends in `RangeError: Maximum call stack size exceeded`. No MCP message needs
 * more than a few levels, so deeper ones are refused before anything recurses over them.
 */

/** Deepest nesting of objects and arrays accepted in one message. */
export const MAX_MESSAGE_DEPTH = 64;

export const PARSE_ERROR_MESSAGE = 'Parse error: the message is not valid JSON.';
export const TOO_DEEP_MESSAGE = `Invalid Request: the message nests objects or arrays more than ${MAX_MESSAGE_DEPTH} levels deep.`;

/** True when `value` nests objects/arrays deeper than `max`; iterative, so it cannot overflow. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

export type ParsedMessage = { ok: true; value: unknown } | { ok: false; kind: 'parse' | 'depth'; message: string };

/** Parses one message's text: the value, or which plain refusal applies. */
export function parseMessage(text: string): ParsedMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, kind: 'parse', message: PARSE_ERROR_MESSAGE };
  }
  if (nestedDeeperThan(value, MAX_MESSAGE_DEPTH)) return { ok: false, kind: 'depth', message: TOO_DEEP_MESSAGE };
  return { ok: true, value };
}
