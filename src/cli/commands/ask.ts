/*
 * `memento ask "TEXT"`: one turn for scripts. Prints the answer, then `trace <id>` with the
 * Jaeger link and the split of the turn's time; `--json` prints one JSON object instead.
 * Exit status 1 when the turn failed, 130 when interrupted.
 */
import { defaultUser, jaegerTraceLink } from '../../config.ts';
import { ConfigError } from '../../client/errors.ts';
import { Session } from '../../client/session.ts';
import { telemetry } from '../../telemetry/setup.ts';
import { CliError, EXIT } from '../errors.ts';
import { footer, forPerson, TurnView, trafficLine } from '../render.ts';
import { USER_ID_PATTERN } from '../../protocol.ts';
import { redact } from '../../log.ts';
import { invalidUserMessage } from './chat.ts';
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
  if (!USER_ID_PATTERN.test(user)) throw new CliError(invalidUserMessage(user), EXIT.usage);
  let view: TurnView | undefined;
  let session: Session;
  try {
    session = await Session.open({
      resume: opts.continue ?? false,
      onExchange: opts.traffic ? (e) => (view ? view.around(() => process.stderr.write(`${trafficLine(e)}\n`)) : process.stderr.write(`${trafficLine(e)}\n`)) : undefined,
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    view = opts.json ? undefined : new TurnView();
    const result = await session.agent.runTurn(text, {
      user,
      signal: abort.signal,
      onText: view?.text,
      onStatus: view?.status,
    });
    view?.finish(result);
    // Both are worked out from the spans the client holds in memory, which shutdown drops.
    void result.phases;
    void result.selfCheck;
    // Our own MCP server flushes its spans when its stdin closes, and the client flushes
    // its own: both at once, so a dead collector costs one deadline, not two.
    await Promise.all([session.close(), telemetry().shutdown()]);

    if (opts.json) {
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
          durationMs: round(result.durationMs),
          phases: { azureMs: round(result.phases.azureMs), mcpMs: round(result.phases.mcpMs), clientMs: round(result.phases.clientMs) },
          firstTokenMs: result.firstTokenMs !== undefined ? round(result.firstTokenMs) : null,
          chatCalls: result.chatCalls,
          toolCalls: result.toolCalls,
          toolRounds: result.toolRounds,
          tools: result.tools,
          selfCheck: result.selfCheck ?? null,
          ...(result.error ? { error: result.error } : {}),
        }))}\n`,
      );
    } else {
      if (result.error && !result.cancelled) process.stderr.write(`memento: ${forPerson(result.error.message)}\n`);
      process.stdout.write(`${footer(result)}\n`);
      if (opts.waterfall && result.traceId) await showWaterfall(result.traceId);
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
