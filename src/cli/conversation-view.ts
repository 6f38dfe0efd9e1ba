/*
 * `/trace all` in the chat: the current conversation's turns, from the turns this process
 * still holds in memory joined with the local trace file (which also has the MCP server's
 * spans and turns older than the in-memory window).
 */
import { telemetry } from '../telemetry/handle.ts';
import { traceFileSettings } from '../telemetry/trace-file.ts';
import { findConversation } from '../traces/conversations.ts';
import { renderConversation } from '../traces/conversation-report.ts';
import { readTraceFile, shouldColor, spansFromReadableSpans, groupTurns, type TraceSpan } from '../traces/index.ts';

export async function showConversation(conversationId: string, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const spans = new Map<string, TraceSpan>();
  for (const s of spansFromReadableSpans(telemetry().recorder?.all() ?? [])) spans.set(s.spanId, s);
  const file = traceFileSettings();
  if (file) {
    try {
      for (const s of (await readTraceFile(file.path)).spans) if (!spans.has(s.spanId)) spans.set(s.spanId, s);
    } catch {
      // What is in memory still shows the recent turns.
    }
  }
  const found = findConversation(groupTurns(spans.values()), conversationId);
  if (found.kind !== 'found') {
    out.write('no traced turn in this conversation yet\n');
    return;
  }
  out.write(renderConversation(found.conversation, { color: shouldColor(out), width: out.columns }));
}
