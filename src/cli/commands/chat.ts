/*
 * `memento chat`: the REPL. Line editing and history come from node:readline; a line is a
 * turn unless it is a slash command (cli/slash-commands.ts). Ctrl-C cancels the running turn
 * (or clears the line), Ctrl-D or /quit leaves. A failed turn costs that turn, never the
 * session.
 */
import { createInterface } from 'node:readline';
import pc from 'picocolors';
import { defaultUser } from '../../config.ts';
import { USER_ID_PATTERN } from '../../protocol.ts';
import { telemetry } from '../../telemetry/handle.ts';
import { CliError, EXIT } from '../errors.ts';
import { HISTORY_SIZE, loadLineHistory, saveLine } from '../line-history.ts';
import { openSession } from '../open-session.ts';
import { footer, forPerson } from '../render.ts';
import { INVALID_USER, runSlashCommand, type ChatState } from '../slash-commands.ts';
import { showWaterfall } from '../waterfall.ts';

export interface ChatOptions {
  user?: string;
  traffic?: boolean;
  waterfall?: boolean;
}

export async function chat(opts: ChatOptions): Promise<number> {
  const user = opts.user ?? defaultUser();
  if (!USER_ID_PATTERN.test(user)) throw new CliError(INVALID_USER(user), EXIT.usage);
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  // The chat picks up where this user's kept conversation left off.
  const { session, turn } = await openSession({ traffic: opts.traffic, resume: true });

  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: interactive,
    history: interactive ? loadLineHistory() : [],
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
  });
  const state: ChatState = {
    session,
    user,
    users: new Set([user]),
    lastTrace: undefined,
    write: (text) => process.stdout.write(text),
    quit: () => rl.close(),
  };
  // Piped input can end (and readline close) while a turn is still running; the lines it
  // already read are still delivered, but the prompt must not be drawn on a closed interface.
  let closed = false;
  rl.once('close', () => (closed = true));
  const showPrompt = () => {
    if (closed) return;
    rl.setPrompt(interactive ? `${pc.bold(pc.cyan('memento'))} ${pc.dim(`(${state.user})`)}> ` : '');
    rl.prompt();
  };

  if (interactive) {
    const { provider, endpoint, deployment } = session.model.settings;
    const target =
      provider === 'simulator'
        ? 'the built-in simulator (no Azure settings found)'
        : `${provider === 'azure' ? 'Azure OpenAI' : endpoint} (${deployment})`;
    process.stdout.write(`${pc.bold('Memento')} — talking to ${target}, memories from ${session.mcp.describe()}.\n${pc.dim('/help for commands, Ctrl-D to leave.')}\n`);
  }

  let running: AbortController | undefined;
  const interrupt = () => {
    if (running) {
      running.abort();
    } else if (interactive) {
      rl.write(null, { ctrl: true, name: 'u' });
      process.stdout.write(`\n${pc.dim('(Ctrl-D or /quit to leave)')}\n`);
      showPrompt();
    } else {
      rl.close();
    }
  };
  rl.on('SIGINT', interrupt);
  process.on('SIGINT', interrupt);
  const onTerm = () => rl.close();
  process.once('SIGTERM', onTerm);

  try {
    showPrompt();
    for await (const raw of rl) {
      const line = raw.trim();
      if (interactive && line) saveLine(line);
      if (line.startsWith('/')) {
        await runSlashCommand(state, line);
      } else if (line) {
        running = new AbortController();
        const result = await turn(line, { user: state.user, signal: running.signal });
        running = undefined;
        if (result.cancelled) process.stdout.write(`${pc.yellow('cancelled')}\n`);
        else if (result.error) process.stdout.write(`${pc.red('error')}: ${forPerson(result.error.message)}\n`);
        if (result.traceId) state.lastTrace = result.traceId;
        process.stdout.write(`${footer(result, session.model.settings.provider)}\n`);
        if (opts.waterfall && result.traceId) await showWaterfall(result.traceId, { waitForServer: session.ownServer });
        // Said once, here between turns, where it cannot land on the prompt.
        const notice = telemetry().takeNotice();
        if (notice) process.stderr.write(`${pc.dim(`memento: ${notice}`)}\n`);
      }
      showPrompt();
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', onTerm);
    if (interactive) process.stdout.write('\n');
    await session.close();
  }
  return EXIT.ok;
}
