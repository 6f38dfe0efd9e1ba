/*
 * Work-arounds for known bugs in @modelcontextprotocol/sdk, each with the upstream issue it
 * waits on and a test (test/server/sdk-fixes.test.ts) that fails the day the SDK's own fix
 * makes it unnecessary, so it gets removed rather than forgotten.
 */
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

type StreamEntry = { resolveJson?: (response: Response) => void; cleanup?: () => void };

/**
 * The SDK's Streamable HTTP transport, answering in JSON mode (`enableJsonResponse`), resolves
 * each POST's pending Response but never runs that stream's cleanup, so every POST leaves an
 * entry (its Response, headers and body) in the session's stream map until the session ends:
 * ~4 KB per call, linear, in a session a chat keeps open for hours
 * (modelcontextprotocol/typescript-sdk#2559, fix pending in #2747; bench/history/2026-11-21.md §7).
 * This runs the cleanup right after the Response is handed over, as the fix does. When the
 * private shape it relies on is not there, it does nothing.
 */
export function releaseJsonResponseStreams(transport: StreamableHTTPServerTransport): void {
  const inner = (transport as unknown as { _webStandardTransport?: { _streamMapping?: unknown } })._webStandardTransport;
  const mapping = inner?._streamMapping;
  if (!(mapping instanceof Map)) return;
  const set = mapping.set.bind(mapping);
  mapping.set = (id: unknown, entry: StreamEntry) => {
    const { resolveJson, cleanup } = entry ?? {};
    if (typeof resolveJson === 'function' && typeof cleanup === 'function') {
      entry.resolveJson = (response: Response) => {
        resolveJson(response);
        cleanup();
      };
    }
    return set(id, entry);
  };
}

/** How many JSON-mode POST streams a transport still holds (for the test that watches the fix). */
export function openJsonStreamCount(transport: StreamableHTTPServerTransport): number | undefined {
  const mapping = (transport as unknown as { _webStandardTransport?: { _streamMapping?: unknown } })._webStandardTransport
    ?._streamMapping;
  if (!(mapping instanceof Map)) return undefined;
  return [...mapping.values()].filter((e: StreamEntry) => typeof e?.resolveJson === 'function').length;
}
