/*
 * Waiting for something observable: a probe polled until it answers, with a deadline that
 * names what was awaited. Tests and helpers wait through this instead of sleeping.
 */

/**
 * Polls `probe` every `intervalMs` until it returns a value that is not undefined; a throw
 * counts as "not yet" (its message goes into the timeout error). `stop` ends the wait early
 * with an error, e.g. when the process being waited for has exited.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 60_000, intervalMs = 100, stop }: { timeoutMs?: number; intervalMs?: number; stop?: () => string | undefined } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    const stopped = stop?.();
    if (stopped !== undefined) throw new Error(`${what}: ${stopped}${last ? ` (last: ${(last as Error).message})` : ''}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
