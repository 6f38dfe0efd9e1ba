/*
 * The one way `memento chat` and `memento ask` open a session and run a turn in the
 * terminal: settings errors become usage errors (exit 2), `--traffic` lines are printed
 * around the spinner, and a turn is drawn by a TurnView.
 */
import { ConfigError } from '../client/errors.ts';
import { Session } from '../client/session.ts';
import type { TurnResult } from '../client/agent.ts';
import { CliError, EXIT } from './errors.ts';
import { TurnView, trafficLine } from './render.ts';

export interface TerminalSession {
  session: Session;
  /** Runs one turn, streaming it to the terminal unless `quiet` (`--json`). */
  turn(text: string, options: { user: string; signal: AbortSignal; quiet?: boolean }): Promise<TurnResult>;
}

export async function openSession(options: { traffic?: boolean; resume?: boolean }): Promise<TerminalSession> {
  let view: TurnView | undefined;
  const print = (line: string) => (view ? view.around(() => process.stderr.write(line)) : process.stderr.write(line));
  let session: Session;
  try {
    session = await Session.open({
      resume: options.resume ?? false,
      onExchange: options.traffic ? (e) => print(`${trafficLine(e)}\n`) : undefined,
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
  return {
    session,
    turn: async (text, { user, signal, quiet }) => {
      view = quiet ? undefined : new TurnView();
      try {
        const result = await session.agent.runTurn(text, { user, signal, onText: view?.text, onStatus: view?.status });
        view?.finish(result);
        return result;
      } finally {
        view = undefined;
      }
    },
  };
}
