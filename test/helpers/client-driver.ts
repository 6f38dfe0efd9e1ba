/*
 * A client process for reliability tests: many simulated users in one Node process, each a
 * real `Session` running real `Agent.runTurn` turns — the code `memento chat` and `memento
 * ask` run — with telemetry started the way `memento` starts it. Spawning one `memento ask`
 * per turn would spend a 2-core machine on process start-up instead of on the turns.
 *
 * It is driven by `test/helpers/drive.ts` over stdin/stdout, one JSON object a line:
 *   in:  {"batch": N, "users": [{"user": "u1", "texts": ["…", "…"]}, …]}
 *        users run in parallel, each user's texts in order on the user's own session
 *   out: {"type": "turn", "batch": N, "user": "u1", "index": i, ok, traceId, error, …} per turn,
 *        {"type": "batch", "batch": N} when all of a batch's turns have returned
 * When stdin ends it closes every session and shuts telemetry down exactly as `memento ask`
 * does (both at once, under the SDK shutdown's own deadline), prints {"type": "exit"} and exits.
 *
 * Configuration is the product's own environment (AZURE_OPENAI_*, MEMENTO_MCP_URL,
 * MEMENTO_MODEL_*, OTEL_*), read per session, so a test shapes it like any deployment.
 */
import { createInterface } from 'node:readline';
import { startTelemetry } from '../../src/telemetry/setup.ts';

// Before the client modules load, as preload.ts does for `memento`.
const telemetry = startTelemetry('client');
const { Session } = await import('../../src/client/session.ts');
type Session = Awaited<ReturnType<typeof Session.open>>;

interface BatchRequest {
  batch: number;
  users: { user: string; texts: string[] }[];
}

const write = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

// One session per user for the life of the process: a user's later turns reuse its MCP
// connection and conversation, as they would in `memento chat`.
const sessions = new Map<string, Promise<Session>>();
const sessionOf = (user: string) => {
  let session = sessions.get(user);
  if (!session) {
    session = Session.open();
    sessions.set(user, session);
  }
  return session;
};

async function runUser(batch: number, user: string, texts: string[]): Promise<void> {
  let session: Session;
  try {
    session = await sessionOf(user);
  } catch (err) {
    for (const [index, text] of texts.entries()) write({ type: 'turn', batch, user, index, text, ok: false, thrown: String(err) });
    return;
  }
  for (const [index, text] of texts.entries()) {
    const started = performance.now();
    try {
      const result = await session.agent.runTurn(text, { user });
      write({
        type: 'turn',
        batch,
        user,
        index,
        text,
        ok: result.ok,
        answer: result.answer,
        traceId: result.traceId ?? null,
        error: result.error ?? null,
        chatCalls: result.chatCalls,
        toolCalls: result.toolCalls,
        tools: result.tools,
        durationMs: performance.now() - started,
      });
    } catch (err) {
      // runTurn reports failures in its result; a throw is a bug the test must see as such.
      write({ type: 'turn', batch, user, index, text, ok: false, thrown: String((err as Error)?.stack ?? err), durationMs: performance.now() - started });
    }
  }
}

const pending: Promise<void>[] = [];
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const request = JSON.parse(line) as BatchRequest;
  const work = Promise.all(request.users.map((u) => runUser(request.batch, u.user, u.texts))).then(() => {
    write({ type: 'batch', batch: request.batch });
  });
  pending.push(work);
}
await Promise.all(pending);
const closing = Promise.all([...sessions.values()].map(async (s) => (await s).close()));
await Promise.all([closing, telemetry.shutdown()]);
write({ type: 'exit' });
process.exit(0);
