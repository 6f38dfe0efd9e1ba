/*
 * `memento ask "TEXT"`: one turn for scripts. Prints the answer, then `trace <id>` with where
 * to read it and the split of the turn's time; `--json` prints one JSON object instead.
 * Exit status 1 when the turn failed, 130 when interrupted.
 */
import { defaultUser, jaegerTraceLink } from '../../config.ts';
import { USER_ID_PATTERN } from '../../protocol.ts';
import { telemetry } from '../../telemetry/handle.ts';
import { CliError, EXIT } from '../errors.ts';
import { openSession } from '../open-session.ts';
import { redact } from '../../log.ts';
import { footer, forPerson } from '../render.ts';
import { INVALID_USER } from '../slash-commands.ts';
import { showWaterfall } from '../waterfall.ts';

export interface AskOptions {
  text: string;
  user?: string;
  json?: boolean;
  traffic?: boolean;
  waterfall?: boolean;
  /** Continue the user's last conversation (its stored history) instead of starting a new one. */
  continue?: boolean;
}

export async function ask(opts: AskOptions): Promise<number> {
  const text = opts.text.trim();
  if (!text) throw new CliError('ask needs some text, e.g. memento ask "what did I store yesterday?"', EXIT.usage);
  const user = opts.user ?? defaultUser();
  if (!USER_ID_PATTERN.test(user)) throw new CliError(INVALID_USER(user), EXIT.usage);
  const { session, turn } = await openSession({ traffic: opts.traffic, resume: opts.continue ?? false });

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await turn(text, { user, signal: abort.signal, quiet: opts.json });
    // The waterfall is drawn before the shutdown, while the server's spans can still arrive.
    const waterfall = !opts.json && opts.waterfall && result.traceId;
    if (!opts.json) {
      if (result.cancelled) process.stderr.write('memento: interrupted\n');
      else if (result.error) process.stderr.write(`memento: ${forPerson(result.error.message)}\n`);
      process.stdout.write(`${footer(result, session.model.settings.provider)}\n`);
      if (waterfall) await showWaterfall(result.traceId!, { waitForServer: session.ownServer });
    }
    // Our own MCP server flushes its spans when its stdin closes, and the client flushes
    // its own: both at once, so a slow collector costs one deadline, not two.
    // The self-check reads the spans the client holds in memory, which shutdown drops.
    void result.selfCheck;
    await Promise.all([session.close(), telemetry().shutdown()]);
    const notice = telemetry().takeNotice();
    if (notice) process.stderr.write(`memento: ${notice}\n`);

    if (opts.json) {
      const error = result.cancelled ? { type: 'cancelled', message: 'interrupted' } : result.error;
      // Exact (JSON escapes control characters itself), but never with a secret in it.
      process.stdout.write(
        `${redact(JSON.stringify({
          answer: result.answer,
          traceId: result.traceId ?? null,
          jaegerUrl: result.traceId ? jaegerTraceLink(result.traceId) : null,
          user,
          conversationId: session.agent.history.of(user).id,
          turn: session.agent.history.of(user).turns,
          ok: result.ok,
          ...(result.cancelled ? { cancelled: true } : {}),
          durationMs: round(result.durationMs),
          phases: { azureMs: round(result.phases.azureMs), mcpMs: round(result.phases.mcpMs), clientMs: round(result.phases.clientMs) },
          firstTokenMs: result.firstTokenMs !== undefined ? round(result.firstTokenMs) : null,
          chatCalls: result.chatCalls,
          toolCalls: result.toolCalls,
          toolRounds: result.toolRounds,
          tools: result.tools,
          selfCheck: result.selfCheck ?? null,
          ...(error ? { error } : {}),
        }))}\n`,
      );
    }
    if (result.cancelled) return EXIT.interrupted;
    return result.ok ? EXIT.ok : EXIT.failed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await session.close();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
